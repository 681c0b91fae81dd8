"""topogcn.nn.fuse: the inference copy computes what the model computes in
evaluation mode (float64, to rounding), whatever the branches; the model is
left as it was; fusing twice changes nothing."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from topogcn.nn import EncoderBlock, MultiScaleTemporalConv, fuse
from topogcn.nn.ms_tc import PointwiseBN


def trained_statistics(module):
    """Random running statistics and affine parameters (a trained model's)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return module.double().eval()


def assert_fused_equal(module, x, *args):
    state = copy.deepcopy(module.state_dict())
    expected = module(x, *args)
    fused = fuse(module)
    assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
    assert not any(p.requires_grad for p in fused.parameters())
    with torch.inference_mode():
        got = fused(x, *args)
        again = fuse(fused)(x, *args)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(again, expected, rtol=0, atol=1e-12)
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert module.training is False


@pytest.mark.parametrize("branches", [
    dict(), dict(dilations=(), max_pool=False), dict(dilations=(1,), max_pool=False),
    dict(pointwise=False), dict(residual=True, stride=2)])
def test_ms_tc(branches):
    torch.manual_seed(0)
    m = trained_statistics(MultiScaleTemporalConv(8, 12 if branches.get("pointwise", 1) else 9,
                                                  **branches))
    assert_fused_equal(m, torch.randn(2, 10, 5, 8, dtype=torch.float64))


def test_pointwise_bn():
    torch.manual_seed(0)
    m = trained_statistics(PointwiseBN(6, 8, stride=2, channels_last=True))
    assert_fused_equal(m, torch.randn(2, 9, 5, 6, dtype=torch.float64))


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("cin,cout,stride", [(8, 8, 1), (8, 12, 2)])
def test_encoder_block(attention, cin, cout, stride):
    torch.manual_seed(0)
    m = trained_statistics(EncoderBlock(cin, cout, 25, stride=stride, attention=attention))
    assert_fused_equal(m, torch.randn(2, 8, 25, cin, dtype=torch.float64))


def test_batch_statistics_are_not_folded():
    """A batch norm without running statistics normalises by the batch:
    nothing to fold, and the copy computes the same."""
    torch.manual_seed(0)
    m = MultiScaleTemporalConv(8, 12)
    for bn in m.modules():
        if isinstance(bn, _BatchNorm):
            bn.track_running_stats = False
            bn.running_mean = bn.running_var = None
    m = m.double().eval()
    x = torch.randn(2, 10, 5, 8, dtype=torch.float64)
    fused = fuse(m)
    assert fused.out_bn is not None
    torch.testing.assert_close(fused(x), m(x), rtol=0, atol=1e-12)


def test_a_model_compiled_in_place_is_copied_and_runs_eagerly():
    """No recompilation for every validation epoch's new copy; the copy
    does not share the original's parameters."""
    torch.manual_seed(0)
    m = trained_statistics(MultiScaleTemporalConv(8, 12))
    m.compile()
    fused = fuse(m)
    assert m._compiled_call_impl is not None and fused._compiled_call_impl is None
    x = torch.randn(2, 10, 5, 8, dtype=torch.float64)
    with torch.inference_mode():
        before = fused(x)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(1.0)  # the original changes; the copy must not follow
        after = fused(x)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
