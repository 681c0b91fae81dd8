import pytest
import torch

from topogcn.nn.conv import head_aggregation as ha


def reference(coef, x, weight, bias):
    """sum over heads of coef_m @ x @ W_m + b, written head by head."""
    out = sum(coef[:, :, m, :] @ x @ weight[m] for m in range(weight.size(0)))
    return out if bias is None else out + bias


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("block_elements", [None, 2 * 5 * 3 * 4])  # 2 frames per block: 2+2+2+1
def test_values_and_gradients_equal_the_head_by_head_reference(bias, block_elements,
                                                               monkeypatch):
    if block_elements:
        monkeypatch.setattr(ha, "BLOCK_ELEMENTS", block_elements)
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
