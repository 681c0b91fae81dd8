"""AccurateBatchNorm2d against float64 batch norm: values, gradients and
running statistics; native behaviour when off or not applicable; a whole
training step's gradients."""
import copy

import pytest
import torch
from torch.nn import BatchNorm2d

from topogcn.nn.functional import TUNING
from topogcn.nn.norm import AccurateBatchNorm2d


@pytest.fixture()
def accurate(monkeypatch):
    monkeypatch.setattr(TUNING, "accurate_batch_norm", True)


def channels_last(N=16, C=8, T=64, V=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, V, C, generator=g) * 3 + 5  # an offset mean: hard for one pass
    return x.permute(0, 3, 1, 2)  # (N, C, T, V), channels_last in memory


def run(bn, x, grad):
    x = x.detach().clone().requires_grad_()
    y = bn(x)
    y.backward(grad)
    return y, x.grad, bn.weight.grad, bn.bias.grad


def rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a.double() - b).norm() / b.norm())


def test_values_gradients_and_statistics_match_float64(accurate):
    x = channels_last()
    grad = torch.randn(x.shape).contiguous(memory_format=torch.channels_last)
    ref_bn = BatchNorm2d(8).double().train()
    with torch.no_grad():
        ref_bn.weight.uniform_(0.5, 1.5)
        ref_bn.bias.uniform_(-0.5, 0.5)
    bn, native = AccurateBatchNorm2d(8).train(), BatchNorm2d(8).train()
    start = {k: v.float() for k, v in ref_bn.state_dict().items()}
    bn.load_state_dict(start)
    native.load_state_dict(start)
    ref = run(ref_bn, x.double(), grad.double())
    got, base = run(bn, x, grad), run(native, x, grad)
    for name, g, r in zip(("y", "dx", "dweight", "dbias"), got, ref):
        assert rel(g, r) < 5e-5, name
    assert rel(got[1], ref[1]) < rel(base[1], ref[1]) / 5  # dx: the native kernel's weak spot
    for name in ("running_mean", "running_var"):
        torch.testing.assert_close(getattr(bn, name).double(), getattr(ref_bn, name),
                                   rtol=1e-6, atol=1e-7)
    assert int(bn.num_batches_tracked) == 1


def test_statistics_of_a_long_batch_where_the_native_kernel_drifts(accurate):
    """Millions of rows with an offset mean: PyTorch's row-by-row float32
    accumulation drifts; cascaded sums of deviations stay at float32's
    resolution (the exact statistics computed in float64)."""
    x = channels_last(N=64, C=16, T=64, V=25, seed=1).relu() + 3
    exact_var, exact_mean = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    errors = {}
    for name, bn in (("accurate", AccurateBatchNorm2d(16, momentum=1.0)),
                     ("native", BatchNorm2d(16, momentum=1.0))):
        with torch.no_grad():
            y = bn.train()(x)
        m = x.numel() // 16
        errors[name] = (rel(bn.running_mean, exact_mean),
                        rel(bn.running_var * (m - 1) / m, exact_var))
        assert y.is_contiguous(memory_format=torch.channels_last)
    assert max(errors["accurate"]) < 3e-7
    assert max(errors["native"]) > 10 * max(errors["accurate"])


@pytest.mark.parametrize("block", [1, 700, 25 * 8 * 5, 1 << 20])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_batch_statistics_in_blocks_equal_float64(block, offset):
    """Any block size (smaller than a sample, not dividing the batch, the
    whole batch) and a mean ten thousand standard deviations from zero."""
    from topogcn.nn.norm import batch_statistics
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(7, 5, 8, 25, generator=g) * torch.rand(5, 1, 1, generator=g)
         + offset + torch.randn(5, 1, 1, generator=g))
    x = x.contiguous(memory_format=torch.channels_last)
    mean, var = batch_statistics(x, block)
    exact_var, exact_mean = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    assert mean.dtype == var.dtype == torch.float32
    torch.testing.assert_close(mean.double(), exact_mean, rtol=1e-7, atol=0)
    torch.testing.assert_close(var.double(), exact_var, rtol=1e-5 if offset else 1e-6, atol=0)


def test_refusals_and_native_cases_behave_like_pytorch(accurate):
    one = channels_last(N=1, C=4, T=1, V=1)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        AccurateBatchNorm2d(4).train()(one)  # PyTorch's own message
    x = channels_last(N=2, C=4, T=8)
    bn, native = AccurateBatchNorm2d(4, momentum=None), BatchNorm2d(4, momentum=None)
    assert torch.equal(bn.train()(x), native.train()(x))  # cumulative average: PyTorch's
    assert torch.equal(bn.running_var, native.running_var)


def test_tuned_sets_and_restores_fields():
    from topogcn.nn.functional.tuning import tuned
    before = TUNING.accurate_batch_norm
    with tuned(accurate_batch_norm=not before) as t:
        assert t.accurate_batch_norm is (not before)
    assert TUNING.accurate_batch_norm is before
    with pytest.raises(TypeError, match="no tuning field accurate_bn"):
        with tuned(accurate_bn=True):
            pass


def test_native_when_off_or_not_applicable(accurate, monkeypatch):
    x = channels_last(N=2, T=8)
    bn, native = AccurateBatchNorm2d(8).train(), BatchNorm2d(8).train()
    assert torch.equal(bn(x.contiguous()), native(x.contiguous()))  # contiguous input
    bn.eval(), native.eval()
    assert torch.equal(bn(x), native(x))  # evaluation
    monkeypatch.setattr(TUNING, "accurate_batch_norm", False)
    bn.train(), native.train()
    assert torch.equal(bn(x), native(x))  # switched off: PyTorch's kernel itself


def test_a_training_step_is_at_the_official_level(monkeypatch):
    """float32 gradients of a GE-CN training step against float64, latent
    noise fixed, on one input: the accurate batch norm brings them well below
    the native kernel's distance and under the reference formulation's on
    this input (benchmarks/bench_numerics.py measures both over 16 inputs)."""
    from topogcn.models import GECN
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    torch.manual_seed(0)
    model = GECN(10, "ntu25", num_person=2, noise_ratio=0.1).train()
    x = torch.randn(8, 2, 32, 25, 3)
    y = torch.arange(8) % 10

    def grads(m, inp):
        m.zero_grad()
        torch.nn.functional.cross_entropy(m(inp), y).backward()
        return torch.cat([p.grad.flatten().double() for p in m.parameters()])

    ref = grads(copy.deepcopy(model).double(), x.double())
    native = rel(grads(copy.deepcopy(model), x), ref)
    monkeypatch.setattr(TUNING, "accurate_batch_norm", True)
    accurate = rel(grads(copy.deepcopy(model), x), ref)
    assert accurate < native / 2 and accurate < 4e-4
