"""Graph convolution layers."""
from topogcn.nn.conv.sg_conv import SGConv

__all__ = ["SGConv"]
