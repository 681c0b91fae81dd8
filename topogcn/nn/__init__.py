"""Graph and temporal layers for skeleton sequences.

All layers take channels-last tensors: joints on dimension -2, channels on
dimension -1 (``[N, T, V, C]`` for sequences).
"""
from topogcn.nn.block import EncoderBlock
from topogcn.nn.conv import PartitionGraphConv, SGConv
from topogcn.nn.embedding import JointEmbedding
from topogcn.nn.fuse import fuse
from topogcn.nn.ms_tc import MultiScaleTemporalConv, TemporalPointwiseConv

__all__ = [
    "SGConv",
    "PartitionGraphConv",
    "MultiScaleTemporalConv",
    "TemporalPointwiseConv",
    "JointEmbedding",
    "EncoderBlock",
    "fuse",
]
