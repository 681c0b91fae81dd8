import pytest
import torch

from topogcn.nn.functional import aggregation as ha
from topogcn.nn.functional.tuning import TUNING


def reference(coef, x, weight, bias):
    """sum over heads of coef_m @ x @ W_m + b, written head by head."""
    out = sum(coef[:, :, m, :] @ x @ weight[m] for m in range(weight.size(0)))
    return out if bias is None else out + bias


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("block_elements", [None, 2 * 5 * 3 * 4])  # 2 frames per block: 2+2+2+1
def test_values_and_gradients_equal_the_head_by_head_reference(bias, block_elements,
                                                               monkeypatch):
    if block_elements:
        monkeypatch.setattr(TUNING, "block_elements", block_elements)
    torch.manual_seed(0)
    coef = torch.randn(7, 5, 3, 5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(7, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True) if bias else None
    out = ha.head_aggregation(coef, x, w, b)
    ref = reference(coef, x, w, b)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    inputs = [t for t in (coef, x, w, b) if t is not None]
    g = torch.randn_like(out)
    for a, r in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-11)
    assert torch.autograd.gradcheck(lambda *t: ha.head_aggregation(*t), (coef, x, w, b))


def test_partial_gradients_and_expanded_coefficients():
    """Only the weight needs a gradient (the coefficients are an expanded
    constant, as without attention)."""
    torch.manual_seed(0)
    coef = torch.rand(5, 3, 5).expand(6, 5, 3, 5)
    x = torch.randn(6, 5, 4)
    w = torch.randn(3, 4, 2, requires_grad=True)
    out = ha.head_aggregation(coef, x, w)
    (gw,) = torch.autograd.grad(out.square().sum(), [w])
    (gr,) = torch.autograd.grad(reference(coef, x, w, None).square().sum(), [w])
    torch.testing.assert_close(gw, gr, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_runs_in_bf16_with_float32_gradients():
    torch.manual_seed(0)
    coef = torch.rand(4, 5, 3, 5, requires_grad=True)
    x = torch.randn(4, 5, 8, requires_grad=True)
    w = torch.randn(3, 8, 6, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ha.head_aggregation(coef, x, w, b)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert all(t.grad.dtype == torch.float32 for t in (coef, x, w, b))
    ref = reference(coef, x, w, b)
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def attention_reference(q, k, topo, mask, x, weight, bias):
    scores = torch.einsum("bihd,bjhd->bhij", q, k)
    if mask is not None:
        scores = scores + mask
    coef = (scores.softmax(-1) * topo).permute(0, 2, 1, 3)  # [B, V_i, H, V_j]
    return reference(coef, x, weight, bias)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("block_elements", [None, 2 * 5 * 3 * 5])  # 2 frames per block
def test_attention_values_and_gradients_equal_the_reference(masked, block_elements,
                                                            monkeypatch):
    if block_elements:
        monkeypatch.setattr(TUNING, "block_elements", block_elements)
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64, requires_grad=True)
    q, k = torch.randn(7, 5, 3, 2, **f64), torch.randn(7, 5, 3, 2, **f64)
    topo = torch.randn(3, 5, 5, **f64)
    mask = None
    if masked:  # SGConv's mask of non-edges: a huge negative score (every target keeps itself)
        mask = torch.zeros(5, 5, dtype=torch.float64)
        mask[torch.rand(5, 5) > 0.7] = torch.finfo(torch.float64).min
        mask.fill_diagonal_(0.0)
    x, w = torch.randn(7, 5, 4, **f64), torch.randn(3, 4, 6, **f64)
    b = torch.randn(6, **f64)
    args = (q, k, topo, mask, x, w, b)
    out = ha.attention_head_aggregation(*args)
    ref = attention_reference(*args)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    inputs = [q, k, topo, x, w, b]
    g = torch.randn_like(out)
    for a, r in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-11)
    assert torch.autograd.gradcheck(
        lambda q, k, t, x, w, b: ha.attention_head_aggregation(q, k, t, mask, x, w, b),
        (q, k, topo, x, w, b))
