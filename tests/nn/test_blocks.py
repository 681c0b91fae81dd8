import pytest
import torch

from topogcn.nn.norm import ChannelsLastBatchNorm
from topogcn.nn import (EncoderBlock, JointEmbedding,
                        MultiScaleTemporalConv, TemporalPointwiseConv)
from topogcn.skeleton import get_skeleton


def test_joint_embedding_adds_per_joint_position():
    torch.manual_seed(0)
    emb = JointEmbedding(3, 16, 25)
    x = torch.zeros(2, 4, 25, 3)
    out = emb(x)
    assert out.shape == (2, 4, 25, 16)
    # identical inputs differ only by the positional embedding of their joint
    # ((b + p) - b is p up to the rounding of b + p)
    torch.testing.assert_close(out[0, 0] - emb.lin.bias, emb.pos_embedding, rtol=0, atol=1e-6)
    assert repr(emb) == "JointEmbedding(3, 16, num_nodes=25)"


@pytest.mark.parametrize("stride,T_out", [(1, 16), (2, 8)])
def test_ms_tc_shapes_and_branches(stride, T_out):
    m = MultiScaleTemporalConv(32, 64, stride=stride)
    assert m.num_branches == 4 and len(m.temporal) == 2
    assert m(torch.randn(2, 16, 7, 32)).shape == (2, T_out, 7, 64)
    m3 = MultiScaleTemporalConv(32, 48, dilations=(1, 2, 3), pointwise=False)
    assert m3.num_branches == 4 and m3.pointwise_conv is None
    assert m3(torch.randn(1, 9, 5, 32)).shape == (1, 9, 5, 48)
    with pytest.raises(ValueError, match="not divisible"):
        MultiScaleTemporalConv(32, 30)


def _branchwise_ms_tc(m, x, training):
    """MS-TC one branch at a time, each from its slice of the fused
    parameters, batch norms with batch statistics (training) or the running
    ones (evaluation): [N, C, T, V] -> [N, C, T', V]."""
    c = m.branch_channels

    def bn(h, norm, i):
        sl = slice(i * c, (i + 1) * c)
        return torch.nn.functional.batch_norm(
            h, norm.running_mean[sl].clone(), norm.running_var[sl].clone(), norm.weight[sl],
            norm.bias[sl], training=training, eps=norm.eps)

    outs = []
    for i in range(len(m.dilations) + int(m.max_pool)):
        sl = slice(i * c, (i + 1) * c)
        h = torch.nn.functional.conv2d(x, m.expand.weight[sl], m.expand.bias[sl])
        h = bn(h, m.expand_bn, i).relu()
        if i < len(m.temporal):
            t = m.temporal[i]
            h = torch.nn.functional.conv2d(h, t.weight, t.bias, t.stride, t.padding, t.dilation)
        else:
            h = torch.nn.functional.max_pool2d(h, (3, 1), (m.stride, 1), (1, 0))
        outs.append(bn(h, m.out_bn, i))
    if m.pointwise_conv is not None:
        pw = m.pointwise_conv
        h = torch.nn.functional.conv2d(x, pw.weight, pw.bias, stride=(m.stride, 1))
        outs.append(bn(h, m.out_bn, len(outs)))
    return torch.cat(outs, dim=1).relu()


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2}, {"dilations": (1, 2, 3), "pointwise": False},
                                    {"max_pool": False, "stride": 3}])
def test_ms_tc_fused_equals_branchwise(kwargs):
    torch.manual_seed(0)
    branches = len(kwargs.get("dilations", (1, 2))) + kwargs.get("max_pool", True) + \
        kwargs.get("pointwise", True)
    m = MultiScaleTemporalConv(12, 4 * branches, **kwargs).double()
    with torch.no_grad():  # trained-looking parameters and running statistics
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
        for bn in (m.expand_bn, m.out_bn):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 11, 5, 12, dtype=torch.float64)
    for training in (True, False):
        m.train(training)
        xx = x.clone().requires_grad_()
        out = m(xx)
        ref = _branchwise_ms_tc(m, xx.permute(0, 3, 1, 2), training).permute(0, 2, 3, 1)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
        # evaluation folds the batch norms into the convolutions: same gradients
        g, = torch.autograd.grad(out.square().sum(), xx)
        g_ref, = torch.autograd.grad(ref.square().sum(), xx)
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)


def test_ms_tc_initialisation_is_the_unfused_layouts():
    """A seed gives the fused MS-TC the weights the per-branch layout (the
    reference's modules, built and reset branch by branch) gets."""
    nn = torch.nn
    torch.manual_seed(3)
    fused = MultiScaleTemporalConv(8, 16)
    torch.manual_seed(3)
    branches = [nn.Sequential(nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.Conv2d(4, 4, (5, 1), padding=(2 * d, 0), dilation=(d, 1)),
                              nn.BatchNorm2d(4)) for d in (1, 2)]
    branches.append(nn.Sequential(nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4)))
    branches.append(nn.Sequential(nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4)))
    for m in nn.ModuleList(branches).modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
    assert torch.equal(fused.expand.weight, torch.cat([b[0].weight for b in branches[:3]]))
    assert torch.equal(fused.expand.bias, torch.cat([b[0].bias for b in branches[:3]]))
    assert torch.equal(fused.temporal[1].weight, branches[1][3].weight)
    assert torch.equal(fused.pointwise_conv.weight, branches[3][0].weight)


