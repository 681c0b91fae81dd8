import pytest
import torch

from topogcn.skeleton import Skeleton, get_skeleton, list_skeletons
from topogcn.transforms import RandomMirror


def five(mirror=None):
    return Skeleton("five", 5, [(0, 1), (1, 2), (1, 3), (0, 4)], center=0,
                    joint_names=["hip", "neck", "l_hand", "r_hand", "head"], mirror=mirror)


def test_mirror_pairs_validated_and_round_trip(tmp_path):
    s = five([(2, 3)])
    assert s.mirror == ((2, 3),) and s.mirror_permutation() == (0, 1, 3, 2, 4)
    assert five().mirror is None and five().mirror_permutation() is None
    assert five([]).mirror == () and five([]).mirror_permutation() == (0, 1, 2, 3, 4)
    for bad, words in (([(2, 2)], "itself"), ([(2, 9)], "out of range"),
                       ([(2, 3), (3, 4)], "one mirror image"), ([(2,)], "not a pair")):
        with pytest.raises(ValueError, match=words):
            five(bad)
    d = s.to_dict()
    assert d["mirror"] == [[2, 3]] and "mirror" not in five().to_dict()
    assert Skeleton.from_dict(d) == s
    by_name = Skeleton.from_dict({**d, "mirror": [["l_hand", "r_hand"]]})
    assert by_name.mirror == ((2, 3),)
    s.to_file(str(tmp_path / "s.yaml"))
    assert Skeleton.from_file(str(tmp_path / "s.yaml")).mirror == ((2, 3),)
    # a subset keeps the pairs of which it keeps both joints
    assert s.subset(["hip", "neck", "l_hand", "r_hand"]).mirror == ((2, 3),)
    assert s.subset(["hip", "neck", "l_hand"]).mirror == ()


def test_builtin_skeletons_declare_their_symmetry():
    for name in list_skeletons():
        s = get_skeleton(name)
        assert s.mirror is not None, name
        perm = s.mirror_permutation()
        assert sorted(perm) == list(range(s.num_nodes)), name
        assert all(perm[perm[j]] == j for j in range(s.num_nodes)), name
    ntu = get_skeleton("ntu25")
    pairs = {(ntu.joint_names[a], ntu.joint_names[b]) for a, b in ntu.mirror}
    assert ("HandTipLeft", "HandTipRight") in pairs and len(pairs) == 10
    # the OpenPose face: jaw i <-> 16 - i, the pupils swap, the nose tip is its own image
    op = get_skeleton("openpose137")
    perm = op.mirror_permutation()
    assert perm[25 + 0] == 25 + 16 and perm[25 + 68] == 25 + 69 and perm[25 + 30] == 25 + 30
    assert perm[95 + 8] == 116 + 8  # left index tip <-> right index tip
    assert get_skeleton("hand21").mirror == ()


def test_random_mirror_negates_x_swaps_pairs_and_keeps_confidence():
    s = five([(2, 3)])
    x = torch.randn(2, 6, 5, 3)
    m = RandomMirror(s, p=1.0)(x)
    assert torch.equal(m[..., 1:], x[:, :, [0, 1, 3, 2, 4], 1:])  # y and confidence move
    assert torch.equal(m[..., 0], -x[:, :, [0, 1, 3, 2, 4], 0])
    assert torch.equal(RandomMirror(s, p=1.0)(m), x)  # an involution
    assert torch.equal(RandomMirror(s, p=0.0)(x), x)
    flips = sum(not torch.equal(RandomMirror(s, p=0.5, seed=i)(x), x) for i in range(200))
    assert 70 < flips < 130
    with pytest.raises(ValueError, match="declares no mirror pairs"):
        RandomMirror(five())
