"""Multi-scale temporal convolution (MS-TC)."""
import math
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch.nn import BatchNorm2d, Conv2d, MaxPool2d, Module, ModuleList, init

from topogcn.nn.init import conv_init
from topogcn.nn.norm import AccurateBatchNorm2d, batch_norm_affine, fold_batch_norm


class _EveryNthFrame(torch.autograd.Function):
    """``x[:, :, ::stride]`` whose gradient has ``x``'s memory layout.

    Autograd's own slice backward writes the gradient into a zero-filled
    tensor in the default (``N, C, T, V``-contiguous) layout; in a
    channels-last network that gradient then meets channels-last ones in
    every sum, ReLU and batch-norm backward upstream, and mixed layouts take
    the slow element-by-element paths, several times slower than the
    same-layout ones.
    """

    @staticmethod
    def forward(ctx, x: Tensor, stride: int) -> Tensor:
        ctx.shape, ctx.stride = x.shape, stride
        ctx.channels_last = (x.dim() == 4 and not x.is_contiguous()
                             and x.is_contiguous(memory_format=torch.channels_last))
        return x[:, :, ::stride]

    @staticmethod
    def backward(ctx, grad: Tensor):
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        out = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device,
                          memory_format=fmt).zero_()
        out[:, :, ::ctx.stride] = grad
        return out, None


def every_nth_frame(x: Tensor, stride: int) -> Tensor:
    """Every ``stride``-th frame of ``x`` :math:`(N, C, T, V)` (a view);
    its gradient keeps ``x``'s memory layout (channels-last stays
    channels-last)."""
    if stride == 1:
        return x
    if not torch.is_grad_enabled() or not x.requires_grad:
        return x[:, :, ::stride]
    return _EveryNthFrame.apply(x, stride)


class TemporalPointwiseConv(Conv2d):
    r"""A :math:`1 \times 1` convolution with a temporal stride, computed as
    "keep every ``stride``-th frame, then a stride-1 :math:`1 \times 1`
    convolution" (the same numbers as ``Conv2d(..., 1, stride=(stride, 1))``
    with ``stride`` times fewer multiply-adds).

    It also avoids a memory-corruption crash in the backward pass of strided
    :math:`1 \times 1` convolutions on ``channels_last`` CPU inputs with
    more than about 100 joints in torch 2.13 (found on ``openpose137``).

    Shapes:
        - **input:** :math:`(N, C_{in}, T, V)`
        - **output:** :math:`(N, C_{out}, \lceil T / \mathrm{stride} \rceil, V)`
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, 1)
        self.temporal_stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(every_nth_frame(x, self.temporal_stride))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", temporal_stride={self.temporal_stride}"


class PointwiseBN(Module):
    r"""A :math:`1 \times 1` convolution with a temporal stride
    (:class:`TemporalPointwiseConv`) and batch norm: the residual paths of
    MS-TC and of the encoder block, and S-GC's ``down``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int, optional): Temporal stride. (default: :obj:`1`)
        kaiming (bool, optional): Kaiming-normal (fan-out) weights and zero
            bias, as the reference's block residual and ``down``;
            :obj:`False`: PyTorch's defaults, as the reference MS-TC.
            (default: :obj:`True`)
        channels_last (bool, optional): Input and output
            :math:`(N, T, V, C)` instead of :math:`(N, C, T, V)`.
            (default: :obj:`False`)

    :meth:`fuse_` folds the batch norm into the convolution (inference).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 kaiming: bool = True, channels_last: bool = False) -> None:
        super().__init__()
        self.conv = TemporalPointwiseConv(in_channels, out_channels, stride)
        self.bn = AccurateBatchNorm2d(out_channels)
        self.kaiming, self.channels_last = kaiming, channels_last
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.kaiming:
            conv_init(self.conv)
        else:
            self.conv.reset_parameters()
        self.bn.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        out = self.conv(x)
        if self.bn is not None:
            out = self.bn(out)
        return out.permute(0, 2, 3, 1) if self.channels_last else out

    @torch.no_grad()
    def fuse_(self) -> None:
        """For inference (see :func:`topogcn.nn.fuse`): the batch norm folded
        into the convolution."""
        if self.bn is None or self.bn.training or not self.bn.track_running_stats:
            return
        _fold_into(self.conv, self.bn)
        self.bn = None


