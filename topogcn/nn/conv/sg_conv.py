import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import LayerNorm, Linear, Parameter
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import softmax

from topogcn.nn.functional.sgc import dense_sgc, edge_counts, project_queries_keys
from topogcn.nn.graph import (check_edge_index, complete_edge_index, node_major,
                               sparse_adjacency)
from topogcn.nn.init import initial_topology
from topogcn.utils.tracing import is_tracing

BACKENDS = ("auto", "dense", "sparse")
TOPOLOGY_INITS = ("identity", "ones", "adjacency", "zeros")


class SGConv(MessagePassing):
    r"""The self-attention graph convolution (S-GC) of GE-CN, from the
    `"Representation Learning for Topology-adaptive Micro-gesture Recognition
    and Analysis" <https://ceur-ws.org/Vol-3522/>`_ paper (eq. 3-5), the
    formulation of InfoGCN's SA-GC, as a message-passing layer on any
    skeleton graph:

    .. math::
        \alpha^{m}_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i)}
        \left( \frac{\left(\mathrm{LN}(\psi_i) \mathbf{W}_Q^m\right)^{\top}
        \mathrm{LN}(\psi_j) \mathbf{W}_K^m}{\sqrt{D'}} \right)

    .. math::
        \psi_i' = \sum_{m=1}^{M} \sum_{j \in \mathcal{N}(i)}
        \ddot{A}^{m}_{ij} \, \alpha^{m}_{ij} \, \psi_j \mathbf{W}^{m}
        + \mathbf{b}

    with :math:`\ddot{A}^m \in \mathbb{R}^{V \times V}` the learnable topology
    shared by every frame (one per head) and :math:`\mathrm{LN}` a layer norm.
    On the complete graph (``edge_index=None``) this is the paper's S-GC; on
    a skeleton's bones or :math:`k`-hop neighbourhood it is attention
    constrained to them.  ``attention=False`` sets :math:`\alpha = 1`.
    Every frame shares the template graph: the leading dimensions of ``x``
    are batched over.  A duplicated edge counts twice.

    The equations are :meth:`edge_update` (:math:`\alpha`) and
    :meth:`message`.  On dense graphs (``backend="dense"``, or ``"auto"``
    with :math:`V \leq 32` or :math:`E \geq` ``dense_threshold``
    :math:`\cdot V^2`) :meth:`propagate` runs them as one kernel on
    :math:`V \times V` maps, :meth:`message_and_aggregate`
    (:func:`topogcn.nn.functional.dense_sgc`, the same numbers in float64
    to rounding).  An edge mask (:mod:`torch_geometric.explain`) or a
    message hook switches the layer to the per-edge path, so that they see
    every message, in the caller's edge order.

    Not PyG's :class:`torch_geometric.nn.conv.SGConv` (the simplified GCN).

    Args:
        in_channels (int): Size :math:`C_{in}` of each input joint feature.
        out_channels (int): Size :math:`C_{out}` of each output joint feature.
        num_nodes (int): Number of joints :math:`V` of the skeleton template.
        heads (int, optional): Number of heads :math:`M`. (default: :obj:`3`)
        head_channels (int, optional): Size :math:`D'` of queries and keys.
            (default: :obj:`max(1, in_channels // 8)`, as the reference)
        attention (bool, optional): If :obj:`False`, drop :math:`\alpha` and
            its parameters. (default: :obj:`True`)
        topology_init (str or Tensor, optional): Initial :math:`\ddot{A}`:
            :obj:`"identity"` (the reference's), :obj:`"ones"`,
            :obj:`"zeros"`, or a :math:`[V, V]` or :math:`[M, V, V]` tensor.
            (default: :obj:`"identity"`)
        qk_init (str, optional): :obj:`"normal"` query/key weights
            :math:`\mathcal{N}(0, 1)` as the reference, or :obj:`"uniform"`
            (:class:`~torch.nn.Linear`'s default). (default: :obj:`"normal"`)
        dropout (float, optional): Dropout of :math:`\alpha` while training.
            (default: :obj:`0.`)
        bias (bool, optional): Learn :math:`\mathbf{b}`. (default: :obj:`True`)
        backend (str, optional): :obj:`"dense"`, :obj:`"sparse"` or
            :obj:`"auto"`. (default: :obj:`"auto"`)
        dense_threshold (float, optional): Edge density from which
            ``"auto"`` is dense: the per-edge path costs about 25--42 dense
            pairs per edge on 2 CPU cores (``benchmarks/bench_sgconv.py``).
            (default: :obj:`0.03`)
        checkpoint (bool, optional): Dense path: recompute the attention maps
            in backward instead of storing them. (default: :obj:`False`)
        **kwargs (optional): Arguments of
            :class:`~torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** joint features :math:`(*, V, C_{in})`, edge indices
          :math:`(2, E)` (source :math:`\rightarrow` target) or :obj:`None`
          for the complete graph
        - **output:** :math:`(*, V, C_{out})`, or with
          ``return_attention_weights=True``
          :math:`((*, V, C_{out}), ((2, E), (*, E, M)))`
    """
    propagate_type = {"value": Optional[Tensor], "alpha": Optional[Tensor],
                      "x": Optional[Tensor], "query": Optional[Tensor],
                      "key": Optional[Tensor], "count": Optional[Tensor]}
    edge_updater_type = {"query": Tensor, "key": Tensor}

    def __init__(self, in_channels: int, out_channels: int, num_nodes: int, heads: int = 3,
                 head_channels: Optional[int] = None, attention: bool = True,
                 topology_init: Union[str, Tensor] = "identity", qk_init: str = "normal",
                 dropout: float = 0.0, bias: bool = True, backend: str = "auto",
                 dense_threshold: float = 0.03, checkpoint: bool = False, **kwargs) -> None:
        aggr = kwargs.setdefault("aggr", "add")
        if aggr not in ("add", "sum"):  # S-GC sums its messages
            raise ValueError(f"SGConv: aggr={aggr!r} is not supported (only aggr='add')")
        super().__init__(node_dim=0, **kwargs)
        for arg, val in (("in_channels", in_channels), ("out_channels", out_channels),
                         ("num_nodes", num_nodes), ("heads", heads)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"SGConv: {arg} must be a positive integer, got {val!r}")
        if backend not in BACKENDS:
            raise ValueError(f"SGConv: backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(topology_init, str) and topology_init not in TOPOLOGY_INITS:
            raise ValueError(f"SGConv: topology_init must be one of {TOPOLOGY_INITS} or a "
                             f"tensor, got {topology_init!r}")
        if qk_init not in ("normal", "uniform"):
            raise ValueError(f"SGConv: qk_init must be 'normal' or 'uniform', got {qk_init!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_nodes, self.heads = num_nodes, heads
        self.head_channels = head_channels or max(1, in_channels // 8)
        self.attention, self.topology_init, self.qk_init = attention, topology_init, qk_init
        self.dropout, self.backend, self.dense_threshold = dropout, backend, dense_threshold
        self.checkpoint = checkpoint

        if attention:
            self.norm = LayerNorm(in_channels)
            self.lin_qk = Linear(in_channels, 2 * heads * self.head_channels)
        else:
            self.register_module("norm", None)
            self.register_module("lin_qk", None)
        self.weight = Parameter(torch.empty(heads, in_channels, out_channels))  # W^m
        self.topology = Parameter(torch.empty(heads, num_nodes, num_nodes))  # A^m [i, j]
        self.bias = Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.attention:
            self.norm.reset_parameters()
            self.lin_qk.reset_parameters()
            if self.qk_init == "normal":
                torch.nn.init.normal_(self.lin_qk.weight, 0.0, 1.0)  # as the reference
        # the reference's initialisation of its per-head 1x1 convolutions
        torch.nn.init.normal_(self.weight, std=math.sqrt(
            2.0 / (self.out_channels * self.in_channels * self.heads)))
        with torch.no_grad():
            self.topology.copy_(initial_topology(self.topology_init, self.heads, self.num_nodes))
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None,
                return_attention_weights: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor): Joint features :math:`(*, V, C_{in})`.
            edge_index (torch.Tensor, optional): Edges :math:`(2, E)`, or
                :obj:`None` for the complete graph.
            return_attention_weights (bool, optional): Also return
                ``(edge_index, alpha)``, :math:`\alpha` :math:`(*, E, M)`
                (all ones with ``attention=False``). (default: :obj:`False`)
        """
        V, C = self.num_nodes, self.in_channels
        if x.dim() < 2 or x.size(-2) != V or x.size(-1) != C:
            raise ValueError(f"SGConv: expected x of shape [..., {V}, {C}] (num_nodes={V}, "
                             f"in_channels={C}), got {list(x.shape)}")
        edge_index = check_edge_index(edge_index, V, "SGConv")
        lead, batched = x.shape[:-2], x.dim() > 2
        x = x.reshape(-1, V, C)  # [B, V, C_in]: frames batched over
        q = k = None
        if self.attention:
            q, k = project_queries_keys(x, self.norm, self.lin_qk, self.heads,
                                        self.head_channels)  # [B, V, M, D'], q / sqrt(D')
        per_edge = self.backend_for(edge_index) == "sparse"
        edges, alpha = edge_index, None
        if per_edge or return_attention_weights:
            if edges is None:
                edges = complete_edge_index(V, x.device)
            alpha = self._attention(edges, q, k, x, batched)  # [E, (B,) M]
        if per_edge:
            value = node_major(torch.einsum("bjc,mcd->bjmd", x, self.weight), batched)
            out = self.propagate(edges, value=value,  # psi_j W^m [V, (B,) M, C_out]
                                 alpha=F.dropout(alpha, self.dropout, self.training), x=None,
                                 query=None, key=None, count=None, size=(V, V))
            out = out.transpose(0, 1) if batched else out
            out = out if self.bias is None else out + self.bias
        else:
            count = edge_counts(edge_index, V, x.dtype, x.device)  # None: complete graph
            if is_tracing():  # no sparse tensors (nor hooks) under a compiler
                out = self.message_and_aggregate(None, x, q, k, count)
            else:
                out = self.propagate(sparse_adjacency(edge_index, V, x.device), value=None,
                                     alpha=None, x=x, query=q, key=k, count=count)
        out = out.reshape(*lead, V, self.out_channels)
        if not return_attention_weights:
            return out
        alpha = alpha.transpose(0, 1) if batched else alpha
        return out, (edges, alpha.reshape(*lead, -1, self.heads))

    def _attention(self, edge_index: Tensor, q: Optional[Tensor], k: Optional[Tensor],
                   x: Tensor, batched: bool) -> Tensor:
        if q is None:
            return x.new_ones(edge_index.size(1), *x.shape[:batched], self.heads)
        return self.edge_updater(edge_index, query=node_major(q, batched),
                                 key=node_major(k, batched),
                                 size=(self.num_nodes, self.num_nodes))

    def edge_update(self, query_i: Tensor, key_j: Tensor, index: Tensor,
                    ptr: Optional[Tensor], size_i: Optional[int]) -> Tensor:
        r"""Eq. 3-4: :math:`\alpha^m_{ij}`, the softmax over the incoming
        edges of every target :math:`i` of the scaled scores, ``[E, *, M]``."""
        return softmax((query_i * key_j).sum(-1), index, ptr, size_i, dim=0)

    def message(self, value_j: Tensor, alpha: Tensor, edge_index_i: Tensor,
                edge_index_j: Tensor) -> Tensor:
        r"""Eq. 5, one edge: :math:`\sum_m \ddot{A}^m_{ij} \alpha^m_{ij}
        \psi_j \mathbf{W}^m`, ``[E, *, C_out]``."""
        topology = self.topology[:, edge_index_i, edge_index_j].t()  # [E, M]
        coef = alpha * topology.view(-1, *[1] * (alpha.dim() - 2), self.heads)
        return torch.einsum("e...m,e...md->e...d", coef, value_j)

    def message_and_aggregate(self, adj_t: Optional[Tensor], x: Tensor, query: Optional[Tensor],
                              key: Optional[Tensor], count: Optional[Tensor]) -> Tensor:
        r"""Eq. 3-5 on :math:`V \times V` maps for every frame at once
        (``count``: the dense multiplicity of every edge, :obj:`None` for
        the complete graph; ``adj_t`` only routes the call)."""
        return dense_sgc(x, query, key, self.topology, self.weight, self.bias, count,
                         self.dropout, self.training, self.checkpoint)

    def backend_for(self, edge_index: Optional[Tensor]) -> str:
        """The path :meth:`forward` takes on ``edge_index``: :obj:`"sparse"`
        (per-edge messages: chosen, or needed by an edge mask or a message
        hook, which must see every message) or :obj:`"dense"`."""
        if self.explain or self._message_forward_hooks or self._message_forward_pre_hooks:
            return "sparse"
        if self.backend != "auto":
            return self.backend
        V = self.num_nodes
        sparse = edge_index is not None and V > 32 and \
            edge_index.size(1) < self.dense_threshold * V * V
        return "sparse" if sparse else "dense"

    def __repr__(self) -> str:
        extra = "" if self.attention else ", attention=False"
        return (f"topogcn.nn.{self.__class__.__name__}({self.in_channels}, "
                f"{self.out_channels}, num_nodes={self.num_nodes}, heads={self.heads}{extra})")
