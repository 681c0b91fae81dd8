r"""S-GC on dense :math:`V \times V` maps: the kernels behind
:meth:`topogcn.nn.SGConv.message_and_aggregate`.

For a batch of frames ``x`` :math:`(B, V, C_{in})`, scaled queries and keys
:math:`(B, V, H, D')`, the topology :math:`\ddot{A}` :math:`(H, V, V)` and the
per-head weights :math:`W` :math:`(H, C_{in}, C_{out})`:

.. math::
    \mathbf{Y}_b = \sum_{m=1}^{H} \left(\ddot{A}^m \odot
    \operatorname{softmax}(q^m_b {k^m_b}^{\top} + \log N)\right)
    \mathbf{X}_b \mathbf{W}^m + \mathbf{b}

with :math:`N` the multiplicity of each edge (:obj:`None`: the complete
graph; a target without incoming edges gets nothing).  :func:`dense_sgc`
chooses the kernel, in this one place: without autograd on the CPU, the
blocked inference kernel; with ``checkpoint``, the kernel that recomputes
the maps in backward; otherwise the plain formulation, whose aggregation
and transform keep their wide intermediate one block of frames at a time on
the CPU (:func:`~topogcn.nn.functional.head_aggregation`).  Every kernel is
tested against the plain formula (``tests/nn/functional``).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor

from topogcn.nn.functional.aggregation import (
    attention_head_aggregation, autocast_dtype, frame_blocks, head_aggregation,
)
from topogcn.nn.functional.tuning import TUNING, use_blocked_kernels
from topogcn.utils.tracing import is_tracing


def edge_counts(edge_index: Optional[Tensor], num_nodes: int, dtype: torch.dtype,
                device: torch.device) -> Optional[Tensor]:
    """The multiplicity ``[V_target, V_source]`` of every edge (duplicated
    edges count twice in the softmax and the sum, as on the message-passing
    path); :obj:`None` for the complete graph."""
    if edge_index is None:
        return None
    V = num_nodes
    count = torch.zeros(V * V, dtype=dtype, device=device)
    count.index_add_(0, edge_index[1] * V + edge_index[0],
                     torch.ones(edge_index.size(1), dtype=dtype, device=device))
    return count.view(V, V)


def dense_sgc(x: Tensor, q: Optional[Tensor], k: Optional[Tensor], topology: Tensor,
              weight: Tensor, bias: Optional[Tensor], count: Optional[Tensor] = None,
              dropout: float = 0.0, training: bool = False, checkpoint: bool = False) -> Tensor:
    r"""S-GC's output :math:`(B, V, C_{out})` (see the module); ``q`` and
    ``k`` :obj:`None` for S-GC without attention (:math:`\alpha = 1`).
    Chooses the kernel: see the module's description."""
    has_edge = mask = None
    if count is not None:
        has_edge = (count.sum(dim=1) > 0).to(x.dtype).view(-1, 1)
        if q is not None:  # log-multiplicity; a finite floor for the non-edges
            mask = torch.where(count > 0, count.log(),
                               torch.full_like(count, torch.finfo(x.dtype).min))
    if not torch.is_grad_enabled() and (not training or dropout == 0) and \
            use_blocked_kernels(x.device):
        return dense_sgc_inference(x, q, k, topology, weight, bias, count, mask, has_edge)
    B, V, _ = x.shape
    H = topology.size(0)
    topo = topology.transpose(0, 1)  # [V_i, H, V_j]
    if has_edge is not None:
        topo = topo * has_edge.unsqueeze(-1)  # targets without incoming edges get nothing
    aggregate_first = weight.size(1) <= weight.size(2)
    value = x if aggregate_first else _transform(x, weight)
    if q is None:
        coef = (topo if count is None else topo * count.unsqueeze(1)).expand(B, V, H, V)
        return _combine(coef, value, weight, bias, aggregate_first)
    if checkpoint and torch.is_grad_enabled():
        if aggregate_first and not is_tracing() and not (dropout > 0 and training):
            # attention, aggregation and transform in one function that keeps
            # neither the maps nor the aggregated features
            return attention_head_aggregation(q, k, topo.transpose(0, 1), mask, x, weight,
                                              bias)
        return torch.utils.checkpoint.checkpoint(
            _attend, q, k, value, topo, mask, weight, bias, aggregate_first,
            dropout if training else 0.0, use_reentrant=False)
    return _attend(q, k, value, topo, mask, weight, bias, aggregate_first,
                   dropout if training else 0.0)


def _transform(x: Tensor, weight: Tensor) -> Tensor:
    """Every head's :math:`x W^m`, ``[B, V, C_in] -> [B, H * V, C_out]``
    (head-major rows)."""
    return torch.einsum("bjc,hcd->bhjd", x, weight).reshape(x.size(0), -1, weight.size(-1))


def _combine(coef: Tensor, value: Tensor, weight: Tensor, bias: Optional[Tensor],
             aggregate_first: bool) -> Tensor:
    """The output ``[B, V, C_out]`` from the coefficients ``[B, V_i, H,
    V_j]`` and the values: aggregate-first the inputs ``[B, V, C_in]``,
    transform-first every head's :math:`x W^m` ``[B, H * V, C_out]``."""
    if aggregate_first:
        if use_blocked_kernels(value.device):
            return head_aggregation(coef, value, weight, bias)
        B, V, H, _ = coef.shape
        out = torch.einsum("bihj,bjc,hcd->bid", coef, value, weight)
        return out if bias is None else out + bias
    B, V, H, _ = coef.shape
    out = torch.bmm(coef.reshape(B, V, H * V), value)
    return out if bias is None else out + bias


