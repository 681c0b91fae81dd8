r"""PyG's :class:`~torch_geometric.explain.algorithm.AttentionExplainer` on a
skeleton model whose S-GC attends over every frame.

On a plain graph (``x: [num_nodes, C]``) a stack of
:class:`~topogcn.nn.SGConv` layers needs no adapter: each layer's
:meth:`~topogcn.nn.SGConv.message` receives ``alpha`` ``[E, M]`` and the
explainer reads it.  A GE-CN attends once per sample, person and frame
(``alpha`` ``[N * persons, T, E, M]``), which the explainer cannot reduce;
:class:`FrameAveragedAttention` averages every block's attention over
samples, persons and frames to ``[E, M]`` (what
:func:`~topogcn.analysis.mean_attention` reports) and hands each block's
average to the explainer, which then reduces over heads and blocks with its
own ``reduce``::

    from torch_geometric.explain import AttentionExplainer, Explainer

    wrapped = FrameAveragedAttention(model).eval()
    explainer = Explainer(wrapped, algorithm=AttentionExplainer(),
                          explanation_type="model", edge_mask_type="object",
                          model_config=dict(mode="multiclass_classification",
                                            task_level="graph", return_type="raw"))
    explanation = explainer(clip, wrapped.edge_index)  # clip [1, M, T, V, C]
    explanation.edge_mask  # [E]: one weight per edge of wrapped.edge_index
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing

from topogcn.nn.graph import complete_edge_index


class _BlockAttention(MessagePassing):
    """Passes one block's frame-averaged attention ``[E, M]`` through
    :meth:`propagate` as ``alpha``, where the explainer's hook reads it."""

    def forward(self, edge_index: Tensor, alpha: Tensor, num_nodes: int) -> Tensor:
        return self.propagate(edge_index, alpha=alpha, size=(num_nodes, num_nodes))

    def message(self, alpha: Tensor) -> Tensor:
        return alpha


class FrameAveragedAttention(torch.nn.Module):
    """``model`` (anything with ``attention_maps(x)``, such as
    :class:`~topogcn.models.GECN`) for
    :class:`~torch_geometric.explain.Explainer`: ``forward(x, edge_index)``
    returns the model's logits, and the explainer sees every block's
    attention averaged over samples, persons and frames.  ``edge_index`` must
    be the model's graph (:attr:`edge_index`): the explanation's
    ``edge_mask`` is one weight per edge in that order.

    The model is held outside the module tree, so that the explainer hooks
    only the averaged attention, not every frame's; ``train``/``eval`` on the
    adapter switch the model too.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        if not callable(getattr(model, "attention_maps", None)):
            raise TypeError(f"FrameAveragedAttention: {type(model).__name__} has no "
                            f"attention_maps(x) (S-GC attention to explain)")
        object.__setattr__(self, "model", model)  # not a submodule: see the class note
        self.blocks = _BlockAttention(aggr="add", node_dim=0)
        self.train(model.training)

    @property
    def edge_index(self) -> Tensor:
        """The edges the model's S-GC attends over (``[2, E]``, source first;
        every ordered pair for the complete graph)."""
        edge_index = getattr(self.model, "edge_index", None)
        if edge_index is None:
            edge_index = complete_edge_index(self.model.num_nodes, torch.device("cpu"))
        return edge_index

    def train(self, mode: bool = True) -> "FrameAveragedAttention":
        self.model.train(mode)
        return super().train(mode)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        expected = self.edge_index.to(edge_index.device)
        if edge_index.shape != expected.shape or not torch.equal(edge_index, expected):
            raise ValueError(f"FrameAveragedAttention: edge_index must be the model's graph "
                             f"(adapter.edge_index, {expected.size(1)} edges), got "
                             f"{list(edge_index.shape)}")
        for block_edges, alpha in self.model.attention_maps(x):  # alpha [N*M, T, E, H]
            self.blocks(block_edges, alpha.mean(dim=(0, 1)), self.model.num_nodes)
        return self.model(x)