class MultiScaleTemporalConv(Module):
    r"""Multi-scale temporal convolution of MS-G3D, used by InfoGCN and so by
    GE-CN after every S-GC layer.

    Parallel branches, each with :math:`C_{out} / B` channels, concatenated:

    * one branch per entry of ``dilations``: :math:`1 \times 1` convolution,
      BN, ReLU, then a ``kernel_size`` :math:`\times 1` temporal
      convolution with that dilation (and the stride), BN;
    * a max-pool branch: :math:`1 \times 1` convolution, BN, ReLU,
      :math:`3 \times 1` temporal max-pooling (with the stride), BN;
    * a :math:`1 \times 1` branch with the stride, BN;

    then the residual (if any) and a ReLU.  The default (two dilated
    :math:`5 \times 1` branches with dilations 1 and 2, the max-pool and
    the :math:`1 \times 1` branch: four branches) is the reference code's.
    The GE-CN paper's text mentions "three parallel branches with various
    kernel sizes"; its stated reference, InfoGCN, has these four, which we
    follow.  Other branch sets are one argument away.

    The branches are computed fused, with the reference's numbers: the
    :math:`1 \times 1` convolutions that open the ReLU branches are one
    convolution (``expand``, :math:`C_{in} \rightarrow` their channels
    together) with one batch norm (``expand_bn``), and the batch norms that
    close every branch are one batch norm over the concatenated output
    (``out_bn``); batch norm is per channel, so this is the same function
    with the same parameters, in two wide operations instead of seven narrow
    ones.  For inference, :meth:`fuse_` folds every batch norm that follows a
    convolution into it (:math:`\gamma W / \sigma` and
    :math:`\gamma (b - \mu) / \sigma + \beta`; the max-pool branch keeps its
    affine map).

    The tensor stays channels-last: :math:`(N, T, V, C)` is viewed as
    :math:`(N, C, T, V)` in ``channels_last`` memory format, which the
    convolutions take without a copy.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (divisible by the number of
            branches).
        kernel_size (int, optional): Temporal kernel of the dilated
            branches. (default: :obj:`5`)
        stride (int, optional): Temporal stride. (default: :obj:`1`)
        dilations (sequence of int, optional): One dilated branch each.
            (default: :obj:`(1, 2)`)
        max_pool (bool, optional): Add the max-pool branch.
            (default: :obj:`True`)
        pointwise (bool, optional): Add the :math:`1 \times 1` branch.
            (default: :obj:`True`)
        residual (bool, optional): Add a residual connection (identity, or a
            strided :math:`1 \times 1` convolution and BN when the shape
            changes).  GE-CN's encoder block has its own residual and uses
            :obj:`False`. (default: :obj:`False`)
        activation (bool, optional): Apply a ReLU to the output, as the
            reference does. (default: :obj:`True`)

    Shapes:
        - **input:** :math:`(N, T, V, C_{in})`
        - **output:** :math:`(N, \lceil T / \mathrm{stride} \rceil, V, C_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5,
                 stride: int = 1, dilations: Sequence[int] = (1, 2), max_pool: bool = True,
                 pointwise: bool = True, residual: bool = False,
                 activation: bool = True) -> None:
        super().__init__()
        num_branches = len(dilations) + int(max_pool) + int(pointwise)
        if num_branches == 0:
            raise ValueError("MultiScaleTemporalConv: no branch selected")
        if out_channels % num_branches:
            raise ValueError(
                f"MultiScaleTemporalConv: out_channels={out_channels} is not divisible by "
                f"the number of branches ({num_branches})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilations = kernel_size, stride, tuple(dilations)
        self.max_pool, self.pointwise = max_pool, pointwise
        self.num_branches = num_branches
        self.branch_channels = c = out_channels // num_branches
        #: branches opened by the fused 1x1 convolution, BN and ReLU
        self.num_expanded = num_expanded = len(self.dilations) + int(max_pool)
        if num_expanded:
            self.expand = Conv2d(in_channels, num_expanded * c, 1)
            self.expand_bn = AccurateBatchNorm2d(num_expanded * c)
        else:
            self.register_module("expand", None)
            self.register_module("expand_bn", None)
        self.temporal = ModuleList(
            Conv2d(c, c, (kernel_size, 1), stride=(stride, 1),
                   padding=((kernel_size + (kernel_size - 1) * (d - 1) - 1) // 2, 0),
                   dilation=(d, 1))
            for d in self.dilations)
        self.pool = MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)) if max_pool else None
        self.pointwise_conv = TemporalPointwiseConv(in_channels, c, stride) if pointwise else None
        self.out_bn = AccurateBatchNorm2d(out_channels)  # the BN that closes every branch
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = torch.nn.Identity()
        else:
            self.residual = PointwiseBN(in_channels, out_channels, stride, kaiming=False)
        self.activation = activation
        self.register_buffer("pool_affine", None)  # [scale, shift], set by fuse_
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation of every convolution and batch
        norm, as the reference MS-TC (which sets none of its own).  Each
        branch's slice of the fused ``expand`` convolution is drawn as that
        branch's own :math:`1 \times 1` convolution (the same fan-in), in
        the reference's order, branch by branch: a seed gives the weights
        the unfused layout gave."""
        c = self.branch_channels
        for i in range(self.num_expanded):
            rows = slice(i * c, (i + 1) * c)
            init.kaiming_uniform_(self.expand.weight[rows], a=math.sqrt(5))  # Conv2d's rule
            bound = 1 / math.sqrt(self.in_channels)
            init.uniform_(self.expand.bias[rows], -bound, bound)
            if i < len(self.temporal):
                self.temporal[i].reset_parameters()
        if self.pointwise_conv is not None:
            self.pointwise_conv.reset_parameters()
        for m in (self.expand_bn, self.out_bn):
            if m is not None:
                m.reset_parameters()
        if self.residual is not None:
            for m in self.residual.modules():
                if isinstance(m, (Conv2d, BatchNorm2d)):
                    m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 3, 1, 2)  # (N, C, T, V), channels_last in memory
        outs = []
        if self.expand is not None:
            y = self.expand(x)
            y = (y if self.expand_bn is None else self.expand_bn(y)).relu_()
            # one split (its backward is one concatenation) rather than a slice
            # per branch (each slice's backward is a zero-filled full-size gradient)
            parts = y.split(self.branch_channels, dim=1)
            outs = [conv(part) for conv, part in zip(self.temporal, parts)]
            if self.pool is not None:
                part = self.pool(parts[len(self.temporal)])
                if self.pool_affine is not None:  # the pool branch's folded batch norm
                    scale, shift = self.pool_affine
                    part = torch.addcmul(shift.view(-1, 1, 1), part, scale.view(-1, 1, 1))
                outs.append(part)
        if self.pointwise_conv is not None:
            outs.append(self.pointwise_conv(x))
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        if self.out_bn is not None:
            out = self.out_bn(out)
        if self.residual is not None:
            out = out + self.residual(x)
        if self.activation:
            out = out.relu_()  # `out` is a fresh cat/sum
        return out.permute(0, 2, 3, 1)

    @torch.no_grad()
    def fuse_(self) -> None:
        """For inference (see :func:`topogcn.nn.fuse`): ``expand_bn`` folded
        into ``expand``, each branch's slice of ``out_bn`` into the
        convolution that ends the branch (the max-pool branch keeps it as an
        affine map, ``pool_affine``)."""
        bn, c = self.out_bn, self.branch_channels
        if bn is None or bn.training or not bn.track_running_stats:
            return
        if self.expand is not None:
            _fold_into(self.expand, self.expand_bn)
            self.expand_bn = None
        for i, conv in enumerate(self.temporal):
            _fold_into(conv, bn, i * c, c)
        if self.pool is not None:
            scale, shift = batch_norm_affine(bn, len(self.temporal) * c, c)
            self.register_buffer("pool_affine", torch.stack([scale, shift]))
        if self.pointwise_conv is not None:
            _fold_into(self.pointwise_conv, bn, self.out_channels - c, c)
        self.out_bn = None

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilations={list(self.dilations)}, branches={self.num_branches})")


def _fold_into(conv: Conv2d, bn: BatchNorm2d, start: int = 0, length: Optional[int] = None) -> None:
    """Folds channels ``start`` to ``start + length`` of the evaluation-mode
    ``bn`` into ``conv``'s weight and bias, in place."""
    weight, bias = fold_batch_norm(conv.weight, conv.bias, bn, start, length)
    conv.weight.copy_(weight)
    if conv.bias is None:
        conv.bias = torch.nn.Parameter(bias, requires_grad=False)
    else:
        conv.bias.copy_(bias)
