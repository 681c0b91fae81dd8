import pytest
import torch
import torch_geometric.typing

from topogcn.nn import SGConv
from topogcn.nn.functional import TUNING
from topogcn.skeleton import Skeleton, get_skeleton


def reference_sgc(conv, x, edge_index=None):
    """Eq. 3-5 written independently with plain einsum on dense matrices,
    fed the layer's own weights.  edge_index restricts attention and
    aggregation to those edges (a mask on the dense matrices)."""
    V, H, D = conv.num_nodes, conv.heads, conv.head_channels
    if edge_index is None:
        mask = torch.ones(V, V, dtype=torch.bool)
    else:
        mask = torch.zeros(V, V, dtype=torch.bool)
        mask[edge_index[1], edge_index[0]] = True  # mask[target, source]
    if conv.attention:
        xn = torch.nn.functional.layer_norm(x, (x.shape[-1],), conv.norm.weight, conv.norm.bias,
                                            conv.norm.eps)
        qk = xn @ conv.lin_qk.weight.t() + conv.lin_qk.bias
        q, k = qk[..., :H * D], qk[..., H * D:]
        q = q.reshape(*x.shape[:-1], H, D)
        k = k.reshape(*x.shape[:-1], H, D)
        s = torch.einsum("...ihd,...jhd->...hij", q, k) / D ** 0.5
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=-1).nan_to_num(0.0)
    else:
        a = mask.to(x.dtype).expand(*x.shape[:-2], H, V, V)
    A = conv.topology * a  # [..., H, V, V]
    out = torch.einsum("...hij,...jc,hcd->...id", A, x, conv.weight)
    if conv.bias is not None:
        out = out + conv.bias
    return out, a


def make_conv(cin, cout, V, **kw):
    torch.manual_seed(0)
    conv = SGConv(cin, cout, V, **kw)
    with torch.no_grad():  # a non-trivial topology, so that every edge matters
        conv.topology.uniform_(0.5, 1.5)
        if conv.bias is not None:
            conv.bias.uniform_(-1, 1)
    return conv


@pytest.mark.parametrize("cin,cout", [(8, 16), (16, 8), (12, 12)])
@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize("edges", ["none", "complete", "khop2", "bones"])
def test_matches_einsum_reference(cin, cout, backend, edges):
    s = get_skeleton("ntu25")
    ei = {"none": None, "complete": s.complete_edge_index(),
          "khop2": s.k_hop_edge_index(2), "bones": s.k_hop_edge_index(1)}[edges]
    conv = make_conv(cin, cout, 25, backend=backend)
    x = torch.randn(3, 5, 25, cin, requires_grad=True)
    out = conv(x, ei)
    ref, _ = reference_sgc(conv, x, ei)
    assert out.shape == (3, 5, 25, cout)
    assert torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(out)
    grads = torch.autograd.grad((out * g).sum(), [x] + list(conv.parameters()))
    grads_ref = torch.autograd.grad((ref * g).sum(), [x] + list(conv.parameters()),
                                    allow_unused=True)
    for a, b in zip(grads, grads_ref):
        b = torch.zeros_like(a) if b is None else b
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