def test_ms_tc_is_temporal_only():
    """Joints never mix inside MS-TC (every kernel is k x 1)."""
    m = MultiScaleTemporalConv(8, 8).eval()
    x = torch.randn(1, 10, 6, 8, requires_grad=True)
    (g,) = torch.autograd.grad(m(x)[:, :, 2].sum(), x)
    assert g[:, :, [0, 1, 3, 4, 5]].abs().sum() == 0 and g[:, :, 2].abs().sum() > 0


def test_ms_tc_receptive_field():
    torch.manual_seed(0)  # a ReLU may silence a 4-channel branch at one frame for some draws
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


@pytest.mark.parametrize("stride", [1, 2])
def test_encoder_block_checkpoint_same_results_statistics_once(stride):
    """Activation checkpointing: the same outputs and gradients, and the
    batch norms' running statistics updated once per step (not again when
    backward recomputes the branches)."""
    torch.manual_seed(0)
    plain = EncoderBlock(8, 16, 25, stride=stride).double()
    ckpt = EncoderBlock(8, 16, 25, stride=stride, checkpoint=True).double()
    ckpt.load_state_dict(plain.state_dict())
    assert ckpt.gcn.checkpoint and not plain.gcn.checkpoint
    x = torch.randn(2, 8, 25, 8, dtype=torch.float64)
    results = []
    for block in (plain, ckpt):
        xx = x.clone().requires_grad_()
        y = block(xx)
        grads = torch.autograd.grad(y.square().sum(), [xx] + list(block.parameters()))
        results.append((y, grads, block.state_dict()))
    (y0, g0, s0), (y1, g1, s1) = results
    torch.testing.assert_close(y1, y0, rtol=0, atol=1e-12)
    for a, b in zip(g0, g1):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)
    for key in s0:  # running statistics and num_batches_tracked
        torch.testing.assert_close(s1[key], s0[key], rtol=0, atol=1e-14, msg=key)
    assert int(s1["tcn.out_bn.num_batches_tracked"]) == 1


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_temporal_pointwise_conv_equals_strided_conv(stride):
    torch.manual_seed(0)
    conv = TemporalPointwiseConv(8, 4, stride)
    ref = torch.nn.Conv2d(8, 4, 1, stride=(stride, 1))
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 7, 5)
    torch.testing.assert_close(conv(x), ref(x))


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_temporal_pointwise_conv_gradient_keeps_the_input_layout(stride, channels_last):
    """The strided input's gradient equals the strided convolution's and has
    the input's memory layout (a default-layout gradient in a channels-last
    network sends every later sum and ReLU backward down slow paths)."""
    torch.manual_seed(0)
    conv = TemporalPointwiseConv(8, 4, stride)
    ref = torch.nn.Conv2d(8, 4, 1, stride=(stride, 1))
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 7, 5, 8).permute(0, 3, 1, 2) if channels_last else torch.randn(2, 8, 7, 5)
    x.requires_grad_()
    g = torch.randn_like(ref(x))
    (grad,) = torch.autograd.grad(conv(x), x, g)
    (expected,) = torch.autograd.grad(ref(x), x, g)
    torch.testing.assert_close(grad, expected)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert grad.is_contiguous(memory_format=fmt)


def test_ms_tc_strided_backward_on_137_joints():
    # a strided 1x1 convolution on channels_last input crashed (heap
    # corruption) in backward at this size in torch 2.13
    torch.manual_seed(0)
    m = MultiScaleTemporalConv(8, 8, stride=2)
    x = torch.randn(4, 16, 137, 8, requires_grad=True)
    m(x).sum().backward()
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()


def _layout(t: torch.Tensor) -> tuple:
    """Order of the dimensions (size > 1) from the largest stride down."""
    dims = [d for d in range(t.dim()) if t.size(d) > 1]
    return tuple(sorted(dims, key=lambda d: -t.stride(d)))


ELEMENTWISE = {"add", "add_", "mul", "mul_", "threshold_backward", "native_batch_norm_backward",
               "relu", "relu_", "clamp_min", "clamp_min_", "sub", "div"}


def test_training_step_mixes_no_memory_layouts():
    """In a training step of a strided two-person GE-CN, no element-wise
    operation or batch-norm backward gets two same-shaped activations in
    different memory layouts (mixed layouts take PyTorch's slow
    element-by-element paths: this caught a default-layout gradient coming
    out of the strided 1x1 convolutions' slice)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from topogcn.models import GECN

    mixed = []

    class Check(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            tensors = [a for a in args if isinstance(a, torch.Tensor) and a.dim() >= 4]
            if name in ELEMENTWISE and len(tensors) >= 2:
                same = [t for t in tensors if t.shape == tensors[0].shape]
                if len({_layout(t) for t in same}) > 1:
                    mixed.append((name, [tuple(t.shape) for t in same],
                                  [t.stride() for t in same]))
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    model = GECN(5, "ntu25", num_person=2, channels=(8, 8, 16, 16), strides=(1, 1, 2, 1))
    x = torch.randn(2, 2, 8, 25, 3)
    with Check():
        model(x).square().sum().backward()
    assert not mixed, mixed[:3]
