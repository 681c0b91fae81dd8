"""The whole GE-CN against a dense InfoGCN-style reference written here from
the official model's structure (channels-first tensors, a Python loop over
heads, einsum attention, every batch norm a functional batch norm after its
own convolution): in training mode (batch statistics) same weights -> same
logits and same gradients; in evaluation mode (running statistics, which
topogcn folds into its convolutions) the same logits."""
import pytest
import torch
import torch.nn.functional as F

from topogcn.models import GECN
from topogcn.nn import fuse
from topogcn.nn.functional import TUNING


MODE = {"training": True}  # which statistics the reference's batch norms use


def batch_norm(x, m, sl=slice(None)):
    if MODE["training"]:
        return F.batch_norm(x, None, None, m.weight[sl], m.bias[sl], training=True, eps=m.eps)
    return F.batch_norm(x, m.running_mean[sl], m.running_var[sl], m.weight[sl], m.bias[sl],
                        training=False, eps=m.eps)


def bn(x, m):
    return batch_norm(x, m)


def conv(x, m):
    """A 1x1 or (k x 1) temporal convolution as the official Conv2d, from a
    module's parameters (a temporal stride of 1x1 convolutions included)."""
    stride = getattr(m, "temporal_stride", m.stride[0])
    return F.conv2d(x, m.weight, m.bias, stride=(stride, 1), padding=m.padding,
                    dilation=m.dilation)


def bn_slice(x, m, i, c):
    return batch_norm(x, m, slice(i * c, (i + 1) * c))


def ms_tc(x, m):
    """The official MS-TC: one branch at a time (1x1 conv, BN, ReLU, dilated
    5x1 conv or max-pool, BN; the strided 1x1 conv, BN), each from its slice
    of the fused parameters, concatenated, ReLU."""
    c, outs = m.branch_channels, []
    for i in range(len(m.dilations) + int(m.max_pool)):
        sl = slice(i * c, (i + 1) * c)
        h = F.relu(bn_slice(F.conv2d(x, m.expand.weight[sl], m.expand.bias[sl]),
                            m.expand_bn, i, c))
        if i < len(m.temporal):
            h = conv(h, m.temporal[i])
        else:
            h = F.max_pool2d(h, (3, 1), (m.stride, 1), (1, 0))
        outs.append(bn_slice(h, m.out_bn, i, c))
    outs.append(bn_slice(conv(x, m.pointwise_conv), m.out_bn, len(outs), c))
    return F.relu(torch.cat(outs, dim=1))


def unit(x, path):
    """The official ``down`` / block residual: identity or 1x1 conv + BN."""
    if path is None:
        return 0
    if isinstance(path, torch.nn.Identity):
        return x
    return bn(conv(x, path.conv), path.bn)


def sa_gc(x, g, norm, down):
    """The official SA_GC on x [B, C, T, V]."""
    B, C, T, V = x.shape
    H = g.heads
    y = F.layer_norm(x.permute(0, 2, 3, 1), (C,), g.norm.weight, g.norm.bias, g.norm.eps)
    q, k = F.linear(y, g.lin_qk.weight, g.lin_qk.bias).chunk(2, dim=-1)
    q = q.reshape(B * T, V, H, -1).transpose(1, 2)  # (b t) h v d
    k = k.reshape(B * T, V, H, -1).transpose(1, 2)
    attn = torch.einsum("bhid,bhjd->bhij", q, k).mul(q.size(-1) ** -0.5).softmax(dim=-1)
    A = attn * g.topology.unsqueeze(0)
    xs = x.permute(0, 2, 3, 1).reshape(B * T, V, C)
    out = 0
    for h in range(H):
        z = (A[:, h] @ xs).reshape(B, T, V, C).permute(0, 3, 1, 2)
        out = out + F.conv2d(z, g.weight[h].t()[:, :, None, None])  # conv_d[h], bias below
    out = out + g.bias.view(1, -1, 1, 1)  # the heads' biases, summed
    return F.relu(bn(out, norm) + unit(x, down))