@pytest.mark.parametrize("cin,cout", [(8, 16), (16, 8)])
@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("edges", ["none", "khop2_duplicated"])
@pytest.mark.parametrize("frames_per_block", [3, None])
def test_inference_and_checkpointed_paths_match_the_reference(cin, cout, attention, edges,
                                                              frames_per_block, monkeypatch):
    """Without autograd the dense path runs its own kernel; with
    ``checkpoint=True`` it recomputes the attention in backward: both give
    the reference's outputs, the checkpointed one its gradients too,
    whether the frames go in one block or several (3 per block: 3 + 3 + 2).
    The kernels themselves are tested in ``tests/nn/functional``."""
    if frames_per_block:
        monkeypatch.setattr(TUNING, "inference_block_pairs", 25 * 25 * frames_per_block)
    ei = None
    if edges != "none":
        ei = get_skeleton("ntu25").k_hop_edge_index(2)
        ei = torch.cat([ei, ei[:, :7]], dim=1)  # duplicated edges count twice
    conv = make_conv(cin, cout, 25, attention=attention, backend="dense").double()
    x = torch.randn(2, 4, 25, cin, dtype=torch.float64)
    plain = conv(x, ei)
    with torch.inference_mode():
        fast = conv(x, ei)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-12)
    if ei is None:
        ref, _ = reference_sgc(conv, x)
        torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)

    params = [p for p in conv.parameters()]
    xx = x.clone().requires_grad_()
    grads = torch.autograd.grad(conv(xx, ei).square().sum(), [xx] + params)
    conv.checkpoint = True
    xx = x.clone().requires_grad_()
    out = conv(xx, ei)
    torch.testing.assert_close(out, plain, rtol=0, atol=1e-12)
    grads_ckpt = torch.autograd.grad(out.square().sum(), [xx] + params)
    for a, b in zip(grads, grads_ckpt):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("mode", ["bfloat16", "float32", "bf16-autocast"])
def test_inference_path_in_low_precision(mode):
    """The path without autograd (queries and keys as one convolution with
    the query scale in its weights, scores head by head) in bfloat16, in
    float32 and under bfloat16 autocast, against the float64 reference."""
    conv = make_conv(16, 24, 25, backend="dense")
    x = torch.randn(5, 25, 16)
    ref, _ = reference_sgc(conv.double(), x.double())
    conv = conv.float() if mode != "bfloat16" else conv.to(torch.bfloat16)
    x = x.to(torch.bfloat16) if mode == "bfloat16" else x
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                enabled=mode == "bf16-autocast"):
        out = conv(x)
    assert out.dtype == (torch.float32 if mode == "float32" else torch.bfloat16)
    tol = 1e-5 if mode == "float32" else 0.05
    assert (out.double() - ref).abs().max() <= tol * ref.abs().max()


def test_locality_bone_edges():
    s = Skeleton("chain", 6, [(i, i + 1) for i in range(5)])
    ei = s.edge_index  # bones only, no self loops
    for backend in ("dense", "sparse"):
        conv = make_conv(4, 4, 6, backend=backend)
        x = torch.randn(6, 4, requires_grad=True)
        for i in range(6):
            (grad,) = torch.autograd.grad(conv(x, ei)[i].sum(), x)
            touched = set(grad.abs().sum(-1).nonzero().flatten().tolist())
            neighbours = {j for j in range(6) if abs(j - i) == 1}
            # the query of i itself also matters through the softmax
            assert touched <= neighbours | {i}
            assert neighbours <= touched


@pytest.mark.parametrize("case", ["ntu25_complete", "openpose137_khop", "random_isolated",
                                  "duplicates"])
@pytest.mark.parametrize("lead", [(), (4,), (2, 3), (2, 2, 2)])
def test_backend_parity(case, lead):
    torch.manual_seed(1)
    if case == "ntu25_complete":
        V, ei = 25, get_skeleton("ntu25").complete_edge_index()
    elif case == "openpose137_khop":
        V, ei = 137, get_skeleton("openpose137").k_hop_edge_index(2)
    elif case == "random_isolated":
        V = 30
        ei = torch.randint(0, 20, (2, 120))  # joints 20..29 get no edge at all
    else:
        V = 10
        ei = torch.cat([get_skeleton("ntu25").subset(range(10)).edge_index] * 2, dim=1)
    conv = make_conv(8, 12, V)
    x = torch.randn(*lead, V, 8, requires_grad=True)
    outs, grads, alphas = [], [], []
    for backend in ("dense", "sparse"):
        conv.backend = backend
        out, (ei_out, alpha) = conv(x, ei, return_attention_weights=True)
        assert torch.equal(ei_out, ei)
        assert alpha.shape == (*lead, ei.size(1), 3)
        outs.append(out)
        alphas.append(alpha)
        grads.append(torch.autograd.grad(out.square().sum(), [x] + list(conv.parameters())))
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert torch.allclose(alphas[0], alphas[1], atol=1e-6)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-4)
    if case == "random_isolated":
        assert torch.equal(outs[0][..., 20:, :], conv.bias.expand_as(outs[0][..., 20:, :]))
    if case == "duplicates":
        ref, _ = reference_sgc(conv, x, None)  # not equal: duplicates count twice
        assert not torch.allclose(outs[0], ref, atol=1e-3)


