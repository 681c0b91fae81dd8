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
from typing import Optional, Tuple

import torch
from torch import Tensor

from topogcn.utils.tracing import is_tracing

#: aggregated feature values (frames * V * H * C_in) per block
BLOCK_ELEMENTS = 1 << 20


def _blocks(B: int, per_frame: int):
    if is_tracing():  # one block: no loop over a symbolic batch, nothing unrolled
        return [(0, B)]
    step = max(1, BLOCK_ELEMENTS // max(1, per_frame))
    return [(i, min(step, B - i)) for i in range(0, B, step)]


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    if torch.is_autocast_enabled("cpu") and tensors[0].device.type == "cpu":
        return torch.get_autocast_dtype("cpu")
    return tensors[0].dtype


class _HeadAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coef: Tensor, x: Tensor, weight: Tensor,
                bias: Optional[Tensor]) -> Tensor:
        # coef [B, V_i, H, V_j], x [B, V_j, C], weight [H, C, C_out], bias [C_out]
        B, V, H, _ = coef.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = _compute_dtype(x)
        with torch.autocast("cpu", enabled=False):
            c, xx = coef.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            b = None if bias is None else bias.to(dtype)
            out = torch.empty(B, V, C_out, dtype=dtype, device=x.device)
            blocks = _blocks(B, V * H * C)
            z_buf = torch.empty(blocks[0][1] * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                z = z_buf[:n * V * H * C].view(n, V * H, C)
                torch.bmm(c[start:start + n].reshape(n, V * H, V), xx[start:start + n], out=z)
                dest = out[start:start + n].view(n * V, C_out)
                if b is None:
                    torch.mm(z.view(n * V, H * C), w, out=dest)
                else:
                    torch.addmm(b, z.view(n * V, H * C), w, out=dest)
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
            # the weight gradient sums over blocks: in float32 at least
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            grad_w = torch.zeros(H * C, C_out, dtype=acc, device=x.device) if need_w else None
            blocks = _blocks(B, V * H * C)
            size = blocks[0][1] * V * H * C
            z_buf = torch.empty(size, dtype=dtype, device=x.device) if need_w else None
            gz_buf = torch.empty(size, dtype=dtype, device=x.device) \
                if need_coef or need_x else None
            for start, n in blocks:
                cb = c[start:start + n].reshape(n, V * H, V)
                xb = xx[start:start + n]
                gb = g[start:start + n].view(n * V, C_out)
                if need_w:  # recompute this block's aggregated features
                    z = z_buf[:n * V * H * C].view(n, V * H, C)
                    torch.bmm(cb, xb, out=z)
                    if dtype == acc:
                        grad_w.addmm_(z.view(n * V, H * C).t(), gb)
                    else:
                        grad_w += torch.mm(z.view(n * V, H * C).t(), gb).to(acc)
                if need_coef or need_x:
                    gz = gz_buf[:n * V * H * C].view(n * V, H * C)
                    torch.mm(gb, w.t(), out=gz)
                    gz = gz.view(n, V * H, C)
                    if need_coef:
                        torch.bmm(gz, xb.transpose(1, 2), out=grad_coef[start:start + n])
                    if need_x:
                        torch.bmm(cb.transpose(1, 2), gz, out=grad_x[start:start + n])
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
        dtype = _compute_dtype(x)
        with torch.autocast("cpu", enabled=False):
            qq, kk, t, xx = q.to(dtype), k.to(dtype), topo.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            b = None if bias is None else bias.to(dtype)
            out = torch.empty(B, V, C_out, dtype=dtype, device=x.device)
            blocks = _blocks(B, V * H * max(C, V))
            m = blocks[0][1]
            coef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            z_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                coef = coef_buf[:n * V * H * V].view(n, V, H, V)
                _block_attention(qq[start:start + n], kk[start:start + n], t, mask, coef)
                z = z_buf[:n * V * H * C].view(n, V * H, C)
                torch.bmm(coef.view(n, V * H, V), xx[start:start + n], out=z)
                dest = out[start:start + n].view(n * V, C_out)
                if b is None:
                    torch.mm(z.view(n * V, H * C), w, out=dest)
                else:
                    torch.addmm(b, z.view(n * V, H * C), w, out=dest)
        ctx.save_for_backward(q, k, topo, mask, x, weight)
        ctx.has_bias, ctx.dtype = bias is not None, dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, topo, mask, x, weight = ctx.saved_tensors
        B, V, H, D = q.shape
        C, C_out = x.size(-1), weight.size(-1)
        dtype = ctx.dtype
        acc = torch.float64 if dtype == torch.float64 else torch.float32
        with torch.autocast("cpu", enabled=False):
            qq, kk, t, xx = q.to(dtype), k.to(dtype), topo.to(dtype), x.to(dtype)
            w = weight.reshape(H * C, C_out).to(dtype)
            g = grad_out.to(dtype).contiguous()
            grad_q = torch.empty(B, V, H, D, dtype=dtype, device=x.device)
            grad_k = torch.empty(B, V, H, D, dtype=dtype, device=x.device)
            grad_x = torch.empty(B, V, C, dtype=dtype, device=x.device)
            grad_t = torch.zeros(H, V, V, dtype=acc, device=x.device)
            grad_w = torch.zeros(H * C, C_out, dtype=acc, device=x.device)
            blocks = _blocks(B, V * H * max(C, V))
            m = blocks[0][1]
            coef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            gcoef_buf = torch.empty(m * V * H * V, dtype=dtype, device=x.device)
            z_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            gz_buf = torch.empty(m * V * H * C, dtype=dtype, device=x.device)
            for start, n in blocks:
                coef = coef_buf[:n * V * H * V].view(n, V, H, V)
                p, qh, kh = _block_attention(qq[start:start + n], kk[start:start + n], t,
                                             mask, coef)
                cb = coef.view(n, V * H, V)
                xb = xx[start:start + n]
                gb = g[start:start + n].view(n * V, C_out)
                z = z_buf[:n * V * H * C].view(n, V * H, C)
                torch.bmm(cb, xb, out=z)  # recomputed aggregated features
                if dtype == acc:
                    grad_w.addmm_(z.view(n * V, H * C).t(), gb)
                else:
                    grad_w += torch.mm(z.view(n * V, H * C).t(), gb).to(acc)
                gz = gz_buf[:n * V * H * C].view(n * V, H * C)
                torch.mm(gb, w.t(), out=gz)
                gz = gz.view(n, V * H, C)
                torch.bmm(cb.transpose(1, 2), gz, out=grad_x[start:start + n])
                gcoef = gcoef_buf[:n * V * H * V].view(n, V * H, V)
                torch.bmm(gz, xb.transpose(1, 2), out=gcoef)
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
