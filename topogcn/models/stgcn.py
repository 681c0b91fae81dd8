"""The ST-GCN baseline of the paper's Table 2."""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Conv2d, Dropout, Linear, Module, ModuleList, ReLU

from topogcn.models.interface import check_input
from topogcn.nn import PartitionGraphConv
from topogcn.nn.block import residual_path
from topogcn.nn.init import conv_init
from topogcn.nn.norm import ChannelsLastBatchNorm
from topogcn.skeleton import Skeleton, get_skeleton

STGCN_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
STGCN_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


class STGCNBlock(Module):
    r"""ST-GCN unit: partitioned graph convolution, BN, ReLU, a
    ``kernel_size`` :math:`\times 1` temporal convolution, BN, dropout, plus
    the residual, ReLU.  Channels-last :math:`(N, T, V, C)`."""

    def __init__(self, in_channels: int, out_channels: int, partition: Tensor,
                 stride: int = 1, kernel_size: int = 9, dropout: float = 0.0,
                 residual: bool = True) -> None:
        super().__init__()
        self.gcn = PartitionGraphConv(in_channels, out_channels, partition)
        self.bn1 = ChannelsLastBatchNorm(out_channels)
        self.tcn = Conv2d(out_channels, out_channels, (kernel_size, 1), stride=(stride, 1),
                          padding=((kernel_size - 1) // 2, 0))
        conv_init(self.tcn)
        self.bn2 = torch.nn.BatchNorm2d(out_channels)
        self.dropout = Dropout(dropout)
        self.residual = residual_path(in_channels, out_channels, stride, residual)
        self.relu = ReLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu(self.bn1(self.gcn(x)))
        h = self.bn2(self.tcn(h.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        h = self.dropout(h)
        if self.residual is not None:
            h = h + self.residual(x)
        return self.relu(h)


class STGCN(Module):
    r"""ST-GCN (Yan, Xiong, Lin, AAAI 2018), the classic spatial-temporal
    graph convolutional network, on any skeleton: data batch norm, ten
    :class:`STGCNBlock` units (64, 64, 64, 64, 128/2, 128, 128, 256/2, 256,
    256) with the spatial partition strategy (self, centripetal,
    centrifugal w.r.t. the skeleton's centre) and learnable edge importance,
    global average pooling and a linear classifier.

    A plain classifier (:class:`~topogcn.models.interface.SkeletonModel`,
    no latent head): the engine trains it with the label-smoothed
    cross-entropy alone, as the ST-GCN paper does, and analysis uses its
    pooled ``features``.

    Args:
        num_classes (int): Number of classes.
        skeleton (Skeleton or str): The skeleton or its name/file.
        in_channels (int, optional): Channels per joint. (default: :obj:`3`)
        num_person (int, optional): Persons per sample. (default: :obj:`2`)
        channels (sequence of int, optional): Block widths.
        strides (sequence of int, optional): Block temporal strides.
        kernel_size (int, optional): Temporal kernel. (default: :obj:`9`)
        dropout (float, optional): Dropout in the blocks. (default: :obj:`0.`)

    Shapes:
        - **input:** :math:`(N, M, T, V, C)`
        - **output:** logits :math:`(N, \text{num_classes})`
    """

    def __init__(self, num_classes: int, skeleton: Union[Skeleton, str], in_channels: int = 3,
                 num_person: int = 2, channels: Sequence[int] = STGCN_CHANNELS,
                 strides: Sequence[int] = STGCN_STRIDES, kernel_size: int = 9,
                 dropout: float = 0.0) -> None:
        super().__init__()
        skeleton = get_skeleton(skeleton)
        self.skeleton, self.num_classes = skeleton, num_classes
        self.in_channels, self.num_person = in_channels, num_person
        self.num_nodes = V = skeleton.num_nodes
        partition = skeleton.spatial_partition(normalize=True)
        self.data_bn = BatchNorm1d(num_person * V * in_channels)
        blocks, c_in = [], in_channels
        for i, (c, s) in enumerate(zip(channels, strides)):
            blocks.append(STGCNBlock(c_in, c, partition, stride=s, kernel_size=kernel_size,
                                     dropout=dropout, residual=i > 0))
            c_in = c
        self.blocks = ModuleList(blocks)
        self.feature_dim = c_in
        self.classifier = Linear(c_in, num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x, self.num_nodes, self.in_channels, type(self).__name__)
        N, M, T, V, C = x.shape
        if M != self.num_person:
            raise ValueError(f"STGCN: expected {self.num_person} persons (dim 1), got input of "
                             f"shape {list(x.shape)}")
        h = x.permute(0, 1, 3, 4, 2).reshape(N, M * V * C, T)
        h = self.data_bn(h).view(N, M, V, C, T).permute(0, 1, 4, 2, 3).reshape(N * M, T, V, C)
        for block in self.blocks:
            h = block(h)
        return h.mean(dim=(1, 2)).view(N, M, -1).mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"skeleton='{self.skeleton.name}', num_person={self.num_person}, "
                f"blocks={len(self.blocks)})")