def test_state_dict_moves_between_backends():
    ei = get_skeleton("openpose137").k_hop_edge_index(1)
    a = make_conv(6, 6, 137, backend="dense")
    b = SGConv(6, 6, 137, backend="sparse")
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 137, 6)
    assert torch.allclose(a(x, ei), b(x, ei), atol=1e-5)


def test_gradcheck_float64():
    s = Skeleton("tri", 4, [(0, 1), (1, 2), (2, 3)])
    for backend in ("dense", "sparse"):
        conv = make_conv(3, 2, 4, heads=2, backend=backend).double()
        x = torch.randn(2, 4, 3, dtype=torch.double, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: conv(t, s.k_hop_edge_index(2)), (x,))
        assert torch.autograd.gradcheck(lambda t: conv(t, None), (x,))


def test_attention_false_drops_attention():
    s = get_skeleton("ntu25")
    conv = make_conv(8, 8, 25, attention=False)
    names = {n for n, _ in conv.named_parameters()}
    assert names == {"weight", "topology", "bias"}
    with_att = SGConv(8, 8, 25)
    assert sum(p.numel() for p in with_att.parameters()) > sum(
        p.numel() for p in conv.parameters())
    x = torch.randn(2, 25, 8)
    ei = s.k_hop_edge_index(1)
    ref, _ = reference_sgc(conv, x, ei)
    for backend in ("dense", "sparse"):
        conv.backend = backend
        out, (_, alpha) = conv(x, ei, return_attention_weights=True)
        assert torch.allclose(out, ref, atol=1e-5)
        assert torch.equal(alpha, torch.ones_like(alpha))
    assert "attention=False" in repr(conv)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_attention_weights_are_normalised(backend):
    s = get_skeleton("openpose137")
    ei = s.k_hop_edge_index(2)
    conv = make_conv(5, 5, 137, backend=backend)
    x = torch.randn(3, 137, 5)
    _, (_, alpha) = conv(x, ei, return_attention_weights=True)
    sums = torch.zeros(3, 137, 3).index_add_(1, ei[1], alpha)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    assert (alpha >= 0).all()


def test_auto_backend_choice():
    """``"auto"``: per-edge messages below the density threshold on more
    than 32 joints, the dense kernel otherwise (seen by which hook fires)."""
    def path(conv, ei, V):
        seen = []
        h1 = conv.register_message_and_aggregate_forward_hook(lambda *a: seen.append("dense"))
        h2 = conv.register_aggregate_forward_hook(lambda *a: seen.append("sparse"))
        conv(torch.randn(2, V, 4), ei)
        h1.remove(), h2.remove()
        return seen

    sparse_ei = torch.randint(0, 500, (2, 2000))  # 0.8% of V^2
    assert path(SGConv(4, 4, 500), sparse_ei, 500) == ["sparse"]
    assert path(SGConv(4, 4, 500), None, 500) == ["dense"]
    assert path(SGConv(4, 4, 25), sparse_ei[:, :10] % 25, 25) == ["dense"]


