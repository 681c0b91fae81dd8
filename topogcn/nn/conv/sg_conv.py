import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor
from torch.nn import LayerNorm, Linear, Parameter
from torch_geometric.index import index2ptr
from torch_geometric.utils import softmax

from topogcn.nn.conv.csr import CSRMessagePassing
from topogcn.nn.conv.head_aggregation import (attention_head_aggregation, autocast_dtype,
                                              frame_blocks, head_aggregation)
from topogcn.utils.tracing import is_tracing

BACKENDS = ("auto", "dense", "sparse")
#: joint pairs per head in one block of frames of the dense inference path
INFERENCE_BLOCK_PAIRS = 1 << 17
TOPOLOGY_INITS = ("identity", "ones", "adjacency", "zeros")


class SGConv(CSRMessagePassing):
    r"""The self-attention graph convolution (S-GC) of GE-CN, from the
    `"Representation Learning for Topology-adaptive Micro-gesture Recognition
    and Analysis" <https://ceur-ws.org/Vol-3522/>`_ paper (eq. 3-5), the
    formulation of InfoGCN's SA-GC, as a message-passing layer on any
    skeleton graph.

    For every target joint :math:`i`, head :math:`m` and incoming edge
    :math:`j \rightarrow i` of ``edge_index``:

    .. math::
        \alpha^{m}_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i)}
        \left( \frac{\left(\mathrm{LN}(\psi_i) \mathbf{W}_Q^m\right)^{\top}
        \mathrm{LN}(\psi_j) \mathbf{W}_K^m}{\sqrt{D'}} \right)

    .. math::
        \psi_i' = \sum_{m=1}^{M} \sum_{j \in \mathcal{N}(i)}
        \ddot{A}^{m}_{ij} \, \alpha^{m}_{ij} \, \psi_j \mathbf{W}^{m}
        + \mathbf{b}

    where :math:`\ddot{A}^m \in \mathbb{R}^{V \times V}` is the learnable
    topology shared by every frame (one per head) and :math:`\mathrm{LN}`
    a layer norm over channels.  With the complete graph
    (``edge_index=None`` or :meth:`~topogcn.skeleton.Skeleton.complete_edge_index`)
    this is exactly the dense S-GC of the paper, which attends to "all
    possible relations"; with a skeleton's bones or :math:`k`-hop
    neighbourhood it is attention constrained to the topology, whose cost
    grows with the number of edges :math:`E` instead of :math:`V^2`.  With
    ``attention=False`` the attention is dropped
    (:math:`\alpha^m_{ij} = 1`), the paper's baseline without self-attention.

    Every frame shares the template graph of :math:`V` joints: the leading
    dimensions of ``x`` (batch, persons, frames, ...) are batched over, never
    expanded into a disjoint union of graphs.  Two execution paths give the
    same result from the same parameters: ``"dense"`` scatters the per-edge
    coefficients into :math:`[\ldots, M, V, V]` matrices and uses batched
    matrix products (best for small skeletons and the complete graph);
    ``"sparse"`` gathers and scatters over the edges with :math:`O(E)` memory
    (best for large, sparse graphs), through ``torch_scatter`` when it is
    installed.  ``"auto"`` picks by edge density.  When
    :math:`C_{in} \leq C_{out}` the dense path aggregates first
    (:math:`\sum_m (\ddot{A}^m \odot \alpha^m) \psi \mathbf{W}^m` as one
    product over :math:`[V, M \cdot C_{in}]`) in an autograd function that
    keeps the :math:`M`-times-wider aggregated features one block of frames
    at a time (:func:`~topogcn.nn.conv.head_aggregation.head_aggregation`);
    without autograd (``torch.no_grad`` / ``torch.inference_mode``) the
    attention, too, runs in blocks of frames written into one buffer.

    Edge indices are checked on both paths (:math:`0 \leq` index
    :math:`<` ``num_nodes``; a :class:`ValueError` names the first bad edge).
    The messages are summed (``aggr="add"``, the only aggregation the
    formulation has).  Explainability: with an edge mask set by
    :mod:`torch_geometric.explain` (e.g. an
    :class:`~torch_geometric.explain.Explainer`), the layer runs the
    message-passing path and weighs every edge's message by its mask entry,
    in the caller's edge order, whatever the backend; an all-ones mask
    changes nothing.  Message-passing hooks (``register_message_forward_hook``
    and the like) likewise switch the layer to that path; they see the
    messages ``[E, B, ...]`` with the edges sorted by target.

    .. note::
        Not PyG's :class:`torch_geometric.nn.conv.SGConv` (the simplified
        GCN, whose third argument is the hop count ``K``; here it is
        ``num_nodes``).  ``from torch_geometric.nn.conv import *`` followed by
        ``from topogcn.nn import *`` shadows one with the other: import this
        one as ``from topogcn.nn import SGConv`` (or ``topogcn.nn.SGConv``).
        Its ``repr`` starts with ``topogcn.nn.SGConv``.

    Args:
        in_channels (int): Size :math:`C_{in}` of each input joint feature.
        out_channels (int): Size :math:`C_{out}` of each output joint feature.
        num_nodes (int): Number of joints :math:`V` of the skeleton template.
        heads (int, optional): Number of heads :math:`M`. (default: :obj:`3`)
        head_channels (int, optional): Size :math:`D'` of the queries and keys
            of each head. (default: :obj:`max(1, in_channels // 8)`, as the
            reference)
        attention (bool, optional): If :obj:`False`, drop the self-attention
            :math:`\alpha` and its parameters. (default: :obj:`True`)
        topology_init (str or Tensor, optional): Initial :math:`\ddot{A}`:
            :obj:`"identity"` (the reference's choice, every head),
            :obj:`"ones"`, :obj:`"zeros"`, or a tensor of shape
            :math:`[V, V]` or :math:`[M, V, V]` (e.g. a normalised
            adjacency). (default: :obj:`"identity"`)
        qk_init (str, optional): Initial query/key weights:
            :obj:`"normal"`, :math:`\mathcal{N}(0, 1)` as the reference, which
            makes the attention of narrow heads nearly one-hot at the start;
            or :obj:`"uniform"`, :math:`\mathcal{U}(\pm 1/\sqrt{C_{in}})`
            (PyTorch's :class:`~torch.nn.Linear` default), scaled to the
            width. (default: :obj:`"normal"`)
        dropout (float, optional): Dropout probability of the attention
            coefficients during training. (default: :obj:`0.`)
        bias (bool, optional): Learn an additive bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        backend (str, optional): :obj:`"dense"`, :obj:`"sparse"` or
            :obj:`"auto"`. (default: :obj:`"auto"`)
        dense_threshold (float, optional): With ``backend="auto"``, the dense
            path is taken when :math:`E \geq` ``dense_threshold`` :math:`\cdot
            V^2` or :math:`V \leq 32`.  Measured on 2 CPU cores
            (``benchmarks/bench_sgconv.py``) the sparse path costs about
            25--42 dense pairs per edge (64 channels, 3 heads), so it wins
            below a density of about :math:`1/30`. (default: :obj:`0.03`)
        checkpoint (bool, optional): On the dense path with attention, do
            not keep the :math:`(*, V, M, V)` attention maps for backward:
            recompute them from the queries and keys (activation
            checkpointing).  When the path aggregates first (and without
            attention dropout), attention, aggregation and transform are
            one autograd function that never materialises the maps for the
            whole batch, forward or backward, block by block
            (:func:`~topogcn.nn.conv.head_aggregation.attention_head_aggregation`);
            otherwise :func:`torch.utils.checkpoint.checkpoint`.  The same
            gradients for less memory (the maps dominate it on large
            skeletons) and one more attention forward per backward.
            (default: :obj:`False`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          joint features :math:`(*, V, C_{in})` with any leading dimensions,
          edge indices :math:`(2, E)` over the :math:`V` template joints
          (source :math:`\rightarrow` target) or :obj:`None` for the complete
          graph
        - **output:** joint features :math:`(*, V, C_{out})`, or with
          ``return_attention_weights=True`` a tuple
          :math:`((*, V, C_{out}), ((2, E), (*, E, M)))`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_nodes: int,
        heads: int = 3,
        head_channels: Optional[int] = None,
        attention: bool = True,
        topology_init: Union[str, Tensor] = "identity",
        qk_init: str = "normal",
        dropout: float = 0.0,
        bias: bool = True,
        backend: str = "auto",
        dense_threshold: float = 0.03,
        checkpoint: bool = False,
        **kwargs,
    ) -> None:
        aggr = kwargs.setdefault("aggr", "add")
        if aggr not in ("add", "sum"):
            raise ValueError(f"SGConv: aggr={aggr!r} is not supported; S-GC sums the "
                             f"attention-weighted messages (aggr='add')")
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
        self.qk_init = qk_init
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_nodes = num_nodes
        self.heads = heads
        self.head_channels = head_channels or max(1, in_channels // 8)
        self.attention = attention
        self.topology_init = topology_init
        self.dropout = dropout
        self.backend = backend
        self.dense_threshold = dense_threshold
        self.checkpoint = checkpoint

        if attention:
            self.norm = LayerNorm(in_channels)
            self.lin_qk = Linear(in_channels, 2 * heads * self.head_channels)
        else:
            self.register_module("norm", None)
            self.register_module("lin_qk", None)
        # W^m for every head, stored [M, C_in, C_out]
        self.weight = Parameter(torch.empty(heads, in_channels, out_channels))
        self.topology = Parameter(torch.empty(heads, num_nodes, num_nodes))
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.attention:
            self.norm.reset_parameters()
            self.lin_qk.reset_parameters()
            if self.qk_init == "normal":
                torch.nn.init.normal_(self.lin_qk.weight, 0.0, 1.0)  # as the reference
        # the reference's branch initialisation of the per-head 1x1 convolutions
        torch.nn.init.normal_(self.weight, std=math.sqrt(
            2.0 / (self.out_channels * self.in_channels * self.heads)))
        with torch.no_grad():
            self.topology.copy_(self._initial_topology())
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def _initial_topology(self) -> Tensor:
        H, V = self.heads, self.num_nodes
        init = self.topology_init
        if isinstance(init, Tensor):
            init = init.detach().float()
            if init.shape == (V, V):
                return init.expand(H, V, V).clone()
            if init.shape == (H, V, V):
                return init.clone()
            raise ValueError(f"SGConv: topology_init tensor must have shape [{V}, {V}] or "
                             f"[{H}, {V}, {V}], got {list(init.shape)}")
        if init == "identity":
            return torch.eye(V).expand(H, V, V).clone()
        if init == "ones":
            return torch.ones(H, V, V)
        if init == "zeros":
            return torch.zeros(H, V, V)
        raise ValueError(f"SGConv: topology_init={init!r} needs an adjacency tensor")

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        x: Tensor,
        edge_index: Optional[Tensor] = None,
        return_attention_weights: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        r"""Runs the forward pass of the module.

        Args:
            x (torch.Tensor): Joint features :math:`(*, V, C_{in})`.
            edge_index (torch.Tensor, optional): Edges :math:`(2, E)` over the
                :math:`V` joints, or :obj:`None` for the complete graph.
            return_attention_weights (bool, optional): If :obj:`True`, also
                return ``(edge_index, alpha)`` with the attention
                coefficients ``alpha`` :math:`(*, E, M)` (the softmax, which
                sums to one over the incoming edges of every target; all ones
                with ``attention=False``).  For ``edge_index=None`` the
                complete edge index is returned.
        """
        return self._run(x, edge_index, return_attention_weights)

    def _forward_scaled(self, x: Tensor, edge_index: Optional[Tensor], scale: Tensor,
                        shift: Tensor) -> Tensor:
        r"""``scale * self(x, edge_index) + shift`` with per-channel
        ``scale`` and ``shift`` (a following evaluation-mode batch norm):
        the dense path without autograd folds them into :math:`W` and
        :math:`\mathbf{b}`; the other paths apply them to the output."""
        return self._run(x, edge_index, False, scale, shift)

    def _run(self, x: Tensor, edge_index: Optional[Tensor], return_attention_weights: bool,
             scale: Optional[Tensor] = None, shift: Optional[Tensor] = None):
        V, C = self.num_nodes, self.in_channels
        if x.dim() < 2 or x.size(-2) != V or x.size(-1) != C:
            raise ValueError(
                f"SGConv: expected x of shape [..., {V}, {C}] (num_nodes={V}, "
                f"in_channels={C}), got {list(x.shape)}")
        if edge_index is not None:
            if edge_index.dim() != 2 or edge_index.size(0) != 2 or \
                    edge_index.dtype not in (torch.long, torch.int):
                raise ValueError(f"SGConv: edge_index must be an integer tensor of shape "
                                 f"[2, E], got {edge_index.dtype} {list(edge_index.shape)}")
            edge_index = edge_index.long()
            if not is_tracing():
                _check_edge_range(edge_index, V)
        lead = x.shape[:-2]
        x = x.reshape(-1, V, C)

        # an edge mask (explain) or a message hook needs the messages: message passing
        backend = "sparse" if self.needs_message_passing else self._choose_backend(edge_index)
        if backend == "dense":
            out, alpha = self._forward_dense(x, edge_index, return_attention_weights,
                                             scale, shift)
        else:
            if edge_index is None:
                edge_index = _complete_edge_index(V, x.device)
            out, alpha = self._forward_sparse(x, edge_index, return_attention_weights)
            if scale is not None:
                out = torch.addcmul(shift, out, scale)
        out = out.reshape(*lead, V, self.out_channels)
        if not return_attention_weights:
            return out
        if edge_index is None:
            edge_index = _complete_edge_index(V, x.device)
        return out, (edge_index, alpha.reshape(*lead, -1, self.heads))

    def _choose_backend(self, edge_index: Optional[Tensor]) -> str:
        if self.backend != "auto":
            return self.backend
        V = self.num_nodes
        if edge_index is None or V <= 32:
            return "dense"
        return "dense" if edge_index.size(1) >= self.dense_threshold * V * V else "sparse"

    def _queries_keys(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        qk = self.lin_qk(self.norm(x))
        qk = qk.view(*x.shape[:-1], 2, self.heads, self.head_channels)
        q, k = qk.unbind(-3)  # one backward node (a stack), not two zero-filled selects
        return q, k

    def _forward_dense(self, x: Tensor, edge_index: Optional[Tensor], need_alpha: bool,
                       scale: Optional[Tensor] = None, shift: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Optional[Tensor]]:
        B, V, _ = x.shape
        H = self.heads
        count = bias = has_edge = None
        if edge_index is not None:
            # multiplicity of every (target, source) pair; duplicated edges
            # count twice in the softmax and the sum, as in the sparse path
            count = torch.zeros(V * V, dtype=x.dtype, device=x.device)
            count.index_add_(0, edge_index[1] * V + edge_index[0],
                             torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device))
            count = count.view(V, V)
            has_edge = (count.sum(dim=1) > 0).to(x.dtype).view(V, 1)
            if self.attention:
                # log-multiplicity; a huge negative number (finite, so that a
                # target without edges gives no NaN) for the non-edges
                bias = torch.where(count > 0, count.log(),
                                   torch.full_like(count, torch.finfo(x.dtype).min))
        if not need_alpha and not torch.is_grad_enabled() and (
                not self.training or self.dropout == 0):
            return self._dense_inference(x, count, bias, has_edge, scale, shift), None

        # Layout: coefficients [B, V_i, H, V_j]: aggregate-first, they multiply
        # x and every head's W^m in one autograd function; transform-first,
        # one batched matmul with an inner size of H * V_j sums over heads
        # and sources at once.
        topo = self.topology.transpose(0, 1)  # [V_i, H, V_j]
        if has_edge is not None:
            topo = topo * has_edge.unsqueeze(-1)  # targets without incoming edges get nothing
        p = None
        aggregate_first = self.in_channels <= self.out_channels
        value = x if aggregate_first else self._transform(x)
        if self.attention:
            q, k = self._queries_keys(x)  # [B, V, H, D']
            q = q * self.head_channels ** -0.5
            recompute = self.checkpoint and not need_alpha and torch.is_grad_enabled()
            if recompute and aggregate_first and not is_tracing() and not (
                    self.dropout > 0 and self.training):
                # attention, aggregation and transform in one function that
                # keeps neither the maps nor the aggregated features
                out = attention_head_aggregation(q, k, topo.transpose(0, 1), bias, x,
                                                 self.weight, self.bias)
            elif recompute:
                out = torch.utils.checkpoint.checkpoint(
                    self._attend, q, k, value, topo, bias, aggregate_first,
                    use_reentrant=False)[0]
            else:
                out, p = self._attend(q, k, value, topo, bias, aggregate_first)
        else:
            coef = (topo if count is None else topo * count.unsqueeze(1)).expand(B, V, H, V)
            out = self._combine(coef, value, aggregate_first)
        if scale is not None:
            out = torch.addcmul(shift, out, scale)

        alpha = None
        if need_alpha:
            if edge_index is None:
                edge_index = _complete_edge_index(V, x.device)
            src, tgt = edge_index[0], edge_index[1]
            if p is None:
                alpha = x.new_ones(B, edge_index.size(1), H)
            else:
                alpha = p[:, tgt, :, src]  # [E, B, H]
                if bias is not None:
                    alpha = alpha / count[tgt, src].view(-1, 1, 1)
                alpha = alpha.transpose(0, 1)
        return out, alpha

    def _transform(self, x: Tensor) -> Tensor:
        """Every head's :math:`x W^m`, ``[B, V, C_in] -> [B, H * V, C_out]``
        (head-major rows)."""
        return torch.einsum("bjc,hcd->bhjd", x, self.weight).reshape(x.size(0), -1,
                                                                     self.out_channels)

    def _combine(self, coef: Tensor, value: Tensor, aggregate_first: bool) -> Tensor:
        """The output ``[B, V, C_out]`` from the coefficients ``[B, V_i, H,
        V_j]`` and the values: aggregate-first the inputs ``[B, V, C_in]``
        (:func:`head_aggregation`), transform-first every head's
        :math:`x W^m` ``[B, H * V, C_out]``."""
        if aggregate_first:
            return head_aggregation(coef, value, self.weight, self.bias)
        B, V, H, _ = coef.shape
        out = torch.bmm(coef.reshape(B, V, H * V), value)
        return out if self.bias is None else out + self.bias

    def _attend(self, q: Tensor, k: Tensor, value: Tensor, topo: Tensor,
                bias: Optional[Tensor], aggregate_first: bool) -> Tuple[Tensor, Tensor]:
        """Attention coefficients (softmax times the topology) and the
        output they give; ``checkpoint=True`` recomputes this in backward
        instead of storing the :math:`[B, V, H, V]` maps."""
        scores = torch.einsum("bihd,bjhd->bihj", q, k)
        if bias is not None:
            scores = scores + bias.unsqueeze(1)
        p = torch.softmax(scores, dim=-1)
        if self.dropout > 0 and self.training:
            p = F.dropout(p, self.dropout, True)
        return self._combine(p * topo, value, aggregate_first), p

    @torch.no_grad()
    def _dense_inference(self, x: Tensor, count: Optional[Tensor], bias: Optional[Tensor],
                         has_edge: Optional[Tensor], scale: Optional[Tensor] = None,
                         shift: Optional[Tensor] = None) -> Tensor:
        r"""The dense path without autograd.  The attention runs one block of
        frames at a time (at most :data:`INFERENCE_BLOCK_PAIRS` joint pairs
        per head and block, so the :math:`V^2` maps stay small and in
        cache), each block's product written into one preallocated tensor.
        When :math:`C_{in} \leq C_{out}` the coefficients
        ``[n, V_i, H, V_j]`` aggregate the inputs first and one
        :math:`1 \times 1` convolution over ``[B * V, H * C_in]`` applies
        every head's :math:`W^m` and sums the heads (faster in oneDNN than
        the transform-first matrix product, whose inner size is only
        :math:`C_{in}`); otherwise every head's
        :math:`x W^m` comes first and the coefficients ``[n, V_i, V_j, H]``
        sum over sources and heads.  ``scale`` and ``shift`` (per output
        channel) fold an affine map of the output (a following batch norm)
        into the weights.  Traced (torch.export, ONNX, compile): one block,
        functional, so that the batch size stays symbolic."""
        B, V, C = x.shape
        H, C_out = self.heads, self.out_channels
        topo = self.topology if has_edge is None else self.topology * has_edge
        weight, b = self.weight, self.bias
        if scale is not None:
            weight = weight * scale
            b = shift if b is None else torch.addcmul(shift, b, scale)
        dtype = autocast_dtype(x)  # the products' dtype, and so the buffers'
        b = None if b is None else b.to(dtype)
        traced = is_tracing()  # then one block, in functional form
        q = k = None
        if self.attention:
            q, k = self._inference_queries_keys(x)  # [B, V, H, D'], q scaled
        aggregate_first = C <= C_out
        if aggregate_first:  # coefficients [n, V_i, H, V_j] @ x [n, V_j, C_in]
            values, layout, to_maps = x.to(dtype), (V, H, V), (2, 0, 1, 3)
        else:  # coefficients [n, V_i, V_j, H] @ x W [n, (V_j, H), C_out]
            w = weight.transpose(0, 1).reshape(C, H * C_out).to(dtype)
            values = torch.mm(x.reshape(B * V, C).to(dtype), w).view(B, V * H, C_out)
            layout, to_maps = (V, V, H), (3, 0, 1, 2)
        from_maps = [to_maps.index(i) for i in range(4)]  # [H, n, V_i, V_j] -> layout
        topo = topo.unsqueeze(1)  # [H, 1, V, V]
        blocks = frame_blocks(B, V * V, INFERENCE_BLOCK_PAIRS)
        out = None if traced else torch.empty(
            (B, V, H, C) if aggregate_first else (B, V, C_out), dtype=dtype, device=x.device)
        for start, n in blocks:
            if self.attention and traced:
                p = torch.matmul(q.transpose(1, 2), k.permute(0, 2, 3, 1)).transpose(0, 1)
            elif self.attention:  # head by head: strided views of q and k, no copy
                p = torch.empty(H, n, V, V, dtype=q.dtype, device=x.device)
                for h in range(H):
                    torch.bmm(q[start:start + n, :, h], k[start:start + n, :, h].transpose(1, 2),
                              out=p[h])
            else:
                p = (topo.new_ones(1, 1, 1, 1) if count is None else count.view(1, 1, V, V))
                p = p.expand(1, n, V, V)
            if self.attention:  # p: [H, n, V_i, V_j]
                if bias is not None:
                    p = p + bias
                p = torch.softmax(p, dim=-1)
            if traced:
                coef = (p * topo).to(dtype).permute(*from_maps)
            else:  # the product written in place of the layout
                coef = torch.empty(n, *layout, dtype=dtype, device=x.device)
                torch.mul(p, topo, out=coef.permute(*to_maps))
            coef = coef.reshape(n, V * H, V) if aggregate_first else coef.reshape(n, V, V * H)
            value = values[start:start + n]
            if traced:
                out = torch.bmm(coef, value) if b is None or aggregate_first else \
                    torch.baddbmm(b, coef, value)
            elif b is None or aggregate_first:
                torch.bmm(coef, value, out=out[start:start + n].view(n, coef.size(1), -1))
            else:
                torch.baddbmm(b, coef, value, out=out[start:start + n])
        if not aggregate_first:
            return out.view(B, V, C_out)
        # every head's W^m and the sum over heads: one 1x1 convolution over
        # [B * V, H * C_in] (a channels-last view, no copy)
        z = out.reshape(1, B, V, H * C).permute(0, 3, 1, 2)
        w = weight.reshape(H * C, C_out).t().reshape(C_out, H * C, 1, 1).to(dtype)
        return F.conv2d(z, w, b).permute(0, 2, 3, 1).reshape(B, V, C_out)

    def _inference_queries_keys(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Queries (already scaled by :math:`1 / \sqrt{D'}`, folded into
        their weights) and keys ``[B, V, H, D']`` for the inference path:
        the projection as a :math:`1 \times 1` convolution over the
        channels-last ``[B * V, C_in]`` (faster in oneDNN than the matrix
        product of :class:`~torch.nn.Linear` on these narrow shapes)."""
        B, V, C = x.shape
        H, D = self.heads, self.head_channels
        w = self.lin_qk.weight.view(2, H * D, C)  # query rows, then key rows
        b = self.lin_qk.bias.view(2, H * D)
        weight = torch.cat([w[0] * D ** -0.5, w[1]]).view(2 * H * D, C, 1, 1)
        bias = torch.cat([b[0] * D ** -0.5, b[1]])
        h = self.norm(x).reshape(1, B * V, 1, C).permute(0, 3, 1, 2)  # channels-last
        qk = F.conv2d(h, weight.to(h.dtype), bias.to(h.dtype)).permute(0, 2, 3, 1)
        q, k = qk.reshape(B, V, 2, H, D).unbind(2)
        return q, k

    def _forward_sparse(self, x: Tensor, edge_index: Tensor,
                        need_alpha: bool) -> Tuple[Tensor, Optional[Tensor]]:
        B, V, _ = x.shape
        H = self.heads
        # edges sorted by target, so that softmax and sum are CSR segment
        # reductions; node-major layout [V, B, C] so each edge gathers and
        # scatters one contiguous block
        tgt_sorted, perm = torch.sort(edge_index[1], stable=True)
        src_sorted = edge_index[0].index_select(0, perm)
        ptr = index2ptr(tgt_sorted, V)
        xt = x.transpose(0, 1)  # [V, B, C_in]

        topo = self.topology[:, tgt_sorted, src_sorted].t()  # [E, H]
        if self.attention:
            q, k = self._queries_keys(xt)  # [V, B, H, D']
            scores = (q.index_select(0, tgt_sorted) * k.index_select(0, src_sorted)).sum(-1)
            scores = scores * (self.head_channels ** -0.5)  # [E, B, H]
            alpha = softmax(scores, ptr=ptr, dim=0)
            alpha_used = F.dropout(alpha, self.dropout, self.training)
            coef = alpha_used * topo.unsqueeze(1)  # [E, B, H]
        else:
            alpha = None
            coef = topo.unsqueeze(1)  # [E, 1, H]

        sorted_index = torch.stack([src_sorted, tgt_sorted], dim=0)
        self.edge_order = perm  # an explain mask is in the caller's order
        if self.in_channels <= self.out_channels:  # aggregate, then transform
            z = self.propagate(sorted_index, x=xt, coef=coef, csr_ptr=ptr, size=(V, V),
                               per_head=True)  # [V, B, H, C_in]
            out = z.reshape(V, B, H * self.in_channels) @ self.weight.reshape(
                H * self.in_channels, self.out_channels)
        else:  # transform, then aggregate
            w = self.weight.permute(1, 0, 2).reshape(self.in_channels, H * self.out_channels)
            xw = (xt @ w).view(V, B, H, self.out_channels)
            out = self.propagate(sorted_index, x=xw, coef=coef, csr_ptr=ptr, size=(V, V),
                                 per_head=False)  # [V, B, C_out]
        if self.bias is not None:
            out = out + self.bias
        out = out.transpose(0, 1)

        alpha_out = None
        if need_alpha:
            if alpha is None:
                alpha = x.new_ones(edge_index.size(1), B, H)
            alpha_out = torch.empty_like(alpha)
            alpha_out[perm] = alpha  # back to the caller's edge order
            alpha_out = alpha_out.transpose(0, 1)
        return out, alpha_out

    def message(self, x_j: Tensor, coef: Tensor, per_head: bool) -> Tensor:
        if per_head:  # x_j [E, B, C_in] -> [E, B, H, C_in]
            return coef.unsqueeze(-1) * x_j.unsqueeze(-2)
        # x_j [E, B, H, C_out] -> sum over heads [E, B, C_out]
        return torch.matmul(coef.unsqueeze(-2), x_j).squeeze(-2)

    def __repr__(self) -> str:
        extra = "" if self.attention else ", attention=False"
        return (f"topogcn.nn.{self.__class__.__name__}({self.in_channels}, "
                f"{self.out_channels}, num_nodes={self.num_nodes}, heads={self.heads}{extra})")


def _check_edge_range(edge_index: Tensor, num_nodes: int) -> None:
    bad = ((edge_index < 0) | (edge_index >= num_nodes)).any(dim=0)
    if bool(bad.any()):
        e = int(bad.nonzero()[0])
        src, tgt = int(edge_index[0, e]), int(edge_index[1, e])
        raise ValueError(f"SGConv: edge {e} ({src} -> {tgt}) has a joint index outside "
                         f"0..{num_nodes - 1} (num_nodes={num_nodes})")


def _complete_edge_index(num_nodes: int, device: torch.device) -> Tensor:
    idx = torch.arange(num_nodes, device=device)
    return torch.stack([idx.repeat(num_nodes), idx.repeat_interleave(num_nodes)], dim=0)
