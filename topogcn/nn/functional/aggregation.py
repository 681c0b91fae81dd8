r"""S-GC's aggregation and per-head transform as one autograd function that
never materialises the :math:`H`-times-wider aggregated features.

.. math::
    \mathbf{Y}_b = \sum_{m=1}^{M} \mathbf{C}^m_b \mathbf{X}_b \mathbf{W}^m
    + \mathbf{b}

for every frame :math:`b` (coefficients :math:`\mathbf{C}^m_b \in
\mathbb{R}^{V \times V}`).  Computed as ``Z = C X`` (``[B, V * H, C_in]``)
followed by ``Z W`` (``[B * V, H * C_in] @ [H * C_in, C_out]``), autograd
would keep ``Z`` for the weight gradient and allocate its gradient of the
same size: on 25 joints, 64 frames and a batch of 32 two-person clips that is
78 MB per layer and direction, fresh memory the operating system must fault
in at every step.  Here ``Z`` and its gradient live one block of frames at a
time in a small reused buffer (recomputed in backward, one extra small
batched product), so only the coefficients and the input are kept.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from topogcn.nn.functional.tuning import TUNING
from topogcn.utils.tracing import is_tracing


def frame_blocks(B: int, per_frame: int,
                 budget: Optional[int] = None) -> List[Tuple[int, int]]:
    """``(start, length)`` of the blocks of at most ``budget // per_frame``
    frames (at least one; ``budget`` defaults to
    :attr:`TUNING.block_elements <topogcn.nn.functional.tuning.Tuning.block_elements>`
    as it is at the call) that cover ``B`` frames; one block under tracing
    (no loop over a symbolic batch, nothing unrolled)."""
    if is_tracing():
        return [(0, B)]
    if budget is None:
        budget = TUNING.block_elements
    step = max(1, budget // max(1, per_frame))
    return [(i, min(step, B - i)) for i in range(0, B, step)]


def autocast_dtype(x: Tensor) -> torch.dtype:
    """The dtype products run in: CPU autocast's when it is on, else ``x``'s."""
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu")
    return x.dtype


def _aggregate_transform(coef: Tensor, x: Tensor, w: Tensor, b: Optional[Tensor], z: Tensor,
                         out: Tensor) -> Tensor:
    """One block: ``z = coef @ x`` (``[n, V * H, V] @ [n, V, C]``, into the
    buffer ``z``), then ``z W + b`` over ``[n * V, H * C]`` into ``out``;
    returns ``z``."""
    torch.bmm(coef, x, out=z)
    flat = z.view(out.size(0), -1)
    if b is None:
        torch.mm(flat, w, out=out)
    else:
        torch.addmm(b, flat, w, out=out)
    return z


def _backward_block(coef: Tensor, x: Tensor, g: Tensor, w: Tensor, z: Optional[Tensor],
                    gz: Optional[Tensor], grad_w: Optional[Tensor],
                    grad_coef: Optional[Tensor], grad_x: Optional[Tensor]) -> None:
    """One block's gradients of :func:`_aggregate_transform` (``coef``
    ``[n, V * H, V]``, ``x`` ``[n, V, C]``, ``g`` ``[n * V, C_out]``):
    ``grad_w`` (or None) accumulates ``z^T g``, ``z`` recomputed into its
    buffer; ``grad_coef`` and ``grad_x`` (the block's slices, or None) are
    written through the gradient of ``z`` in the buffer ``gz``."""
    if grad_w is not None:
        torch.bmm(coef, x, out=z)
        zt = z.view(g.size(0), -1).t()
        if grad_w.dtype == z.dtype:
            grad_w.addmm_(zt, g)
        else:  # low-precision products, float32 sum over blocks
            grad_w += torch.mm(zt, g).to(grad_w.dtype)
    if grad_coef is None and grad_x is None:
        return
    torch.mm(g, w.t(), out=gz.view(g.size(0), -1))
    if grad_coef is not None:
        torch.bmm(gz, x.transpose(1, 2), out=grad_coef)
    if grad_x is not None:
        torch.bmm(coef.transpose(1, 2), gz, out=grad_x)


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    """Sums over blocks run in float32 at least."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class _HeadAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coef: Tensor, x: Tensor, weight: Tensor,
                bias: Optional[Tensor]) -> Tensor:
        # coef [B, V_i, H, V_j], x [B, V_j, C], weight [H, C, C_out], bias [C_out]
        B, V, H, _ = coef.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = autocast_dtype(x)
        with torch.autocast("cpu", enabled=False):
            c, xx = coef.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            b = None if bias is None else bias.to(dtype)
            out = torch.empty(B, V, C_out, dtype=dtype, device=x.device)
            blocks = frame_blocks(B, V * H * C)
            z_buf = torch.empty(blocks[0][1] * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                _aggregate_transform(c[start:start + n].reshape(n, V * H, V),
                                     xx[start:start + n], w, b,
                                     z_buf[:n * V * H * C].view(n, V * H, C),
                                     out[start:start + n].view(n * V, C_out))
        ctx.save_for_backward(coef, x, weight)
        ctx.has_bias, ctx.dtype = bias is not None, dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        coef, x, weight = ctx.saved_tensors
        B, V, H, _ = coef.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = ctx.dtype
        need_coef, need_x, need_w, need_b = ctx.needs_input_grad
        with torch.autocast("cpu", enabled=False):
            c, xx = coef.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            g = grad_out.to(dtype).contiguous()
            grad_coef = torch.empty(B, V * H, V, dtype=dtype, device=x.device) \
                if need_coef else None
            grad_x = torch.empty(B, V, C, dtype=dtype, device=x.device) if need_x else None
            grad_w = torch.zeros(H * C, C_out, dtype=_accumulator(dtype), device=x.device) \
                if need_w else None
            blocks = frame_blocks(B, V * H * C)
            size = blocks[0][1] * V * H * C
            z_buf = torch.empty(size, dtype=dtype, device=x.device) if need_w else None
            gz_buf = torch.empty(size, dtype=dtype, device=x.device) \
                if need_coef or need_x else None
            for start, n in blocks:
                _backward_block(
                    c[start:start + n].reshape(n, V * H, V), xx[start:start + n],
                    g[start:start + n].view(n * V, C_out), w,
                    None if z_buf is None else z_buf[:n * V * H * C].view(n, V * H, C),
                    None if gz_buf is None else gz_buf[:n * V * H * C].view(n, V * H, C),
                    grad_w,
                    None if grad_coef is None else grad_coef[start:start + n],
                    None if grad_x is None else grad_x[start:start + n])
        grad_b = g.sum(dim=(0, 1)).to(weight.dtype) if ctx.has_bias and need_b else None
        if grad_coef is not None:
            grad_coef = grad_coef.view(B, V, H, V).to(coef.dtype)
        if grad_x is not None:
            grad_x = grad_x.to(x.dtype)
        if grad_w is not None:
            grad_w = grad_w.view(H, C, C_out).to(weight.dtype)
        return grad_coef, grad_x, grad_w, grad_b


def head_aggregation(coef: Tensor, x: Tensor, weight: Tensor,
                     bias: Optional[Tensor] = None) -> Tensor:
    r"""``sum_m coef[:, :, m, :] @ x @ weight[m] + bias``.

    Args:
        coef (torch.Tensor): Coefficients :math:`(B, V_i, H, V_j)`.
        x (torch.Tensor): Joint features :math:`(B, V_j, C_{in})`.
        weight (torch.Tensor): Per-head weights :math:`(H, C_{in}, C_{out})`.
        bias (torch.Tensor, optional): :math:`(C_{out})`.

    Returns:
        :math:`(B, V_i, C_{out})`; under CPU autocast in its dtype.
    """
    return _HeadAggregation.apply(coef, x, weight, bias)


def _block_attention(q: Tensor, k: Tensor, topo: Tensor, mask: Optional[Tensor],
                     coef: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """One block's softmax ``p`` ``[n, H, V_i, V_j]`` and its coefficients
    ``p * topo`` written into ``coef`` ``[n, V_i, H, V_j]``; also the
    head-major queries and keys ``[n * H, V, D]`` (for backward)."""
    n, V, H, D = q.shape
    qh = q.permute(0, 2, 1, 3).reshape(n * H, V, D)
    kh = k.permute(0, 2, 1, 3).reshape(n * H, V, D)
    scores = torch.bmm(qh, kh.transpose(1, 2)).view(n, H, V, V)
    if mask is not None:
        scores = scores + mask
    p = torch.softmax(scores, dim=-1)
    torch.mul(p, topo, out=coef.permute(0, 2, 1, 3))
    return p, qh, kh


class _AttentionHeadAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, topo: Tensor, mask: Optional[Tensor], x: Tensor,
                weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        # q, k [B, V, H, D] (q scaled), topo [H, V_i, V_j], mask [V_i, V_j] (added
        # to the scores) or None, x [B, V, C], weight [H, C, C_out], bias [C_out]
        B, V, H, D = q.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = autocast_dtype(x)
        with torch.autocast("cpu", enabled=False):
            qq, kk, t, xx = q.to(dtype), k.to(dtype), topo.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            b = None if bias is None else bias.to(dtype)
            out = torch.empty(B, V, C_out, dtype=dtype, device=x.device)
            blocks = frame_blocks(B, V * H * max(C, V))
            m = blocks[0][1]
            coef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            z_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                coef = coef_buf[:n * V * H * V].view(n, V, H, V)
                _block_attention(qq[start:start + n], kk[start:start + n], t, mask, coef)
                _aggregate_transform(coef.view(n, V * H, V), xx[start:start + n], w, b,
                                     z_buf[:n * V * H * C].view(n, V * H, C),
                                     out[start:start + n].view(n * V, C_out))
        ctx.save_for_backward(q, k, topo, mask, x, weight)
        ctx.has_bias, ctx.dtype = bias is not None, dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, topo, mask, x, weight = ctx.saved_tensors
        B, V, H, D = q.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = ctx.dtype
        acc = _accumulator(dtype)
        with torch.autocast("cpu", enabled=False):
            qq, kk, t, xx = q.to(dtype), k.to(dtype), topo.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            g = grad_out.to(dtype).contiguous()
            grad_q = torch.empty(B, V, H, D, dtype=dtype, device=x.device)
            grad_k = torch.empty(B, V, H, D, dtype=dtype, device=x.device)
            grad_x = torch.empty(B, V, C, dtype=dtype, device=x.device)
            grad_t = torch.zeros(H, V, V, dtype=acc, device=x.device)
            grad_w = torch.zeros(H * C, C_out, dtype=acc, device=x.device)
            blocks = frame_blocks(B, V * H * max(C, V))
            m = blocks[0][1]
            coef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            gcoef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            z_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            gz_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                coef = coef_buf[:n * V * H * V].view(n, V, H, V)
                p, qh, kh = _block_attention(qq[start:start + n], kk[start:start + n], t,
                                             mask, coef)
                gcoef = gcoef_buf[:n * V * H * V].view(n, V * H, V)
                _backward_block(coef.view(n, V * H, V), xx[start:start + n],
                                g[start:start + n].view(n * V, C_out), w,
                                z_buf[:n * V * H * C].view(n, V * H, C),
                                gz_buf[:n * V * H * C].view(n, V * H, C), grad_w, gcoef,
                                grad_x[start:start + n])
                gcoef = gcoef.view(n, V, H, V).permute(0, 2, 1, 3)  # [n, H, V_i, V_j]
                grad_t += (gcoef * p).sum(0).to(acc)
                gs = torch._softmax_backward_data(gcoef * t, p, -1, dtype)
                gs = gs.reshape(n * H, V, V)
                gq = torch.bmm(gs, kh).view(n, H, V, D)
                gk = torch.bmm(gs.transpose(1, 2), qh).view(n, H, V, D)
                grad_q[start:start + n] = gq.transpose(1, 2)
                grad_k[start:start + n] = gk.transpose(1, 2)
        grad_b = g.sum(dim=(0, 1)).to(weight.dtype) if ctx.has_bias else None
        return (grad_q.to(q.dtype), grad_k.to(k.dtype), grad_t.to(topo.dtype), None,
                grad_x.to(x.dtype), grad_w.view(H, C, C_out).to(weight.dtype), grad_b)


def attention_head_aggregation(q: Tensor, k: Tensor, topo: Tensor, mask: Optional[Tensor],
                               x: Tensor, weight: Tensor,
                               bias: Optional[Tensor] = None) -> Tensor:
    r"""S-GC's attention, aggregation and per-head transform in one
    autograd function:
    ``sum_m (softmax(q_m k_m^T + mask) * topo[m]) @ x @ weight[m] + bias``.
    Neither the attention maps nor the aggregated features are ever
    materialised for the whole batch: both are computed one block of frames
    at a time, and recomputed in backward from the queries and keys, so
    the layer keeps only its inputs (the memory of activation
    checkpointing without its second full-size forward).

    Args:
        q (torch.Tensor): Scaled queries :math:`(B, V, H, D)`.
        k (torch.Tensor): Keys :math:`(B, V, H, D)`.
        topo (torch.Tensor): Topology :math:`(H, V_i, V_j)`.
        mask (torch.Tensor, optional): Added to the scores,
            :math:`(V_i, V_j)` (no gradient).
        x (torch.Tensor): Joint features :math:`(B, V_j, C_{in})`.
        weight (torch.Tensor): Per-head weights :math:`(H, C_{in}, C_{out})`.
        bias (torch.Tensor, optional): :math:`(C_{out})`.

    Returns:
        :math:`(B, V_i, C_{out})`; under CPU autocast in its dtype.
    """
    return _AttentionHeadAggregation.apply(q, k, topo, mask, x, weight, bias)
