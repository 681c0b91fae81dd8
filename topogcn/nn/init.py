"""Initialisation rules shared by topogcn's layers."""
from torch.nn import Conv2d, init


def conv_init(conv: Conv2d) -> None:
    """Kaiming-normal weights (fan-out, as the reference code) and zero
    bias."""
    init.kaiming_normal_(conv.weight, mode="fan_out")
    if conv.bias is not None:
        init.zeros_(conv.bias)
