import json
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topogcn.skeleton import (
    Skeleton,
    get_skeleton,
    list_skeletons,
    register_skeleton,
)


def chain(n):
    return Skeleton("chain", n, [(i, i + 1) for i in range(n - 1)])


# ------------------------------------------------------------------ built-ins
def test_ntu25_counts():
    s = get_skeleton("ntu25")
    assert (s.num_nodes, s.num_bones) == (25, 24)
    assert s.is_connected
    assert s.joint_names[20] == "SpineShoulder" and s.center == 20
    assert get_skeleton("kinect_v2") is s


def test_openpose137_layout():
    s = get_skeleton("openpose137")
    assert s.num_nodes == 137 and s.is_connected
    parts = s.parts
    assert parts["body"] == tuple(range(25))
    assert parts["face"] == tuple(range(25, 95))
    assert parts["left_hand"] == tuple(range(95, 116))
    assert parts["right_hand"] == tuple(range(116, 137))
    # hands are attached at the body wrists, the face at the nose
    bones = {tuple(sorted(b)) for b in s.bones}
    assert (7, 95) in bones and (4, 116) in bones and (0, 55) in bones
    # 24 body + 20 per hand + 3 attachments + face bones
    assert s.num_bones == 24 + 40 + 3 + (s.num_bones - 67)


@pytest.mark.parametrize("name,v,b", [("openpose25", 25, 24), ("coco17", 17, 19)])
def test_other_builtins(name, v, b):
    s = get_skeleton(name)
    assert (s.num_nodes, s.num_bones) == (v, b) and s.is_connected


def test_registry_lists_and_unknown():
    names = list_skeletons()
    assert {"ntu25", "openpose137", "openpose25", "coco17"} <= set(names)
    assert "kinect_v2" in list_skeletons(with_aliases=True)
    with pytest.raises(ValueError, match="unknown skeleton 'nope'.*ntu25"):
        get_skeleton("nope")


def test_register_custom_and_overwrite():
    s = Skeleton("test_tri", 3, [(0, 1), (1, 2)])
    register_skeleton(s, aliases=["test_tri_alias"])
    assert get_skeleton("test_tri_alias") is s
    register_skeleton(s)  # the same skeleton again: nothing changes
    with pytest.raises(ValueError, match="already registered"):
        register_skeleton(Skeleton("test_tri", 3, [(0, 2), (1, 2)]))
    register_skeleton(Skeleton("test_tri", 3, [(0, 1), (0, 2)]), overwrite=True)
    assert get_skeleton("test_tri").bones == ((0, 1), (0, 2))


# ------------------------------------------------------------------ derived
def test_edge_index_symmetric_and_directed_convention():
    s = get_skeleton("ntu25")
    ei = s.edge_index
    assert ei.shape == (2, 48) and ei.dtype == torch.long
    pairs = set(map(tuple, ei.t().tolist()))
    assert all((v, u) in pairs for u, v in pairs)
    A = s.adjacency()
    assert torch.equal(A, A.t())
    assert A.sum() == 48


def test_edge_index_is_a_copy():
    s = get_skeleton("ntu25")
    s.edge_index.zero_()
    assert s.edge_index.abs().sum() > 0


def test_adjacency_normalisations():
    s = chain(4)
    A = s.adjacency(self_loops=True)
    assert torch.equal(A.diagonal(), torch.ones(4))
    row = s.adjacency("row", self_loops=True)
    assert torch.allclose(row.sum(1), torch.ones(4))
    sym = s.adjacency("sym")
    deg = s.adjacency().sum(1)
    assert torch.allclose(sym[0, 1], 1 / (deg[0] * deg[1]).sqrt())
    with pytest.raises(ValueError, match="normalization"):
        s.adjacency("col")


def test_hop_distance_and_k_hop():
    s = chain(5)
    hop = s.hop_distance()
    assert hop[0, 4] == 4 and hop[2, 2] == 0
    ei1 = s.k_hop_edge_index(1, self_loops=False)
    assert set(map(tuple, ei1.t().tolist())) == set(map(tuple, s.edge_index.t().tolist()))
    ei2 = s.k_hop_edge_index(2)
    assert ei2.shape[1] == 5 + 2 * 4 + 2 * 3
    assert (ei2[1].diff() >= 0).all()  # sorted by target
    with pytest.raises(ValueError, match="k must be"):
        s.k_hop_edge_index(-1)


