"""PartitionGraphConv (ST-GCN's spatial convolution) against an independent
dense reference, with gradients, edge importance and explain masks."""
import pytest
import torch

from topogcn.nn import PartitionGraphConv
from topogcn.skeleton import get_skeleton


def reference(conv, partition, x):
    """x_i' = sum_k sum_j (M_k * A_k)[i, j] x_j W_k + b, dense, from the docs."""
    K, V, _ = partition.shape
    M = torch.zeros(K, V, V, dtype=x.dtype)
    src, tgt = conv.edge_index
    M[:, tgt, src] = conv.importance.t() if conv.importance is not None else 1.0
    W = conv.weight.view(conv.in_channels, K, conv.out_channels)
    out = torch.einsum("kij,...jc,ckd->...id", partition.to(x.dtype) * M, x, W)
    return out if conv.bias is None else out + conv.bias


@pytest.mark.parametrize("importance", [True, False])
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_matches_dense_reference_with_gradients(importance, lead):
    torch.manual_seed(0)
    part = get_skeleton("ntu25").spatial_partition().double()
    conv = PartitionGraphConv(6, 10, part, edge_importance=importance).double()
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        if importance:
            conv.importance.uniform_(0.5, 1.5)
    x = torch.randn(*lead, 25, 6, dtype=torch.float64, requires_grad=True)
    out = conv(x)
    ref = reference(conv, part, x)
    assert out.shape == (*lead, 25, 10)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    params = [x] + [p for p in conv.parameters()]
    g1 = torch.autograd.grad(out.square().sum(), params)
    g2 = torch.autograd.grad(ref.square().sum(), params)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_edge_mask_weighs_every_edge_in_buffer_order():
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
    torch.manual_seed(0)
    part = get_skeleton("ntu25").spatial_partition()
    conv = PartitionGraphConv(4, 5, part)
    x = torch.randn(2, 25, 4)
    E = conv.edge_index.size(1)
    wrapper = torch.nn.Sequential(conv)
    plain = conv(x)
    set_masks(wrapper, torch.ones(E), conv.edge_index, apply_sigmoid=False)
    torch.testing.assert_close(conv(x), plain)
    mask = torch.rand(E)
    set_masks(wrapper, mask, conv.edge_index, apply_sigmoid=False)
    masked = conv(x)
    clear_masks(wrapper)
    with torch.no_grad():
        conv.importance.mul_(mask.unsqueeze(1))  # the same weights as importance
    torch.testing.assert_close(masked, conv(x))


def test_bad_input():
    part = get_skeleton("ntu25").spatial_partition()
    with pytest.raises(ValueError, match=r"partition must be \[K, V, V\]"):
        PartitionGraphConv(4, 4, part[0])
    with pytest.raises(ValueError, match=r"expected x of shape \[\.\.\., 25, 4\]"):
        PartitionGraphConv(4, 4, part)(torch.randn(2, 24, 4))
    assert repr(PartitionGraphConv(4, 6, part)) == \
        "PartitionGraphConv(4, 6, num_nodes=25, subsets=3)"
