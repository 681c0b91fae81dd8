"""GE-CN starts as the official model does: every layer's own initialisation
survives inside the model, and the model's overrides are the reference's."""
import math

import pytest
import torch

from topogcn.models import GECN
from topogcn.nn import MultiScaleTemporalConv, SGConv


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GECN(num_classes=10, skeleton="ntu25", num_person=1, channels=[64, 128], strides=[1, 2])
    return m.requires_grad_(False)


def rel(a, b):
    return abs(a - b) / b


def test_sgconv_keeps_its_own_initialisation_inside_the_model(model):
    for block in model.blocks:
        g = block.gcn
        assert rel(float(g.lin_qk.weight.std()), 1.0) < 0.05  # N(0, 1), not Linear's default
        eye = torch.eye(g.num_nodes).expand(g.heads, -1, -1)
        assert torch.equal(g.topology.detach(), eye)
        branch = math.sqrt(2.0 / (g.out_channels * g.in_channels * g.heads))
        assert rel(float(g.weight.std()), branch) < 0.05
        assert torch.all(block.gcn_norm.weight == 1e-6)
        assert torch.all(block.gcn_norm.bias == 0)


def test_down_and_residual_convs_are_kaiming_fan_out(model):
    convs = [p.conv for b in model.blocks for p in (b.down, b.residual)
             if hasattr(p, "conv")]
    assert len(convs) == 2  # 64 -> 128 (stride 2): down and residual
    for conv in convs:
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert rel(float(conv.weight.std()), math.sqrt(2.0 / fan_out)) < 0.05


def test_ms_tc_has_pytorch_defaults_inside_and_outside_the_model(model):
    def conv_stats(module):
        out = []
        for m in module.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.requires_grad_(False)
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5))
                assert float(m.weight.abs().max()) <= bound + 1e-7
                out.append(float(m.weight.std()) / (bound / math.sqrt(3)))
        return out

    inside = conv_stats(model.blocks[1].tcn)
    alone = conv_stats(MultiScaleTemporalConv(128, 128, stride=2))
    assert len(inside) == len(alone) > 0
    assert all(abs(r - 1) < 0.15 for r in inside + alone)


def test_model_overrides(model):
    assert rel(float(model.classifier.weight.std()), math.sqrt(2 / 10)) < 0.1
    assert torch.all(model.data_bn.weight == 1)
    gain = torch.nn.init.calculate_gain("relu")
    for lin in (model.fc[0], model.fc_mu, model.fc_logvar):
        bound = gain * math.sqrt(6 / (lin.in_features + lin.out_features))
        assert float(lin.weight.abs().max()) <= bound + 1e-7
        assert rel(float(lin.weight.std()), bound / math.sqrt(3)) < 0.05


def test_attention_at_initialisation_is_as_sharp_as_the_reference(model):
    """The reference's attention: LayerNorm, then q, k = Linear with N(0, 1)
    weights, softmax(q k^T / sqrt(d)): written here on the block input."""
    torch.manual_seed(1)
    x = torch.randn(4, 1, 16, 25, 3)
    with torch.no_grad():
        (edge_index, alpha), = [m for m in model.attention_maps(x)[:1]]
        V, H = 25, model.blocks[0].gcn.heads
        sharp = torch.zeros(alpha.shape[:-2] + (V, H)).scatter_reduce(
            -2, edge_index[1].view(-1, 1).expand(-1, H).expand(alpha.shape), alpha, "amax")
        ours = float(sharp.mean())

        h = model._embed(x)  # [N*M, T, V, C]
        C, d = h.size(-1), max(1, h.size(-1) // 8)
        ln = torch.nn.LayerNorm(C)
        lin = torch.nn.Linear(C, 2 * H * d)
        torch.nn.init.normal_(lin.weight, 0, 1)
        q, k = lin(ln(h)).chunk(2, dim=-1)
        q = q.unflatten(-1, (H, d)).transpose(-2, -3)
        k = k.unflatten(-1, (H, d)).transpose(-2, -3)
        ref = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1).amax(-1).mean()
    assert ours > 0.5 and abs(ours - float(ref)) < 0.1, (ours, float(ref))


def test_standalone_sgconv_unchanged():
    torch.manual_seed(0)
    conv = SGConv(64, 64, num_nodes=25)
    assert rel(float(conv.lin_qk.weight.std()), 1.0) < 0.05