def test_complete_edge_index():
    s = chain(3)
    ei = s.complete_edge_index()
    assert ei.shape == (2, 9)
    assert set(map(tuple, ei.t().tolist())) == {(i, j) for i in range(3) for j in range(3)}


def test_hop_inf_when_disconnected():
    s = Skeleton("two", 4, [(0, 1), (2, 3)], allow_disconnected=True)
    assert torch.isinf(s.hop_distance()[0, 3])
    assert not s.is_connected


def test_spatial_partition_sums():
    s = get_skeleton("ntu25")
    P = s.spatial_partition(normalize=False)
    assert P.shape == (3, 25, 25)
    assert torch.equal(P.sum(0), s.adjacency(self_loops=True))
    assert torch.equal(P[0].diagonal(), torch.ones(25))
    # inward and outward are transposes of each other
    assert torch.equal(P[1], P[2].t())
    Pn = s.spatial_partition()
    A = s.adjacency(self_loops=True)
    assert torch.allclose(Pn.sum(0), A / A.sum(0, keepdim=True))
    # the centre has no centripetal neighbour
    assert P[1, s.center].sum() == 0


def test_parents_form_tree_to_center():
    s = get_skeleton("ntu25")
    p = s.parents
    assert p[s.center] == s.center
    for j in range(25):
        steps, k = 0, j
        while k != s.center:
            k = p[k]
            steps += 1
        assert steps == s.hop_distance()[j, s.center]


# ------------------------------------------------------------------ subset
def test_subset_reindexes():
    s = get_skeleton("ntu25")
    sub = s.subset(["SpineShoulder", "Neck", "Head"], name="head3")
    assert sub.num_nodes == 3 and sub.name == "head3"
    assert sub.joint_names == ("SpineShoulder", "Neck", "Head")
    assert set(sub.bones) == {(0, 1), (1, 2)}
    assert sub.center == 0
    assert sub.subset_indices == (20, 2, 3)


def test_subset_contracts_removed_paths_and_moves_center():
    s = chain(5)  # 0-1-2-3-4, centre 0
    sub = s.subset([4, 2])
    assert sub.bones == ((0, 1),)  # 4 and 2 linked through removed 3
    assert sub.center == 1  # joint 2 is the nearest kept joint to the old centre 0
    loose = s.subset([0, 4], contract=False)
    assert loose.num_bones == 0 and not loose.is_connected


def test_subset_by_part_names():
    s = get_skeleton("openpose137")
    sub = s.subset(["upper_body", "left_hand", "right_hand"])
    assert sub.num_nodes == 12 + 42 and sub.is_connected
    assert get_skeleton("miga22").num_nodes == 22 and get_skeleton("miga22").is_connected
    with pytest.raises(ValueError, match="no joint named 'Tail'"):
        s.subset(["Tail"])


# ------------------------------------------------------------------ io
@pytest.mark.parametrize("ext", [".json", ".yaml"])
def test_file_round_trip(tmp_path, ext):
    s = get_skeleton("ntu25")
    path = tmp_path / f"skel{ext}"
    s.to_file(path)
    assert Skeleton.from_file(path) == s
    assert get_skeleton(str(path)) == s