def test_reset_and_topology_init():
    conv = SGConv(8, 8, 5, heads=2)
    assert torch.equal(conv.topology, torch.eye(5).expand(2, 5, 5))
    adj = get_skeleton("ntu25").subset(range(5)).adjacency("sym", self_loops=True)
    conv = SGConv(8, 8, 5, heads=2, topology_init=adj)
    with torch.no_grad():
        conv.topology.zero_()
    conv.reset_parameters()
    assert torch.equal(conv.topology[1], adj)
    with pytest.raises(ValueError, match=r"shape \[5, 5\] or \[2, 5, 5\]"):
        SGConv(8, 8, 5, heads=2, topology_init=torch.ones(4, 4))
    with pytest.raises(ValueError, match="topology_init must be one of"):
        SGConv(8, 8, 5, topology_init="random")


def test_repr_and_bad_input():
    conv = SGConv(16, 32, 25)
    assert repr(conv) == "topogcn.nn.SGConv(16, 32, num_nodes=25, heads=3)"
    with pytest.raises(ValueError, match=r"expected x of shape \[\.\.\., 25, 16\].*\[2, 24, 16\]"):
        conv(torch.randn(2, 24, 16))
    with pytest.raises(ValueError, match=r"edge_index must be an integer tensor of shape \[2, E\]"):
        conv(torch.randn(2, 25, 16), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="backend must be one of"):
        SGConv(4, 4, 4, backend="cuda")
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        SGConv(0, 4, 4)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_torch_compile_fullgraph(backend):
    ei = get_skeleton("ntu25").k_hop_edge_index(2)
    conv = make_conv(8, 8, 25, backend=backend)
    x = torch.randn(2, 25, 8)
    torch._dynamo.reset()
    compiled = torch.compile(conv, fullgraph=True)
    assert torch.allclose(compiled(x, ei), conv(x, ei), atol=1e-5)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-10),
                                         (torch.bfloat16, 0.1)])
@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_dtypes_and_devices(device, dtype, atol, backend):
    ei = get_skeleton("ntu25").k_hop_edge_index(2)
    conv = make_conv(8, 12, 25, backend=backend).to(device, dtype)
    x = torch.randn(3, 25, 8, device=device, dtype=dtype, requires_grad=True)
    out, (_, alpha) = conv(x, ei.to(device), return_attention_weights=True)
    assert out.dtype == dtype and out.device.type == device
    with torch.no_grad():
        ref64 = make_conv(8, 12, 25, backend=backend).double()
        ref, _ = reference_sgc(ref64, x.detach().double().cpu(), ei)
    assert torch.allclose(out.double().cpu(), ref, atol=atol * max(1.0, float(ref.abs().max())))
    out.float().square().sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_edge_indices_are_checked(backend):
    conv = make_conv(8, 8, 25, backend=backend)
    ei = get_skeleton("ntu25").k_hop_edge_index(1).clone()
    x = torch.randn(2, 25, 8)
    for bad in (99, -1):
        e = ei.clone()
        e[0, 7] = bad
        with pytest.raises(ValueError, match=rf"edge 7 \({bad} -> \d+\) has a joint index "
                                             r"outside 0..24 \(num_nodes=25\)"):
            conv(x, e)


def test_unsupported_aggregation_is_refused():
    with pytest.raises(ValueError, match="aggr='mean' is not supported"):
        SGConv(8, 8, 25, aggr="mean")
    assert SGConv(8, 8, 25, aggr="add").aggr == "add"


def set_mask(conv, mask, apply_sigmoid=False):
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
    wrapper = torch.nn.Sequential(conv)
    clear_masks(wrapper)
    set_masks(wrapper, mask, torch.zeros(2, mask.numel(), dtype=torch.long),
              apply_sigmoid=apply_sigmoid)


