"""Graph convolution layers."""
from topogcn.nn.conv.partition_conv import PartitionGraphConv
from topogcn.nn.conv.sg_conv import SGConv

__all__ = ["SGConv", "PartitionGraphConv"]