def reference(model, x):
    N, M, T, V, C = x.shape
    e = model.embedding
    h = F.linear(x.reshape(N * M * T, V, C), e.lin.weight, e.lin.bias) + e.pos_embedding
    D = h.size(-1)
    h = h.reshape(N, M, T, V, D).permute(0, 1, 3, 4, 2).reshape(N, M * V * D, T)  # n (m v c) t
    h = batch_norm(h, model.data_bn)
    h = h.reshape(N, M, V, D, T).permute(0, 1, 3, 4, 2).reshape(N * M, D, T, V)  # (n m) c t v
    for blk in model.blocks:
        g = sa_gc(h, blk.gcn, blk.gcn_norm, blk.down)
        t = ms_tc(g, blk.tcn)
        h = F.relu(t + unit(h, blk.residual))
    c = h.size(1)
    pooled = h.reshape(N, M, c, -1).mean(3).mean(1)
    f = F.relu(F.linear(pooled, model.fc[0].weight, model.fc[0].bias))
    mu = F.linear(f, model.fc_mu.weight, model.fc_mu.bias)
    logvar = F.linear(f, model.fc_logvar.weight, model.fc_logvar.bias)
    if MODE["training"]:
        std = logvar.mul(model.noise_ratio).exp().clamp(max=100)
        z = torch.empty_like(std).normal_().mul(std) + mu
    else:
        z = mu
    return F.linear(z, model.classifier.weight, model.classifier.bias)


@pytest.mark.parametrize("num_person, strides", [(2, [1, 2, 1]), (1, [2, 1, 2])])
def test_whole_model_training_mode_parity(num_person, strides):
    torch.manual_seed(0)
    model = GECN(num_classes=5, skeleton="ntu25", num_person=num_person,
                 channels=[16, 32, 32], strides=strides, noise_ratio=0.5).double().train()
    with torch.no_grad():  # a model that has trained: no parameter at its initial value
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(3, num_person, 12, 25, 3, dtype=torch.float64)
    w = torch.randn(3, 5, dtype=torch.float64)

    torch.manual_seed(7)
    ours = model(x)
    grads = torch.autograd.grad((ours * w).sum(), list(model.parameters()))
    torch.manual_seed(7)
    ref = reference(model, x)
    ref_grads = torch.autograd.grad((ref * w).sum(), list(model.parameters()))

    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
    for (name, _), a, b in zip(model.named_parameters(), grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9, msg=name)


@pytest.mark.parametrize("path", ["fused", "fused, chunks of 2 samples", "eval",
                                  "eval, autograd"])
def test_whole_model_evaluation_mode_parity(path, monkeypatch):
    """Evaluation: the running statistics, applied after each convolution
    by the reference; z = mu.  ``topogcn.nn.fuse`` (the batch norms folded
    into the convolutions and S-GC, residuals in place, also in chunks of
    samples), and the model itself in evaluation mode, with and without
    autograd; fusing leaves the model as it was."""
    if "chunks" in path:  # 2 samples of 2 persons, 12 frames, 25 joints, 16 channels
        monkeypatch.setattr(TUNING, "inference_chunk_elements", 2 * 2 * 12 * 25 * 16)
    torch.manual_seed(0)
    model = GECN(num_classes=5, skeleton="ntu25", num_person=2, channels=[16, 32, 32],
                 strides=[1, 2, 1]).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(3, 2, 12, 25, 3, dtype=torch.float64)
    if path == "eval, autograd":
        ours = model(x).detach()
    elif path == "eval":
        with torch.inference_mode():
            ours = model(x)
    else:
        fused = fuse(model)
        norms = [m for m in fused.blocks.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert not norms and fused.chunked and not model.chunked
        with torch.inference_mode():
            ours = fused(x)
        for k, v in model.state_dict().items():
            assert torch.equal(v, state[k]), k
    MODE["training"] = False
    try:
        with torch.no_grad():
            ref = reference(model, x)
    finally:
        MODE["training"] = True
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