@pytest.mark.parametrize("edges", ["complete", "khop2"])
def test_edge_mask_in_callers_order_on_both_paths(edges):
    from torch_geometric.explain.algorithm.utils import clear_masks
    s = get_skeleton("ntu25")
    ei = s.complete_edge_index() if edges == "complete" else s.k_hop_edge_index(2)
    x = torch.randn(2, 25, 8)
    mask = torch.rand(ei.size(1))
    perm = torch.randperm(ei.size(1))
    results = {}
    for backend in ("dense", "sparse"):
        conv = make_conv(8, 12, 25, backend=backend)
        plain = conv(x, ei)
        set_mask(conv, torch.ones(ei.size(1)))
        torch.testing.assert_close(conv(x, ei), plain)  # an all-ones mask changes nothing
        set_mask(conv, mask)
        a = conv(x, ei)
        set_mask(conv, mask[perm])  # the same mask on the same edges in another order
        b = conv(x, ei[:, perm])
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        clear_masks(torch.nn.Sequential(conv))
        results[backend] = a
        # the masked output is the reference with every message scaled by its mask
        _, att = reference_sgc(conv, x, ei)
        w = torch.zeros(25, 25)
        w[ei[1], ei[0]] = mask
        A = conv.topology * att * w
        ref = torch.einsum("...hij,...jc,hcd->...id", A, x, conv.weight) + conv.bias
        torch.testing.assert_close(a, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(results["dense"], results["sparse"], rtol=1e-5, atol=1e-5)


def test_explainer_on_a_small_skeleton_model():
    from torch_geometric.explain import Explainer, GNNExplainer

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SGConv(3, 8, 5, heads=2)
            self.out = torch.nn.Linear(8, 4)

        def forward(self, x, edge_index):
            return self.out(self.conv(x, edge_index).relu().mean(-2, keepdim=True))

    skel = Skeleton("five", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1)
    ei = skel.k_hop_edge_index(1)
    torch.manual_seed(0)
    model = Tiny().eval()
    x = torch.randn(5, 3)
    explainer = Explainer(model, algorithm=GNNExplainer(epochs=20), explanation_type="model",
                          node_mask_type="attributes", edge_mask_type="object",
                          model_config=dict(mode="multiclass_classification",
                                            task_level="graph", return_type="raw"))
    expl = explainer(x, ei)
    assert expl.edge_mask.shape == (ei.size(1),) and torch.isfinite(expl.edge_mask).all()
    assert expl.edge_mask.min() >= 0 and expl.edge_mask.max() <= 1
    assert float(expl.edge_mask.std()) > 0  # the edges are told apart
    torch.testing.assert_close(model(x, ei), model(x, ei))  # masks cleared afterwards


@pytest.mark.scatter
@pytest.mark.skipif(not torch_geometric.typing.WITH_TORCH_SCATTER,
                    reason="torch-scatter is not installed (pip install topogcn[scatter])")
@pytest.mark.parametrize("V,k", [(25, 25), (137, 2)])
def test_torch_scatter_matches_native(monkeypatch, V, k):
    skel = get_skeleton("ntu25" if V == 25 else "openpose137")
    ei = skel.k_hop_edge_index(k)
    conv = make_conv(8, 12, V, backend="sparse")
    x = torch.randn(4, V, 8, requires_grad=True)
    results = []
    for flag in (True, False):
        monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SCATTER", flag)
        out, (_, alpha) = conv(x, ei, return_attention_weights=True)
        grads = torch.autograd.grad(out.square().sum(), [x] + list(conv.parameters()))
        results.append((out, alpha, grads))
    (o1, a1, g1), (o2, a2, g2) = results
    assert torch.allclose(o1, o2, atol=1e-5) and torch.allclose(a1, a2, atol=1e-6)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_message_hooks_see_every_message_on_both_backends(backend):
    ei = get_skeleton("ntu25").k_hop_edge_index(1)
    conv = make_conv(8, 12, 25, backend=backend)
    x = torch.randn(2, 25, 8)
    plain = conv(x, ei)
    seen = []
    handle = conv.register_message_forward_hook(lambda mod, inputs, out: seen.append(out.shape))
    torch.testing.assert_close(conv(x, ei), plain, rtol=1e-5, atol=1e-5)
    handle.remove()
    assert len(seen) == 1 and seen[0][:2] == (ei.size(1), 2)
    conv(x, ei)
    assert len(seen) == 1  # removed: the layer is back on its own path


def test_qk_init_normal_as_the_reference_or_scaled_uniform():
    torch.manual_seed(0)
    ref = SGConv(32, 16, num_nodes=5, heads=2)
    assert ref.qk_init == "normal" and abs(float(ref.lin_qk.weight.std()) - 1.0) < 0.1
    scaled = SGConv(32, 16, num_nodes=5, heads=2, qk_init="uniform")
    bound = 1 / 32 ** 0.5
    assert float(scaled.lin_qk.weight.abs().max()) <= bound
    assert float(scaled.lin_qk.weight.std()) > 0.5 * bound / 3 ** 0.5
    with pytest.raises(ValueError, match="qk_init"):
        SGConv(8, 8, num_nodes=5, qk_init="xavier")


@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize("mode", ["train", "eval", "no_grad", "checkpoint"])
@pytest.mark.parametrize("edges", ["complete", "khop1"])
def test_propagate_pre_hook_fires_on_every_path(backend, mode, edges):
    """Every path runs through ``propagate``: a pre-hook sees the call, and
    may change its inputs (here: zero the features on the dense path, the
    values on the per-edge path), whatever the path."""
    ei = None if edges == "complete" else get_skeleton("ntu25").k_hop_edge_index(1)
    conv = make_conv(8, 12, 25, backend=backend, checkpoint=mode == "checkpoint")
    conv.train(mode != "eval")
    calls = []

    def zero_inputs(module, inputs):
        edge_index, size, kwargs = inputs
        calls.append(edge_index.layout)
        for name in ("x", "value"):
            if kwargs[name] is not None:
                kwargs[name] = torch.zeros_like(kwargs[name])
        return edge_index, size, kwargs

    conv.register_propagate_forward_pre_hook(zero_inputs)
    x = torch.randn(2, 25, 8, requires_grad=mode != "no_grad")
    with torch.set_grad_enabled(mode != "no_grad"):
        out = conv(x, ei)
    assert len(calls) == 1
    assert calls[0] == (torch.sparse_coo if backend == "dense" else torch.strided)
    torch.testing.assert_close(out, conv.bias.expand_as(out).detach())


def test_attention_explainer_on_a_pyg_graph():
    """``torch_geometric.explain.AttentionExplainer`` reads every layer's
    ``alpha`` ``[E, M]`` on a plain PyG graph (``x: [num_nodes, C]``)."""
    from torch_geometric.explain import AttentionExplainer, Explainer

    class TwoLayers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = SGConv(3, 8, 6, heads=2)
            self.conv2 = SGConv(8, 8, 6, heads=2)
            self.out = torch.nn.Linear(8, 3)

        def forward(self, x, edge_index):
            h = self.conv2(self.conv1(x, edge_index).relu(), edge_index).relu()
            return self.out(h.mean(0, keepdim=True))

    torch.manual_seed(0)
    model = TwoLayers().eval()
    ei = Skeleton("chain", 6, [(i, i + 1) for i in range(5)]).k_hop_edge_index(1)
    x = torch.randn(6, 3)
    explainer = Explainer(model, algorithm=AttentionExplainer(reduce="max"),
                          explanation_type="model", edge_mask_type="object",
                          model_config=dict(mode="multiclass_classification",
                                            task_level="graph", return_type="raw"))
    expl = explainer(x, ei)
    _, (_, a1) = model.conv1(x, ei, return_attention_weights=True)
    _, (_, a2) = model.conv2(model.conv1(x, ei).relu(), ei, return_attention_weights=True)
    expected = torch.stack([a1.max(-1).values, a2.max(-1).values], -1).max(-1).values
    torch.testing.assert_close(expl.edge_mask, expected)
    assert expl.edge_mask.shape == (ei.size(1),)
