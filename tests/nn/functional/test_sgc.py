"""The dense S-GC kernels against the plain formula, written here with
einsum: every kernel :func:`dense_sgc` can choose (plain, checkpointed,
inference in one or several blocks of frames, traced), values and
gradients, with and without attention, on the complete graph and on edges
with duplicates."""
import pytest
import torch

from topogcn.nn.functional import TUNING, dense_sgc
from topogcn.nn.functional import aggregation, sgc
from topogcn.nn.functional.sgc import edge_counts


def plain_sgc(x, q, k, topology, weight, bias, count):
    """sum_m (A^m * softmax(q k^T + log count)) x W^m + b; non-edges get
    nothing, a target without edges gets the bias."""
    V = x.size(1)
    edges = torch.ones(V, V, dtype=torch.bool) if count is None else count > 0
    if q is None:
        a = (edges.to(x.dtype) if count is None else count).expand(x.size(0), topology.size(0),
                                                                   V, V)
    else:
        s = torch.einsum("bihd,bjhd->bhij", q, k)
        if count is not None:
            s = s + count.clamp_min(1e-300).log()
        a = torch.softmax(s.masked_fill(~edges, float("-inf")), -1).nan_to_num(0.0)
    out = torch.einsum("hij,bhij,bjc,hcd->bid", topology, a, x, weight)
    return out if bias is None else out + bias


def inputs(cin, cout, attention, B=8, V=6, H=3, D=2):
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64)
    x = torch.randn(B, V, cin, **f64)
    q = torch.randn(B, V, H, D, **f64) if attention else None
    k = torch.randn(B, V, H, D, **f64) if attention else None
    return x, q, k, torch.rand(H, V, V, **f64) + 0.5, torch.randn(H, cin, cout, **f64), \
        torch.randn(cout, **f64)


def graphs(V=6):
    ei = torch.tensor([[0, 1, 2, 3, 1, 1, 4], [1, 2, 3, 2, 0, 0, 4]])  # 1->0 twice; 5 alone
    return {"complete": None, "edges": edge_counts(ei, V, torch.float64, torch.device("cpu"))}


@pytest.mark.parametrize("cin,cout", [(4, 5), (5, 4)])  # aggregate-first, transform-first
@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("graph", ["complete", "edges"])
@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize("frames_per_block", [None, 3])  # 8 frames as 3 + 3 + 2
def test_training_kernels_equal_the_plain_formula(cin, cout, attention, graph, checkpoint,
                                                  frames_per_block, monkeypatch):
    x, q, k, topo, w, b = inputs(cin, cout, attention)
    count = graphs()[graph]
    if frames_per_block:
        monkeypatch.setattr(TUNING, "block_elements", frames_per_block * 6 * 3 * 6)
    leaves = [t.requires_grad_() for t in (x, q, k, topo, w, b) if t is not None]
    out = dense_sgc(x, q, k, topo, w, b, count, checkpoint=checkpoint)
    ref = plain_sgc(x, q, k, topo, w, b, count)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(out)
    for a, r in zip(torch.autograd.grad(out, leaves, g), torch.autograd.grad(ref, leaves, g)):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-11)


@pytest.mark.parametrize("cin,cout", [(4, 5), (5, 4)])
@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("graph", ["complete", "edges"])
@pytest.mark.parametrize("frames_per_block", [None, 1, 3])
@pytest.mark.parametrize("traced", [False, True])
def test_inference_kernel_equals_the_plain_formula(cin, cout, attention, graph,
                                                   frames_per_block, traced, monkeypatch):
    x, q, k, topo, w, b = inputs(cin, cout, attention)
    count = graphs()[graph]
    if frames_per_block:
        monkeypatch.setattr(TUNING, "inference_block_pairs", frames_per_block * 6 * 6)
    if traced:  # the functional one-block form that torch.export and ONNX see
        for module in (sgc, aggregation):
            monkeypatch.setattr(module, "is_tracing", lambda: True)
    with torch.inference_mode():
        out = dense_sgc(x, q, k, topo, w, b, count)
    torch.testing.assert_close(out, plain_sgc(x, q, k, topo, w, b, count), rtol=0, atol=1e-12)


def test_the_plain_formulation_is_used_off_the_cpu(monkeypatch):
    """On a device without tuned kernels (CUDA until one is measured faster
    there) the kernel is the batched formula: here the CPU, untuned."""
    monkeypatch.setattr(TUNING, "blocked_devices", ())
    called = []
    monkeypatch.setattr(sgc, "dense_sgc_inference", lambda *a: called.append(a))
    monkeypatch.setattr(sgc, "head_aggregation", lambda *a: called.append(a))
    x, q, k, topo, w, b = inputs(4, 5, True)
    with torch.inference_mode():
        out = dense_sgc(x, q, k, topo, w, b)
    out2 = dense_sgc(x, q, k, topo, w, b)
    assert not called
    for o in (out, out2):
        torch.testing.assert_close(o, plain_sgc(x, q, k, topo, w, b, None), rtol=0, atol=1e-12)


def test_dropout_drops_coefficients_only_while_training():
    x, q, k, topo, w, b = inputs(4, 5, True)
    torch.manual_seed(1)
    dropped = dense_sgc(x, q, k, topo, w, b, dropout=0.5, training=True)
    kept = dense_sgc(x, q, k, topo, w, b, dropout=0.5, training=False)
    torch.testing.assert_close(kept, plain_sgc(x, q, k, topo, w, b, None), rtol=0, atol=1e-12)
    assert not torch.allclose(dropped, kept)
