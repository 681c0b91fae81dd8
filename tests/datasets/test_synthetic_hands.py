import numpy as np
import pytest
import torch

from topogcn.datasets import SyntheticHandGestures, create_dataset
from topogcn.datasets.synthetic_hands import GESTURES, hand_pose


def small(split="train", **kw):
    kw = {"num_subjects": 6, "test_subjects": 2, "gestures_per_class": 2, **kw}
    return SyntheticHandGestures(split, **kw)


def test_deterministic_split_by_subject_and_contract():
    a, b = small(), small()
    assert torch.equal(a._frames, b._frames) and a.classes == b.classes
    assert not torch.equal(a._frames, small(seed=1)._frames)
    test = small("test")
    assert set(a.subjects) == {1, 2, 3, 4} and set(test.subjects) == {5, 6}
    assert a.channels == ("x", "y", "confidence") and a.skeleton.name == "mediapipe_hand21"
    assert not a.side_specific_classes and len(a) == 4 * 8 * 2
    x, y = a[0]
    assert x.shape == (1, 32, 21, 3) and 0 <= y < 8
    lengths = [c.end - c.start + 1 for c in a.clips]
    assert min(lengths) < 22 < max(lengths)  # variable length
    # confidence in [0, 1]; the detector misses whole frames (all zero)
    conf = a._frames[..., 2]
    assert conf.min() >= 0 and conf.max() <= 1
    missing = (a._frames.abs().sum(dim=(1, 2, 3)) == 0).float().mean()
    assert 0.005 < missing < 0.1
    val = small("val", val_subjects=1)
    assert val.subjects == [4]
    with pytest.raises(ValueError, match="num_classes"):
        small(num_classes=11)


def test_registered_with_left_and_right_hands():
    ds = create_dataset("synthetic-hands", "test", None, frames=16, num_subjects=12,
                        test_subjects=6, gestures_per_class=1)
    assert ds.frames == 16
    # left hands are mirror images: the thumb lies on the other side of the wrist
    sides = set()
    for rec in ds.recordings():
        seen = rec.data[0, :, :, 2].sum(-1) > 0
        d = rec.data[0, seen]
        sides.add(bool((d[:, 4, 0] - d[:, 0, 0]).median() > 0))
    assert sides == {True, False}
    with pytest.raises(ValueError, match="mediapipe_hand21"):
        create_dataset("synthetic-hands", "test", None, skeleton="ntu25")


def test_gestures_move_the_fingers_they_name():
    u = (np.arange(40) + 0.5) / 40
    rng = np.random.default_rng(0)
    rest = hand_pose(np.full((40, 5), 0.1), np.zeros((40, 5)), np.ones(5))
    for name, joints in (("tap-index", [8]), ("curl-ring-pinky", [16, 20]), ("pinch", [4, 8])):
        m = GESTURES[name](u, rng)
        pose = hand_pose(0.1 + m.flex, m.spread, np.ones(5))
        move = np.linalg.norm(pose - rest, axis=-1).max(0)  # [21]
        still = [j for j in (4, 8, 12, 16, 20) if j not in joints]
        assert move[joints].min() > 3 * move[still].max(), name
