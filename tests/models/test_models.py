import pytest
import torch

from topogcn.models import GECN, STGCN, LatentMMDLoss, create_model, list_models
from topogcn.skeleton import Skeleton, get_skeleton

SMALL = dict(channels=(8, 16), strides=(1, 2))
FIVE = Skeleton("five_test", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1)


def count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("skeleton,M,C", [
    ("ntu25", 2, 3), ("openpose137", 1, 3),
    (get_skeleton("openpose137").subset(["upper_body", "left_hand"]), 1, 3),
    (FIVE, 1, 2),
])
@pytest.mark.parametrize("name", ["gecn", "gecn_baseline", "stgcn"])
def test_shapes_on_every_skeleton(skeleton, M, C, name):
    kw = SMALL if name != "stgcn" else dict(channels=(8, 16), strides=(1, 2))
    model = create_model(name, num_classes=7, skeleton=skeleton, in_channels=C, num_person=M,
                         **kw)
    V = get_skeleton(skeleton).num_nodes
    x = torch.randn(3, M, 12, V, C)
    assert model(x).shape == (3, 7)
    if name != "stgcn":  # ST-GCN is a plain classifier, without a latent head
        out = model.encode(x)
        assert out.z.shape == (3, model.latent_dim)


def test_sparse_edges_config():
    model = GECN(5, "openpose137", num_person=1, edges=2, **SMALL)
    assert model.edge_index.shape[1] == get_skeleton("openpose137").k_hop_edge_index(2).shape[1]
    assert model(torch.randn(2, 1, 8, 137, 3)).shape == (2, 5)
    with pytest.raises(ValueError, match="edges must be"):
        GECN(5, "ntu25", edges="khop")


def test_reference_parameter_counts():
    assert count(GECN(60, "ntu25", num_person=2)) == 1_554_119
    assert abs(count(GECN(60, "ntu25", num_person=2)) / 1_556_807 - 1) < 0.02
    assert count(GECN(17, "ntu25", num_person=1)) == 1_539_868
    assert count(GECN(32, "openpose137", num_person=1)) == 2_055_115


def test_attention_false_removes_attention_parameters():
    full = GECN(10, "ntu25", **SMALL)
    base = GECN(10, "ntu25", attention=False, **SMALL)
    names = {n for n, _ in base.named_parameters()}
    assert not any("lin_qk" in n or ".norm." in n for n in names)
    assert any("lin_qk" in n for n, _ in full.named_parameters())
    removed = sum(p.numel() for n, p in full.named_parameters()
                  if "lin_qk" in n or "gcn.norm" in n)
    assert count(full) - count(base) == removed > 0


@pytest.mark.parametrize("num_person", [1, 2])
def test_embedded_input_is_contiguous_for_the_blocks(num_person):
    """The blocks work on contiguous ``(N*M, T, V, D)``: the data batch norm's
    permuted layout would meet contiguous tensors in the first block's sums
    (and their gradients), the slow mixed-layout path."""
    model = GECN(4, "ntu25", num_person=num_person, **SMALL)
    assert model._embed(torch.randn(2, num_person, 6, 25, 3)).is_contiguous()


def test_latent_is_mu_in_eval_and_stochastic_in_train():
    torch.manual_seed(0)
    model = GECN(4, "ntu25", **SMALL)
    x = torch.randn(2, 2, 8, 25, 3)
    model.train()
    a, b = model.encode(x), model.encode(x)
    assert not torch.allclose(a.z, b.z)
    model.eval()
    c, d = model.encode(x), model.encode(x)
    assert torch.equal(c.z, c.mu) and torch.equal(c.z, d.z)
    assert torch.equal(model(x), model(x))


def test_latent_std_is_the_reference_and_stays_finite_where_it_overflows():
    from topogcn.models.gecn import latent_std

    rho = 0.5
    lv = torch.tensor([-30.0, 0.0, 5.0, 9.2, 9.3, 50.0, 170.0], dtype=torch.float64,
                      requires_grad=True)  # the reference is finite here
    ours = latent_std(lv, rho)
    ref = (lv * rho).exp().clamp(max=100)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    g, = torch.autograd.grad(ours.sum(), lv)
    g_ref, = torch.autograd.grad(ref.sum(), lv)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=0)
    assert g[-3:].eq(0).all() and g[2] > 0  # clamped: no gradient; below 100: exp's
    # float32 exponents above 88.7: the reference's gradient is NaN, ours zero
    big = torch.tensor([200.0, 1300.0], requires_grad=True)
    ref = (big * rho).exp().clamp(max=100)
    assert torch.autograd.grad(ref.sum(), big)[0].isnan().all()
    out = latent_std(big, rho)
    assert out.eq(100).all() and torch.autograd.grad(out.sum(), big)[0].eq(0).all()


