"""The GE-CN encoder block: S-GC followed by MS-TC."""
from typing import Optional, Sequence

import torch
import torch.utils.checkpoint
from torch import Tensor
from torch.nn import Module, ReLU
from torch.nn.modules.batchnorm import _BatchNorm

from topogcn.nn.conv import SGConv
from topogcn.nn.ms_tc import MultiScaleTemporalConv, PointwiseBN
from topogcn.nn.norm import ChannelsLastBatchNorm, batch_norm_affine


def residual_path(in_channels: int, out_channels: int, stride: int = 1,
                  enabled: bool = True) -> Optional[Module]:
    """A block's residual: :obj:`None` when disabled, the identity when the
    shape is unchanged, else a strided 1x1 convolution with BN."""
    if not enabled:
        return None
    if in_channels == out_channels and stride == 1:
        return torch.nn.Identity()
    return PointwiseBN(in_channels, out_channels, stride, kaiming=True, channels_last=True)


class EncoderBlock(Module):
    r"""One encoder block of GE-CN (and InfoGCN):

    .. math::
        h &= \mathrm{ReLU}\big(\mathrm{BN}(\text{S-GC}(x)) + \mathrm{down}(x)\big) \\
        y &= \mathrm{ReLU}\big(\text{MS-TC}(h) + \mathrm{res}(x)\big)

    where :math:`\mathrm{down}` and :math:`\mathrm{res}` are the identity
    when the shape is unchanged and a (strided) :math:`1 \times 1`
    convolution with BN otherwise.  The BN after S-GC starts with a scale of
    ``1e-6`` as in the reference, so a fresh block is close to its residual
    path.  The S-GC runs on the frames of every sample at once, over the
    template graph (no disjoint union).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_nodes (int): Number of joints :math:`V`.
        stride (int, optional): Temporal stride of MS-TC. (default: :obj:`1`)
        residual (bool, optional): Use the block residual :math:`\mathrm{res}`.
            (default: :obj:`True`)
        heads (int, optional): S-GC heads. (default: :obj:`3`)
        attention (bool, optional): S-GC self-attention. (default: :obj:`True`)
        kernel_size (int, optional): MS-TC kernel. (default: :obj:`5`)
        dilations (sequence of int, optional): MS-TC dilations.
            (default: :obj:`(1, 2)`)
        checkpoint (bool, optional): Activation checkpointing while
            training: S-GC recomputes its attention maps and MS-TC its
            branches in backward instead of storing them (batch-norm
            statistics are updated once).  Same results, less memory, about
            one more forward of those parts per step. (default: :obj:`False`)
        **conv_kwargs (optional): Further arguments of :class:`SGConv`
            (``topology_init``, ``backend``, ``head_channels``, ...).

    Shapes:
        - **input:** :math:`(N, T, V, C_{in})` and edge indices :math:`(2, E)`
          or :obj:`None` (complete graph)
        - **output:** :math:`(N, \lceil T / \mathrm{stride} \rceil, V, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, num_nodes: int,
                 stride: int = 1, residual: bool = True, heads: int = 3,
                 attention: bool = True, kernel_size: int = 5,
                 dilations: Sequence[int] = (1, 2), checkpoint: bool = False,
                 **conv_kwargs) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.checkpoint = checkpoint
        self.gcn = SGConv(in_channels, out_channels, num_nodes, heads=heads,
                          attention=attention, checkpoint=checkpoint, **conv_kwargs)
        self.gcn_norm = ChannelsLastBatchNorm(out_channels, weight_init=1e-6)
        self.down = residual_path(in_channels, out_channels)
        self.tcn = MultiScaleTemporalConv(out_channels, out_channels, kernel_size=kernel_size,
                                          stride=stride, dilations=dilations)
        self.residual = residual_path(in_channels, out_channels, stride, residual)
        self.relu = ReLU()
        #: add the residuals in place (set by :meth:`fuse_`: inference only)
        self.inplace = False

    def reset_parameters(self) -> None:
        """Every part initialises itself: S-GC (its reference rules), the BN
        after it at scale ``1e-6``, ``down`` and the residual (Kaiming
        fan-out), MS-TC (PyTorch's defaults, as the reference)."""
        self.gcn.reset_parameters()
        self.gcn_norm.reset_parameters()
        self.tcn.reset_parameters()
        for path in (self.down, self.residual):
            if path is not None and hasattr(path, "reset_parameters"):
                path.reset_parameters()

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None,
                return_attention_weights: bool = False):
        out = self.gcn(x, edge_index, return_attention_weights=return_attention_weights)
        if return_attention_weights:
            out, att = out
        h = self.gcn_norm(out)  # a fresh tensor (S-GC's own output once fused)
        h = (h.add_(self.down(x)) if self.inplace else h + self.down(x)).relu_()
        if self.checkpoint and self.training and torch.is_grad_enabled():
            y = _recomputed(self.tcn, h)
        else:
            y = self.tcn(h)  # a fresh tensor
        if self.residual is not None:
            y = (y.add_(self.residual(x)) if self.inplace else y + self.residual(x)).relu_()
        else:
            y = self.relu(y)
        return (y, att) if return_attention_weights else y

    @torch.no_grad()
    def fuse_(self) -> None:
        """For inference (see :func:`topogcn.nn.fuse`): the batch norm after
        S-GC folded into its per-head weights and bias (S-GC is linear in
        them), the residuals added in place."""
        norm = self.gcn_norm
        if not isinstance(norm, _BatchNorm) or norm.training or not norm.track_running_stats:
            return  # fused already, or statistics of the batch
        scale, shift = batch_norm_affine(self.gcn_norm)
        gcn = self.gcn
        gcn.weight.mul_(scale)
        bias = shift if gcn.bias is None else torch.addcmul(shift, gcn.bias, scale)
        gcn.bias = torch.nn.Parameter(bias, requires_grad=False)
        self.gcn_norm = torch.nn.Identity()
        self.inplace = True

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"stride={self.stride}, gcn={self.gcn!r})")


def _recomputed(module: Module, x: Tensor) -> Tensor:
    """``module(x)`` under activation checkpointing; the recomputation in
    backward leaves the batch norms' running statistics as the first
    forward set them."""
    calls = []

    def run(inp: Tensor) -> Tensor:
        calls.append(None)
        if len(calls) == 1:
            return module(inp)
        with _FrozenStatistics(module):
            return module(inp)

    return torch.utils.checkpoint.checkpoint(run, x, use_reentrant=False)


class _FrozenStatistics:
    """Batch norms of a module run with momentum 0 (running statistics
    unchanged) and keep their ``num_batches_tracked``."""

    def __init__(self, module: Module) -> None:
        self.norms = [m for m in module.modules()
                      if isinstance(m, _BatchNorm) and m.track_running_stats]

    def __enter__(self):
        self.saved = [(m.momentum, m.num_batches_tracked.clone()) for m in self.norms]
        for m in self.norms:
            m.momentum = 0.0
        return self

    def __exit__(self, *exc) -> None:
        for m, (momentum, tracked) in zip(self.norms, self.saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)
