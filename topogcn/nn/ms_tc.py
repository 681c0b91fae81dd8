"""Multi-scale temporal convolution (MS-TC)."""
from typing import Sequence

import torch
from torch import Tensor
from torch.nn import BatchNorm2d, Conv2d, MaxPool2d, Module, ModuleList, ReLU, Sequential

from topogcn.nn.init import conv_init



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
        if self.temporal_stride > 1:
            x = x[:, :, ::self.temporal_stride]
        return super().forward(x)

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
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 kaiming: bool = True, channels_last: bool = False) -> None:
        super().__init__()
        self.conv = TemporalPointwiseConv(in_channels, out_channels, stride)
        self.bn = BatchNorm2d(out_channels)
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
            return self.bn(self.conv(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        return self.bn(self.conv(x))


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
        c = out_channels // num_branches
        branches = []
        for d in self.dilations:
            pad = (kernel_size + (kernel_size - 1) * (d - 1) - 1) // 2
            branches.append(Sequential(
                Conv2d(in_channels, c, 1), BatchNorm2d(c), ReLU(inplace=True),
                Conv2d(c, c, (kernel_size, 1), stride=(stride, 1), padding=(pad, 0),
                       dilation=(d, 1)),
                BatchNorm2d(c)))
        if max_pool:
            branches.append(Sequential(
                Conv2d(in_channels, c, 1), BatchNorm2d(c), ReLU(inplace=True),
                MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)), BatchNorm2d(c)))
        if pointwise:
            branches.append(Sequential(
                TemporalPointwiseConv(in_channels, c, stride), BatchNorm2d(c)))
        self.branches = ModuleList(branches)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = torch.nn.Identity()
        else:
            self.residual = PointwiseBN(in_channels, out_channels, stride, kaiming=False)
        self.activation = activation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation of every convolution and batch
        norm, as the reference MS-TC (which sets none of its own)."""
        for m in self.modules():
            if isinstance(m, (Conv2d, BatchNorm2d)):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 3, 1, 2)  # (N, C, T, V), channels_last in memory
        out = torch.cat([branch(x) for branch in self.branches], dim=1)
        if self.residual is not None:
            out = out + self.residual(x)
        if self.activation:
            out = out.relu_()  # `out` is a fresh cat/sum
        return out.permute(0, 2, 3, 1)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilations={list(self.dilations)}, branches={len(self.branches)})")