def test_diverging_latent_variance_gives_finite_gradients():
    """One diverging SGD step (log-variance in the hundreds) must not turn
    every weight into NaN: the model's gradients stay finite."""
    torch.manual_seed(0)
    model = GECN(num_classes=4, skeleton="ntu25", num_person=1, channels=[8, 16],
                 strides=[1, 2], noise_ratio=0.5).train()
    with torch.no_grad():
        model.fc_logvar.bias.fill_(400.0)  # exp(0.5 * 400) overflows float32
    loss = model(torch.randn(2, 1, 8, 25, 3)).square().mean()
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("name", ["gecn", "gecn_baseline", "stgcn"])
def test_loss_decreases_on_tiny_overfit_batch(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, skeleton=FIVE, in_channels=3, num_person=1,
                         channels=(16, 16), strides=(1, 1))
    from topogcn.models import has_latent_head
    loss_fn = LatentMMDLoss.from_model(model) if has_latent_head(model) else None
    x = torch.randn(6, 1, 10, 5, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        if loss_fn is not None:  # the latent loss, as the engine trains it
            z = model.encode(x).z
            loss = loss_fn(model.classifier(z), z, y).loss
        else:  # a plain classifier: the cross-entropy
            loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_loss_terms_against_hand_computation():
    loss_fn = LatentMMDLoss(3, 2, label_smoothing=0.0, mmd_weight=0.5, z_mean_weight=0.25)
    loss_fn.prior.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    z = torch.tensor([[1.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    y = torch.tensor([0, 0, 1])
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t = loss_fn(logits, z, y)
    import math
    ce = (-(2 - math.log(math.exp(2) + 2)) - math.log(1 / 3) - (1 - math.log(math.e + 2))) / 3
    # class 0 mean (2, 1) vs prior (1, 0): 1 + 1; class 1 mean (0, 2) vs (0, 1): 1; class 2 absent
    mmd = (1 + 1 + 0 + 1) / (2 * 2)
    z_mean = math.hypot(4 / 3, 4 / 3)
    assert t.cls.item() == pytest.approx(ce, rel=1e-5)
    assert t.mmd.item() == pytest.approx(mmd)
    assert t.z_mean.item() == pytest.approx(z_mean, rel=1e-6)
    assert t.loss.item() == pytest.approx(ce + 0.5 * mmd + 0.25 * z_mean, rel=1e-5)


def test_loss_priors_orthogonal_with_gain():
    p = LatentMMDLoss(17, 256).prior
    assert torch.allclose(p @ p.t(), 9 * torch.eye(17), atol=1e-4)
    assert torch.equal(p, LatentMMDLoss(17, 256).prior)  # seeded


def test_label_smoothing_default():
    loss_fn = LatentMMDLoss(4, 2)
    logits = torch.tensor([[100.0, 0, 0, 0]])
    t = loss_fn(logits, torch.zeros(1, 2), torch.tensor([0]))
    assert t.cls.item() > 1.0  # label smoothing 0.1 penalises the over-confident logit


def test_state_dict_round_trip_and_deterministic_eval():
    a = GECN(5, "ntu25", **SMALL).eval()
    b = GECN(5, "ntu25", **SMALL).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 2, 8, 25, 3)
    assert torch.equal(a(x), b(x))


def test_torch_compile_model():
    model = GECN(5, "ntu25", **SMALL).eval()
    x = torch.randn(2, 2, 8, 25, 3)
    assert torch.allclose(torch.compile(model)(x), model(x), atol=1e-5)


def test_bad_input_shapes():
    model = GECN(5, "ntu25", **SMALL)
    with pytest.raises(ValueError, match=r"expected input of shape \[N, M, T, V=25, C=3\].*"
                                         r"got \[2, 8, 25, 3\]"):
        model(torch.randn(2, 8, 25, 3))
    with pytest.raises(ValueError, match=r"V=25.*got \[2, 2, 8, 24, 3\]"):
        model(torch.randn(2, 2, 8, 24, 3))
    with pytest.raises(ValueError, match=r"C=3.*got \[2, 2, 8, 25, 2\]"):
        model(torch.randn(2, 2, 8, 25, 2))
    with pytest.raises(ValueError, match=r"expected 2 persons"):
        model(torch.randn(2, 1, 8, 25, 3))
    with pytest.raises(ValueError, match=r"unknown model 'gcn'.*gecn"):
        create_model("gcn", num_classes=3, skeleton="ntu25")
    with pytest.raises(ValueError, match=r"Model 'gecn'.*colour"):
        create_model("gecn", num_classes=3, skeleton="ntu25", colour=1)


def test_registry_lists():
    assert list_models() == ["gecn", "gecn_baseline", "stgcn"]
    assert isinstance(create_model("stgcn", num_classes=2, skeleton="coco17"), STGCN)


def test_checkpoint_auto_for_large_skeletons():
    small = GECN(3, "ntu25", num_person=1, channels=[8], strides=[1])
    large = GECN(3, "openpose137", num_person=1, channels=[8], strides=[1])
    assert not small.checkpoint and not small.blocks[0].checkpoint
    assert large.checkpoint and large.blocks[0].gcn.checkpoint
    forced = GECN(3, "ntu25", num_person=1, channels=[8], strides=[1], checkpoint=True)
    assert forced.blocks[0].checkpoint
    with pytest.raises(ValueError, match="checkpoint must be"):
        GECN(3, "ntu25", checkpoint="yes")


def test_bf16_autocast_is_close_to_float32():
    """Mixed precision (what trainer.precision=bf16-mixed and the spotter's
    precision='bf16' run): float32 weights, bfloat16 products; the logits
    stay within bfloat16's resolution of the float32 ones."""
    torch.manual_seed(0)
    model = GECN(5, "ntu25", num_person=1, channels=[16, 32], strides=[1, 2]).eval()
    x = torch.randn(4, 1, 16, 25, 3)
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max()
    assert (low.float().argmax(1) == ref.argmax(1)).float().mean() >= 0.75
