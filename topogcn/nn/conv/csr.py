"""What topogcn's message-passing layers share: edges sorted by target,
sums as CSR segment reductions, and PyG edge masks (explainability) applied
in the caller's edge order."""
from typing import Optional

from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import segment


class CSRMessagePassing(MessagePassing):
    """A :class:`~torch_geometric.nn.conv.MessagePassing` layer whose
    messages come in an internal order (edges sorted by target, so that the
    sum is a CSR segment reduction).  Subclasses pass ``csr_ptr`` to
    :meth:`propagate` and set :attr:`edge_order` to the permutation from the
    caller's edges to the internal order (:obj:`None`: the same order), so
    that an edge mask set by :mod:`torch_geometric.explain` (one entry per
    caller edge) weighs the right messages."""

    #: caller edge index of every internal edge, or None for the same order
    edge_order: Optional[Tensor] = None

    _MP_HOOKS = ("_propagate_forward_pre_hooks", "_propagate_forward_hooks",
                 "_message_forward_pre_hooks", "_message_forward_hooks",
                 "_aggregate_forward_pre_hooks", "_aggregate_forward_hooks")

    @property
    def needs_message_passing(self) -> bool:
        """Whether an edge mask (explain) or a message-passing hook
        (``register_message_forward_hook``, ...) is set: then a layer with a
        faster dense path must run :meth:`propagate`, so that they see every
        message."""
        return bool(self.explain) or any(getattr(self, h, None) for h in self._MP_HOOKS)

    def aggregate(self, inputs: Tensor, index: Tensor, csr_ptr: Tensor,
                  dim_size: Optional[int] = None) -> Tensor:
        return segment(inputs, csr_ptr, reduce="sum")

    def explain_message(self, inputs: Tensor, dim_size: Optional[int]) -> Tensor:
        mask = self._edge_mask
        if mask is None:
            raise ValueError(f"{type(self).__name__}: explaining without an edge mask (set "
                             f"one with torch_geometric.explain.algorithm.utils.set_masks)")
        if mask.numel() != inputs.size(self.node_dim):
            raise ValueError(f"{type(self).__name__}: the edge mask has {mask.numel()} "
                             f"entries for {inputs.size(self.node_dim)} edges")
        if self._apply_sigmoid:
            mask = mask.sigmoid()
        if self.edge_order is not None:
            mask = mask.index_select(0, self.edge_order)
        shape = [1] * inputs.dim()
        shape[self.node_dim] = -1
        return inputs * mask.view(shape)
