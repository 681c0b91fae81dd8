"""Edge indices over a skeleton template, as S-GC takes them."""
from typing import Optional

import torch
from torch import Tensor

from topogcn.utils.tracing import is_tracing


def complete_edge_index(num_nodes: int, device: torch.device) -> Tensor:
    """Every ordered pair of joints (self-loops included), ``[2, V * V]``,
    grouped by target."""
    idx = torch.arange(num_nodes, device=device)
    return torch.stack([idx.repeat(num_nodes), idx.repeat_interleave(num_nodes)], dim=0)


def check_edge_index(edge_index: Optional[Tensor], num_nodes: int, who: str) -> Optional[Tensor]:
    """``edge_index`` as ``long`` after checking its shape and that every
    index is a joint (a :class:`ValueError` names the first bad edge; the
    range is not checked under a tracer)."""
    if edge_index is None:
        return None
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or \
            edge_index.dtype not in (torch.long, torch.int):
        raise ValueError(f"{who}: edge_index must be an integer tensor of shape [2, E], got "
                         f"{edge_index.dtype} {list(edge_index.shape)}")
    edge_index = edge_index.long()
    if not is_tracing():
        bad = ((edge_index < 0) | (edge_index >= num_nodes)).any(dim=0)
        if bool(bad.any()):
            e = int(bad.nonzero()[0])
            raise ValueError(f"{who}: edge {e} ({int(edge_index[0, e])} -> "
                             f"{int(edge_index[1, e])}) has a joint index outside "
                             f"0..{num_nodes - 1} (num_nodes={num_nodes})")
    return edge_index


def sparse_adjacency(edge_index: Optional[Tensor], num_nodes: int,
                     device: torch.device) -> Tensor:
    """The transposed adjacency ``[target, source]`` (the complete graph for
    :obj:`None`) as a sparse tensor: what routes PyG's ``propagate`` to a
    layer's ``message_and_aggregate``.  Indices must have been checked."""
    if edge_index is None:
        edge_index = complete_edge_index(num_nodes, device)
    values = torch.ones(edge_index.size(1), device=device)
    return torch.sparse_coo_tensor(edge_index.flip(0), values, (num_nodes, num_nodes),
                                   check_invariants=False)


def node_major(t: Tensor, batched: bool) -> Tensor:
    """``[B, V, ...]`` as PyG's node-major ``[V, B, ...]`` (``[V, ...]`` for
    one graph, ``B = 1``)."""
    return t.transpose(0, 1) if batched else t[0]