def _attend(q: Tensor, k: Tensor, value: Tensor, topo: Tensor, mask: Optional[Tensor],
            weight: Tensor, bias: Optional[Tensor], aggregate_first: bool,
            dropout: float) -> Tensor:
    """Softmax attention times the topology, and the output they give."""
    scores = torch.einsum("bihd,bjhd->bihj", q, k)
    if mask is not None:
        scores = scores + mask.unsqueeze(1)
    p = torch.softmax(scores, dim=-1)
    if dropout > 0:
        p = F.dropout(p, dropout, True)
    return _combine(p * topo, value, weight, bias, aggregate_first)


@torch.no_grad()
def dense_sgc_inference(x: Tensor, q: Optional[Tensor], k: Optional[Tensor], topology: Tensor,
                        weight: Tensor, bias: Optional[Tensor], count: Optional[Tensor],
                        mask: Optional[Tensor], has_edge: Optional[Tensor]) -> Tensor:
    r"""The dense path without autograd.  The attention runs one block of
    frames at a time (at most ``TUNING.inference_block_pairs`` joint pairs per
    head and block, so the :math:`V^2` maps stay small and in cache), each
    block's product written into one preallocated tensor.  When
    :math:`C_{in} \leq C_{out}` the coefficients ``[n, V_i, H, V_j]``
    aggregate the inputs first and one :math:`1 \times 1` convolution over
    ``[B * V, H * C_in]`` applies every head's :math:`W^m` and sums the heads;
    otherwise every head's :math:`x W^m` comes first and the coefficients
    ``[n, V_i, V_j, H]`` sum over sources and heads.  Traced (torch.export,
    ONNX, compile): one block, functional, so that the batch size stays
    symbolic."""
    B, V, C = x.shape
    H, C_out = topology.size(0), weight.size(-1)
    topo = topology if has_edge is None else topology * has_edge
    dtype = autocast_dtype(x)  # the products' dtype, and so the buffers'
    b = None if bias is None else bias.to(dtype)
    traced = is_tracing()  # then one block, in functional form
    aggregate_first = C <= C_out
    if aggregate_first:  # coefficients [n, V_i, H, V_j] @ x [n, V_j, C_in]
        values, layout, to_maps = x.to(dtype), (V, H, V), (2, 0, 1, 3)
    else:  # coefficients [n, V_i, V_j, H] @ x W [n, (V_j, H), C_out]
        w = weight.transpose(0, 1).reshape(C, H * C_out).to(dtype)
        values = torch.mm(x.reshape(B * V, C).to(dtype), w).view(B, V * H, C_out)
        layout, to_maps = (V, V, H), (3, 0, 1, 2)
    from_maps = [to_maps.index(i) for i in range(4)]  # [H, n, V_i, V_j] -> layout
    topo = topo.unsqueeze(1)  # [H, 1, V, V]
    blocks = frame_blocks(B, V * V, TUNING.inference_block_pairs)
    out = None if traced else torch.empty(
        (B, V, H, C) if aggregate_first else (B, V, C_out), dtype=dtype, device=x.device)
    for start, n in blocks:
        if q is not None and traced:
            p = torch.matmul(q.transpose(1, 2), k.permute(0, 2, 3, 1)).transpose(0, 1)
        elif q is not None:  # head by head: strided views of q and k, no copy
            p = torch.empty(H, n, V, V, dtype=q.dtype, device=x.device)
            for h in range(H):
                torch.bmm(q[start:start + n, :, h], k[start:start + n, :, h].transpose(1, 2),
                          out=p[h])
        else:
            p = (topo.new_ones(1, 1, 1, 1) if count is None else count.view(1, 1, V, V))
            p = p.expand(1, n, V, V)
        if q is not None:  # p: [H, n, V_i, V_j]
            if mask is not None:
                p = p + mask
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


def project_queries_keys(x: Tensor, norm: torch.nn.LayerNorm, lin: torch.nn.Linear,
                         heads: int, head_channels: int) -> Tuple[Tensor, Tensor]:
    r"""Queries scaled by :math:`1 / \sqrt{D'}` and keys ``[*, V, H, D']``:
    ``lin(norm(x))``.  Without autograd on the CPU, the projection runs as
    one :math:`1 \times 1` convolution over the channels-last ``[B * V,
    C_in]`` with the scale folded into the query weights (faster in oneDNN
    than :class:`~torch.nn.Linear`'s product on these narrow shapes)."""
    H, D = heads, head_channels
    if torch.is_grad_enabled() or not use_blocked_kernels(x.device) or x.dim() != 3:
        qk = lin(norm(x)).view(*x.shape[:-1], 2, H, D)
        q, k = qk.unbind(-3)  # one backward node (a stack), not two zero-filled selects
        return q * D ** -0.5, k
    B, V, C = x.shape
    w = lin.weight.view(2, H * D, C)  # query rows, then key rows
    b = lin.bias.view(2, H * D)
    weight = torch.cat([w[0] * D ** -0.5, w[1]]).view(2 * H * D, C, 1, 1)
    bias = torch.cat([b[0] * D ** -0.5, b[1]])
    h = norm(x).reshape(1, B * V, 1, C).permute(0, 3, 1, 2)  # channels-last
    qk = F.conv2d(h, weight.to(h.dtype), bias.to(h.dtype)).permute(0, 2, 3, 1)
    q, k = qk.reshape(B, V, 2, H, D).unbind(2)
    return q, k
