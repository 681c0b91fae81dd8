"""PyG's AttentionExplainer on a GE-CN through FrameAveragedAttention,
against the attention averaged by hand."""
import pytest
import torch
from torch_geometric.explain import AttentionExplainer, Explainer

from topogcn.analysis.explain import FrameAveragedAttention
from topogcn.models import GECN


def explainer_for(model, reduce):
    return Explainer(model, algorithm=AttentionExplainer(reduce=reduce),
                     explanation_type="model", edge_mask_type="object",
                     model_config=dict(mode="multiclass_classification", task_level="graph",
                                       return_type="raw"))


@pytest.mark.parametrize("edges", ["complete", 1])
def test_gecn_attention_explained_per_edge(edges):
    torch.manual_seed(0)
    model = GECN(4, "ntu25", channels=(8, 16), strides=(1, 2), edges=edges)
    wrapped = FrameAveragedAttention(model).eval()
    assert not model.training
    clip = torch.randn(1, 2, 6, 25, 3)
    expl = explainer_for(wrapped, "max")(clip, wrapped.edge_index)
    E = wrapped.edge_index.size(1)
    assert E == (625 if edges == "complete" else model.edge_index.size(1))
    with torch.no_grad():
        maps = model.attention_maps(clip)
    # by hand: mean over samples, persons and frames; max over heads, then blocks
    expected = torch.stack([a.mean(dim=(0, 1)).max(-1).values for _, a in maps]).max(0).values
    assert expl.edge_mask.shape == (E,)
    torch.testing.assert_close(expl.edge_mask, expected)
    torch.testing.assert_close(expl.prediction, model(clip))


def test_adapter_refuses_other_graphs_and_models():
    model = GECN(4, "ntu25", channels=(8,), strides=(1,)).eval()
    wrapped = FrameAveragedAttention(model)
    with pytest.raises(ValueError, match="edge_index must be the model's graph"):
        wrapped(torch.randn(1, 2, 4, 25, 3), wrapped.edge_index[:, :10])
    with pytest.raises(TypeError, match="has no attention_maps"):
        FrameAveragedAttention(torch.nn.Linear(2, 2))
