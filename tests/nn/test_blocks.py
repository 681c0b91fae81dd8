import pytest
import torch

from topogcn.nn import (ChannelsLastBatchNorm, EncoderBlock, JointEmbedding,
                        MultiScaleTemporalConv, TemporalPointwiseConv)
from topogcn.skeleton import get_skeleton


def test_joint_embedding_adds_per_joint_position():
    emb = JointEmbedding(3, 16, 25)
    x = torch.zeros(2, 4, 25, 3)
    out = emb(x)
    assert out.shape == (2, 4, 25, 16)
    # identical inputs differ only by the positional embedding of their joint
    assert torch.allclose(out[0, 0] - emb.lin.bias, emb.pos_embedding)
    assert repr(emb) == "JointEmbedding(3, 16, num_nodes=25)"


@pytest.mark.parametrize("stride,T_out", [(1, 16), (2, 8)])
def test_ms_tc_shapes_and_branches(stride, T_out):
    m = MultiScaleTemporalConv(32, 64, stride=stride)
    assert len(m.branches) == 4
    assert m(torch.randn(2, 16, 7, 32)).shape == (2, T_out, 7, 64)
    m3 = MultiScaleTemporalConv(32, 48, dilations=(1, 2, 3), pointwise=False)
    assert len(m3.branches) == 4 and m3(torch.randn(1, 9, 5, 32)).shape == (1, 9, 5, 48)
    with pytest.raises(ValueError, match="not divisible"):
        MultiScaleTemporalConv(32, 30)


def test_ms_tc_is_temporal_only():
    """Joints never mix inside MS-TC (every kernel is k x 1)."""
    m = MultiScaleTemporalConv(8, 8).eval()
    x = torch.randn(1, 10, 6, 8, requires_grad=True)
    (g,) = torch.autograd.grad(m(x)[:, :, 2].sum(), x)
    assert g[:, :, [0, 1, 3, 4, 5]].abs().sum() == 0 and g[:, :, 2].abs().sum() > 0


def test_ms_tc_receptive_field():
    m = MultiScaleTemporalConv(16, 16).eval()  # dilation 2, kernel 5 -> +-4 frames
    x = torch.randn(1, 20, 1, 16, requires_grad=True)
    (g,) = torch.autograd.grad(m(x)[:, 10].sum(), x)
    touched = set(g.abs().sum((0, 2, 3)).nonzero().flatten().tolist())
    # dilation 1: 8..12, dilation 2: 6, 8, ..., 14, max-pool: 9..11, 1x1: 10
    assert touched <= {6, 8, 9, 10, 11, 12, 14} and {6, 10, 14} <= touched


def test_channels_last_bn_matches_bn2d():
    bn = ChannelsLastBatchNorm(6)
    ref = torch.nn.BatchNorm2d(6)
    x = torch.randn(3, 5, 4, 6)
    assert torch.allclose(bn(x), ref(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), atol=1e-6)
    assert torch.equal(ChannelsLastBatchNorm(6, weight_init=1e-6).weight, torch.full((6,), 1e-6))


@pytest.mark.parametrize("cin,cout,stride", [(16, 16, 1), (16, 32, 2)])
def test_encoder_block(cin, cout, stride):
    s = get_skeleton("ntu25")
    block = EncoderBlock(cin, cout, 25, stride=stride)
    x = torch.randn(2, 8, 25, cin)
    for ei in (None, s.k_hop_edge_index(1)):
        y, (ei_out, alpha) = block(x, ei, return_attention_weights=True)
        assert y.shape == (2, 8 // stride, 25, cout) and (y >= 0).all()
        assert alpha.shape == (2, 8, ei_out.size(1), 3)
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters() if p.requires_grad)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_temporal_pointwise_conv_equals_strided_conv(stride):
    torch.manual_seed(0)
    conv = TemporalPointwiseConv(8, 4, stride)
    ref = torch.nn.Conv2d(8, 4, 1, stride=(stride, 1))
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 7, 5)
    torch.testing.assert_close(conv(x), ref(x))


def test_ms_tc_strided_backward_on_137_joints():
    # a strided 1x1 convolution on channels_last input crashed (heap
    # corruption) in backward at this size in torch 2.13
    torch.manual_seed(0)
    m = MultiScaleTemporalConv(8, 8, stride=2)
    x = torch.randn(4, 16, 137, 8, requires_grad=True)
    m(x).sum().backward()
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
