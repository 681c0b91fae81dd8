"""View alignment against a NumPy transcription of the reference's
``align_skeleton`` (InfoGCN ``utils.py``), its geometry, its edge cases,
and its place in the preprocessing and the configs."""
import numpy as np
import pytest
import torch

from topogcn.engine.config import ConfigError, load_config
from topogcn.engine.data import input_spec_for
from topogcn.skeleton import get_skeleton
from topogcn.transforms import InputSpec, InputSpecError, Preprocess, align_view, center_joint

NTU = get_skeleton("ntu25")
JOINTS = (0, 1, 12, 16)  # SpineBase, SpineMid, HipLeft, HipRight


def official_align(data):
    """The reference's loop, transcribed: ``data`` is ``[N, C, T, V, M]``;
    per sample and person, the frame-0 basis (spine, hips orthogonalised,
    their cross product), ``inv(R) @ x`` for every frame; a person with a
    zero frame-0 spine vector is left at zero."""
    N, C, T, V, M = data.shape
    out = np.zeros_like(data)
    for i in range(N):
        for p in range(M):
            s = data[i, ..., p]  # [C, T, V]
            v1 = s[:, 0, 1] - s[:, 0, 0]
            if np.linalg.norm(v1) <= 0.0:
                continue
            v1 = v1 / np.linalg.norm(v1)
            w = s[:, 0, 12] - s[:, 0, 16]
            v2 = w - np.dot(v1, w) * v1 / np.linalg.norm(v1)
            v2 = v2 / np.linalg.norm(v2)
            v3 = np.cross(v2, v1) / np.linalg.norm(np.cross(v2, v1))
            R_inv = np.linalg.inv(np.stack([v2, v3, v1], axis=1))
            for t in range(T):
                out[i, :, t, :, p] = R_inv @ s[:, t, :]
    return out


def clips(N=3, M=2, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, M, T, 25, 3, generator=g, dtype=torch.float64)


def to_official(x):  # [N, M, T, V, C] -> [N, C, T, V, M]
    return x.permute(0, 4, 2, 3, 1).numpy()


def test_equals_the_reference_transcription():
    x = clips()
    x[1, 1] = 0  # an absent second person
    x[2, 1, 0] = 0  # a person missing in frame 0 only: the reference zeroes it
    got = align_view(x, JOINTS)
    np.testing.assert_allclose(to_official(got), official_align(to_official(x)),
                               rtol=0, atol=1e-12)
    assert got[2, 1].abs().sum() == 0 and got[1, 1].abs().sum() == 0


def test_spine_along_z_hips_along_x_distances_kept_and_mirrored():
    x = clips(N=2, M=1, T=5, seed=1)
    got = align_view(x, JOINTS)
    f0 = got[:, 0, 0]
    spine = f0[:, 1] - f0[:, 0]
    hips = f0[:, 12] - f0[:, 16]
    torch.testing.assert_close(spine[:, :2], torch.zeros(2, 2, dtype=x.dtype))
    assert (spine[:, 2] > 0).all() and (hips[:, 0] > 0).all()
    torch.testing.assert_close(hips[:, 1], torch.zeros(2, dtype=x.dtype))
    pts, pts_out = x.flatten(2, 3), got.flatten(2, 3)  # [N, M, T*V, 3]: one clip's points
    torch.testing.assert_close(torch.cdist(pts_out, pts_out), torch.cdist(pts, pts))  # rigid ...
    a, b, c = (x[0, 0, 0, j] - x[0, 0, 0, 0] for j in (1, 12, 4))
    a2, b2, c2 = (got[0, 0, 0, j] - got[0, 0, 0, 0] for j in (1, 12, 4))
    # ... with determinant -1: the reference mirrors as it turns
    assert torch.sign(torch.dot(torch.linalg.cross(a, b), c)) == \
        -torch.sign(torch.dot(torch.linalg.cross(a2, b2), c2))


def test_undefined_hips_leave_the_person_as_it_is_and_confidence_is_carried():
    x = torch.randn(1, 2, 4, 25, 4, dtype=torch.float64)
    x[0, 0, 0, 16, :3] = x[0, 0, 0, 12, :3]  # coincident hips: the reference gives NaN
    got = align_view(x, JOINTS)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got[0, 0], x[0, 0])
    torch.testing.assert_close(got[..., 3], x[..., 3])
    assert not torch.allclose(got[0, 1, ..., :3], x[0, 1, ..., :3])


def test_any_batch_shape_and_float32():
    x = clips(N=4, M=2, T=6, seed=2)
    batched = align_view(x.float(), JOINTS)
    for i in range(4):
        torch.testing.assert_close(align_view(x[i].float(), JOINTS), batched[i])
    torch.testing.assert_close(batched.double(), align_view(x, JOINTS), rtol=0, atol=1e-5)


def spec(**kw):
    base = dict(skeleton=NTU, channels=("x", "y", "z"), classes=("a", "b"), persons=2,
                frames=6, center="first_frame", center_person="first", normalize_scale=False,
                stream="joint", center_joint=1, align=JOINTS)
    base.update(kw)
    return InputSpec(**base)


def test_preprocess_centres_then_aligns_as_the_reference():
    """The reference aligns data already centred on actor 1's SpineMid."""
    x = clips(N=2, M=2, T=6, seed=3) + 4.0
    got = Preprocess(spec())(x)
    centred = center_joint(x, 1, 3, first_person=True)
    ref = official_align(to_official(centred))
    np.testing.assert_allclose(to_official(got), ref, rtol=0, atol=1e-12)
    assert "view-aligned on the first frame (SpineBase->SpineMid along z" in spec().describe()


@pytest.mark.parametrize("kw, match", [
    (dict(align=(0, 1, 12)), "align must be 4 joint indices"),
    (dict(align=(0, 1, 12, 25)), r"align must be 4 joint indices of 'ntu25' \(0..24\)"),
    (dict(align=(1, 1, 12, 16)), "must be two different joints each"),
    (dict(channels=("x", "y", "confidence")), "align turns 3-D coordinates"),
])
def test_invalid_alignments_are_refused(kw, match):
    with pytest.raises(InputSpecError, match=match):
        spec(**kw)


def test_round_trips_and_configs_carry_it():
    s = spec()
    assert InputSpec.from_dict(s.to_dict()) == s and s.to_dict()["align"] == list(JOINTS)
    for name in ("paper-smg", "ntu60-xsub", "ntu120-xset"):
        assert load_config(name).data.align == ["SpineBase", "SpineMid", "HipLeft", "HipRight"]
    assert load_config("paper-smg", ["data.align=null"]).data.align is None
    assert load_config("paper").data.align is None


def test_config_names_resolve_on_the_skeleton():
    class Data:  # what input_spec_for reads of a dataset
        skeleton, channels, classes, num_person = NTU, ("x", "y", "z"), ("a",), 1
    cfg = load_config("synthetic", ["data.align=[SpineBase, SpineMid, HipLeft, HipRight]"])
    assert input_spec_for(cfg.data, Data()).align == JOINTS
    cfg = load_config("synthetic", ["data.align=[SpineBase, SpineMid, HipLeft, Hip]"])
    with pytest.raises(ConfigError, match="data.align: Skeleton 'ntu25' has no joint named 'Hip'"):
        input_spec_for(cfg.data, Data())
