"""Centring on the first present frame against a NumPy transcription of the
reference's ``seq_translation`` (InfoGCN ``data/ntu/seq_transformation.py``)."""
import numpy as np
import pytest
import torch

from topogcn.skeleton import get_skeleton
from topogcn.transforms import InputSpec, Preprocess, center_joint

NTU = get_skeleton("ntu25")


def official_translation(joints):
    """The reference on one sequence ``[T, 75 * bodies]``: the origin is
    actor 1's joint 1 in the first frame where actor 1 has a non-zero value;
    subtracted from every frame of every actor; with two actors, the frames
    where an actor's values sum to zero are set back to zero."""
    joints = joints.copy()
    T, width = joints.shape
    bodies = width // 75
    if bodies == 2:
        missing = [np.where(joints[:, 75 * b:75 * (b + 1)].sum(1) == 0)[0] for b in range(2)]
    i = 0
    while i < T and not np.any(joints[i, :75] != 0):
        i += 1
    origin = joints[min(i, T - 1), 3:6].copy()
    joints -= np.tile(origin, 25 * bodies)
    if bodies == 2:
        for b in range(2):
            joints[missing[b], 75 * b:75 * (b + 1)] = 0
    return joints


def to_rows(x):  # [M, T, V, 3] -> [T, 75 * M]
    return x.permute(1, 0, 2, 3).reshape(x.size(1), -1).numpy()


def two_actors(seed=0, T=9):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, 25, 3, generator=g, dtype=torch.float64) + 3.0
    x[0, :2] = 0  # actor 1 enters at frame 2
    x[0, 5] = 0  # and is missing at frame 5
    x[1, 3:5] = 0  # actor 2 missing at frames 3, 4
    return x


def test_two_actors_equal_the_reference():
    x = two_actors()
    got = center_joint(x, 1, 3, first_person=True, first_present=True)
    np.testing.assert_allclose(to_rows(got), official_translation(to_rows(x)), rtol=0, atol=1e-12)
    old = center_joint(x, 1, 3, first_person=True)  # frame 0, where actor 1 is missing
    assert np.abs(to_rows(old) - official_translation(to_rows(x))).max() > 1


def test_one_actor_differs_only_on_its_missing_frames():
    x = two_actors()[:1]
    got = to_rows(center_joint(x, 1, 3, first_person=True, first_present=True))
    ref = official_translation(to_rows(x))
    present = [t not in (0, 1, 5) for t in range(9)]
    np.testing.assert_allclose(got[present], ref[present], rtol=0, atol=1e-12)
    assert not got[[0, 1, 5]].any() and ref[[0, 1, 5]].any()


def test_each_person_on_its_own_first_present_frame_and_batches():
    x = two_actors(seed=1)
    got = center_joint(x, 1, 3, first_present=True)
    for m, t0 in ((0, 2), (1, 0)):
        assert torch.equal(got[m, t0, 1], torch.zeros(3, dtype=x.dtype))
    assert not got[0, 5].any() and not got[1, 3:5].any()
    batch = torch.stack([x, two_actors(seed=2)])
    torch.testing.assert_close(center_joint(batch, 1, 3, first_present=True)[0], got)
    none = torch.zeros(2, 4, 25, 3)
    assert not center_joint(none, 1, 3, first_person=True, first_present=True).any()


@pytest.mark.parametrize("channels", [("x", "y", "z"), ("x", "y", "confidence")])
def test_preprocess_option_and_confidence_carried(channels):
    spec = InputSpec(NTU, channels, ("a",), persons=2, frames=9, center="first_present",
                     center_person="first", center_joint=1, normalize_scale=False)
    x = two_actors(seed=3).float()
    got = Preprocess(spec)(x)
    dims = spec.coordinate_dims
    ref = center_joint(x, 1, dims, first_person=True, first_present=True)
    torch.testing.assert_close(got, ref)
    if dims == 2:
        torch.testing.assert_close(got[..., 2], x[..., 2])