def test_from_dict_with_joint_names(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(
        "name: five\njoint_names: [head, neck, lhand, rhand, hip]\n"
        "bones: [[head, neck], [neck, lhand], [neck, rhand], [neck, hip]]\ncenter: neck\n")
    s = Skeleton.from_file(path)
    assert s.num_nodes == 5 and s.center == 1 and s.num_bones == 4


def test_pickle_round_trip():
    s = get_skeleton("openpose137")
    assert pickle.loads(pickle.dumps(s)) == s


def test_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Skeleton.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*not valid JSON"):
        Skeleton.from_file(bad)
    unk = tmp_path / "unk.json"
    unk.write_text(json.dumps({"name": "x", "num_nodes": 2, "bones": [[0, 1]], "colour": 1}))
    with pytest.raises(ValueError, match="unk.json.*unknown skeleton keys \\['colour'\\]"):
        Skeleton.from_file(unk)
    oob = tmp_path / "oob.json"
    oob.write_text(json.dumps({"name": "x", "num_nodes": 2, "bones": [[0, 2]]}))
    with pytest.raises(ValueError, match="oob.json.*bone #0 \\(0, 2\\).*out of range"):
        Skeleton.from_file(oob)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs,match", [
    (dict(num_nodes=3, bones=[(0, 3)]), r"bone #0 \(0, 3\) refers to joint 3, out of range"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 1)]), r"bone #1 \(1, 1\) links joint 1 to itself"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 2), (1, 0)]), r"bone #2 \(1, 0\) duplicates bone #0"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 2)], joint_names=["a", "b"]),
     r"joint_names has 2 names but num_nodes=3"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 2)], joint_names=["a", "b", "a"]), r"repeats \['a'\]"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 2)], center=3), r"center 3 is out of range"),
    (dict(num_nodes=4, bones=[(0, 1), (2, 3)]), r"disconnected: 2 components"),
    (dict(num_nodes=0, bones=[]), r"num_nodes must be an integer between 1 and 10000"),
    (dict(num_nodes=2_000_000_000, bones=[]), r"num_nodes must be an integer between 1 and"),
    (dict(num_nodes=3, bones=[(0, 1), (1, 2)], parts={"p": [5]}),
     r"part 'p' refers to joints \[5\]"),
    (dict(num_nodes=3, bones=[(0,)]), r"bone #0 .* is not a pair"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Skeleton("bad", **kwargs)


def test_immutable():
    s = chain(3)
    with pytest.raises(AttributeError, match="immutable"):
        s.center = 1
    with pytest.raises(AttributeError):
        s.num_nodes = 4


# ------------------------------------------------------------------ properties
@st.composite
def random_trees(draw, max_nodes=30):
    n = draw(st.integers(1, max_nodes))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    bones = [(i + 1, p) for i, p in enumerate(parents)]
    center = draw(st.integers(0, n - 1))
    return Skeleton("tree", n, bones, center=center)


@settings(max_examples=40, deadline=None)
@given(random_trees())
def test_tree_properties(s):
    V = s.num_nodes
    assert s.num_bones == V - 1 and s.is_connected
    hop = s.hop_distance()
    assert torch.equal(hop, hop.t()) and torch.isfinite(hop).all()
    # triangle inequality along bones
    for u, v in s.bones:
        assert (hop[u] - hop[v]).abs().max() <= 1
    P = s.spatial_partition(normalize=False)
    assert torch.equal(P.sum(0), s.adjacency(self_loops=True))
    # in a tree no neighbour is at the same distance from the centre
    assert torch.equal(P[0], torch.eye(V))
    assert s.k_hop_edge_index(V).shape[1] == V * V
    assert torch.allclose(s.adjacency("row", self_loops=True).sum(1), torch.ones(V))


@st.composite
def random_graphs(draw, max_nodes=20):
    n = draw(st.integers(2, max_nodes))
    pairs = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
                         .filter(lambda p: p[0] < p[1]), max_size=3 * n))
    return Skeleton("g", n, sorted(pairs), allow_disconnected=True)


@settings(max_examples=40, deadline=None)
@given(random_graphs(), st.data())
def test_graph_properties(s, data):
    V = s.num_nodes
    ei = s.edge_index
    assert ei.shape[1] == 2 * s.num_bones
    k = data.draw(st.integers(0, 3))
    khop = s.k_hop_edge_index(k)
    hop = s.hop_distance()
    expected = int((hop <= k).sum())
    assert khop.shape[1] == expected
    keep = data.draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=V, unique=True))
    sub = s.subset(keep)
    sub_hop = sub.hop_distance()
    # contraction never makes two kept joints further apart than "connected"
    for a, i in enumerate(keep):
        for b, j in enumerate(keep):
            assert torch.isinf(sub_hop[a, b]) == torch.isinf(hop[i, j])
