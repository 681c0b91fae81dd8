"""Initialisation rules shared by topogcn's layers."""
from typing import Union

import torch
from torch import Tensor
from torch.nn import Conv2d
from torch.nn import init as nn_init


def conv_init(conv: Conv2d) -> None:
    """Kaiming-normal weights (fan-out, as the reference code) and zero
    bias."""
    nn_init.kaiming_normal_(conv.weight, mode="fan_out")
    if conv.bias is not None:
        nn_init.zeros_(conv.bias)


def initial_topology(init: Union[str, Tensor], heads: int, num_nodes: int) -> Tensor:
    """S-GC's initial topology ``[heads, V, V]``: ``"identity"`` (the
    reference's), ``"ones"``, ``"zeros"``, or a ``[V, V]`` or ``[heads, V,
    V]`` tensor (e.g. a normalised adjacency)."""
    H, V = heads, num_nodes
    if isinstance(init, Tensor):
        if init.shape not in ((V, V), (H, V, V)):
            raise ValueError(f"SGConv: topology_init tensor must have shape [{V}, {V}] "
                             f"or [{H}, {V}, {V}], got {list(init.shape)}")
        return init.detach().float().expand(H, V, V).clone()
    if init == "adjacency":
        raise ValueError("SGConv: topology_init='adjacency' needs an adjacency tensor")
    return {"identity": torch.eye(V).expand(H, V, V), "ones": torch.ones(H, V, V),
            "zeros": torch.zeros(H, V, V)}[init].clone()
