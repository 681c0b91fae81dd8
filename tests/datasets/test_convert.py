"""Converters from OpenPose JSON and MediaPipe CSV to the SkeletonFolder format."""
import json
import os

import numpy as np
import pytest

from topogcn.datasets import SkeletonFolder
from topogcn.io import DatasetFormatError
from topogcn.datasets.convert import convert_mediapipe_csv, convert_openpose_json
from topogcn.datasets.testing import openpose_person
from topogcn.skeleton import get_skeleton

MP_JOINTS = get_skeleton("mediapipe33").joint_names


def write_openpose(root, name, frames, body_only=False, flat=False, skip=(), two=()):
    folder = root if flat else os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for t in range(frames):
        if t in skip:
            continue
        people = [openpose_person(t)]
        if t in two:  # a weaker second person listed first
            people = [openpose_person(t, offset=1000.0, conf=0.2), openpose_person(t)]
        if body_only:
            people = [{"pose_keypoints_2d": p["pose_keypoints_2d"]} for p in people]
        with open(os.path.join(folder, f"{name}_{t:012d}_keypoints.json"), "w") as f:
            json.dump({"version": 1.3, "people": people}, f)


def write_labels(path, rows, header="file,label,start_frame,end_frame,subject"):
    with open(path, "w") as f:
        f.write(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


def test_openpose_json_round_trip(tmp_path):
    src = tmp_path / "op"
    write_openpose(str(src), "clipA", 12, skip=(5,), two=(3,))
    write_openpose(str(src), "clipB", 8, flat=True)
    labels = write_labels(tmp_path / "labels.csv", ["clipA,wave,0,5,s1", "clipA,nod,6,11,s1",
                                                    "clipB,wave,,,s2"])
    out = convert_openpose_json(str(src), labels, str(tmp_path / "out"), max_persons=2)
    assert sorted(os.listdir(out)) == ["channels.txt", "clipA.npy", "clipB.npy", "labels.csv",
                                       "skeleton.json"]
    a = np.load(os.path.join(out, "clipA.npy"))
    assert a.shape == (2, 12, 137, 3)  # face/hands present -> openpose137
    ref = np.asarray(openpose_person(7)["hand_left_keypoints_2d"]).reshape(21, 3)
    np.testing.assert_allclose(a[0, 7, 95:116], ref)
    assert (a[:, 5] == 0).all()  # the missing frame
    assert a[0, 3, 0, 2] == pytest.approx(0.9) and a[1, 3, 0, 2] == pytest.approx(0.2)
    assert (a[1, 4] == 0).all()  # no second person there

    ds = SkeletonFolder(out, os.path.join(out, "skeleton.json"), split="train", frames=None,
                        test_subjects=["s2"], cache_dir=str(tmp_path / "cache"))
    assert ds.classes == ["nod", "wave"]
    assert len(ds) == 2 and sorted(ds.labels.tolist()) == [0, 1]
    test = SkeletonFolder(out, os.path.join(out, "skeleton.json"), split="test", frames=None,
                          test_subjects=["s2"], cache_dir=str(tmp_path / "cache"))
    x, y = test[0]
    assert test.classes[int(y)] == "wave" and x.shape == (2, 8, 137, 3)


def test_openpose_body_only_subset_and_interpolation(tmp_path):
    src = tmp_path / "op"
    write_openpose(str(src), "r1", 6, body_only=True, skip=(2,))
    labels = write_labels(tmp_path / "labels.csv", ["r1,a,,,s"])
    out = convert_openpose_json(str(src), labels, str(tmp_path / "out"), missing="interpolate",
                                joints=["upper_body"])
    skel = SkeletonFolder(out, os.path.join(out, "skeleton.json"), frames=None,
                          cache_dir=str(tmp_path / "c"), test_fraction=0.0).skeleton
    upper = get_skeleton("openpose25").parts["upper_body"]
    assert skel.num_nodes == len(upper)
    data = np.load(os.path.join(out, "r1.npy"))
    assert data.shape == (1, 6, len(upper), 3)
    # frame 2 is interpolated between frames 1 and 3: y = frame index
    np.testing.assert_allclose(data[0, 2, :, 1], 2.0)


def test_openpose_bad_input(tmp_path):
    src = tmp_path / "op"
    write_openpose(str(src), "r1", 4)
    out = str(tmp_path / "out")
    labels = write_labels(tmp_path / "l1.csv", ["r1,a,0,3,s", "missing,a,,,s"])
    with pytest.raises(DatasetFormatError, match=r"l1.csv, line 3: recording 'missing'"):
        convert_openpose_json(str(src), labels, out)
    labels = write_labels(tmp_path / "l2.csv", ["r1,a,2,9,s"])
    with pytest.raises(DatasetFormatError, match=r"l2.csv, line 2: frames 2..9 out of range"):
        convert_openpose_json(str(src), labels, out)
    with open(os.path.join(src, "r1", "r1_000000000001_keypoints.json"), "w") as f:
        json.dump({"people": [{"pose_keypoints_2d": [1.0] * 74}]}, f)
    labels = write_labels(tmp_path / "l3.csv", ["r1,a,,,s"])
    with pytest.raises(DatasetFormatError, match=r"r1_000000000001_keypoints.json: "
                                                 r"people\[0\].pose_keypoints_2d: 74 values"):
        convert_openpose_json(str(src), labels, out)
    assert not os.path.exists(out)  # nothing half-written
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_openpose_json(str(tmp_path / "nope"), labels, out)


def write_mediapipe(path, frames, empty=(), bad=None):
    cols = ["frame"] + [f"{n}_{a}" for n in MP_JOINTS for a in ("x", "y", "z", "visibility")]
    lines = [",".join(cols)]
    for t in range(frames):
        if t in empty:
            lines.append(str(t) + "," * (len(cols) - 1))
            continue
        vals = []
        for j in range(33):
            vals += [j / 33, t / frames, -j / 100, 0.99]
        cells = [str(t)] + [f"{v:.6f}" for v in vals]
        if bad is not None and bad[0] == t:
            cells[bad[1]] = "oops"
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_mediapipe_csv_round_trip_and_errors(tmp_path):
    src = tmp_path / "mp"
    src.mkdir()
    write_mediapipe(src / "take1.csv", 10, empty=(4,))
    write_mediapipe(src / "take2.csv", 6)
    (tmp_path / "classes.txt").write_text("scratch\ntouch\n")
    labels = write_labels(tmp_path / "labels.csv", ["take1.csv,touch,0,9,a", "take2,scratch,,,b"])
    out = convert_mediapipe_csv(str(src), labels, str(tmp_path / "out"))
    d = np.load(os.path.join(out, "take1.npy"))
    assert d.shape == (1, 10, 33, 3)
    np.testing.assert_allclose(d[0, 3, 5], [5 / 33, 0.3, -0.05], atol=1e-6)
    assert (d[0, 4] == 0).all()
    ds = SkeletonFolder(out, "mediapipe33", frames=None, test_subjects=["b"],
                        cache_dir=str(tmp_path / "c"))
    assert ds.classes == ["scratch", "touch"] and ds.labels.tolist() == [1]

    write_mediapipe(src / "take3.csv", 5, bad=(2, 7))
    labels = write_labels(tmp_path / "l2.csv", ["take3,touch,,,a"])
    with pytest.raises(DatasetFormatError, match=r"take3.csv, line 4, column 'left_eye_inner_z': "
                                                 r"'oops' is not a number"):
        convert_mediapipe_csv(str(src), labels, str(tmp_path / "out2"))
    (src / "take4.csv").write_text("frame,nose_x,nose_y\n0,1,2\n")
    labels = write_labels(tmp_path / "l3.csv", ["take4,touch,,,a"])
    with pytest.raises(DatasetFormatError, match=r"take4.csv, line 1: missing column 'nose_z'"):
        convert_mediapipe_csv(str(src), labels, str(tmp_path / "out3"))
    with pytest.raises(FileExistsError, match="not empty"):
        convert_mediapipe_csv(str(src), str(tmp_path / "labels.csv"), out)


def test_cli_convert_openpose(tmp_path, capsys):
    from topogcn.cli import main
    src = tmp_path / "op"
    write_openpose(str(src), "r1", 5, body_only=True)
    labels = write_labels(tmp_path / "labels.csv", ["r1,a,,,s"])
    out = tmp_path / "out"
    assert main(["convert", "--from", "openpose-json", "--root", str(src), "--labels", labels,
                 "--out", str(out), "--joints", "0,1,2"]) == 0
    assert "1 recordings, 1 labelled clips" in capsys.readouterr().out
    assert np.load(out / "r1.npy").shape == (1, 5, 3, 3)
    assert main(["convert", "--from", "openpose-json", "--root", str(src),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "needs --labels" in capsys.readouterr().err


def test_mediapipe_numbered_columns_hands_and_holistic(tmp_path):
    from topogcn.io import mediapipe_columns, read_mediapipe_csv

    def numbered(path, joints, frames=4, visibility=True):
        cols = [c for j in range(joints) for c in
                ([f"x{j}", f"y{j}", f"z{j}"] + ([f"v{j}"] if visibility else []))]
        rows = [",".join(cols)]
        for t in range(frames):
            vals = []
            for j in range(joints):
                vals += [j, t, -j] + ([0.9] if visibility else [])
            rows.append(",".join(str(v) for v in vals))
        path.write_text("\n".join(rows) + "\n")

    for joints, name in ((33, "mediapipe33"), (21, "mediapipe_hand21"),
                         (75, "mediapipe_holistic75")):
        p = tmp_path / f"n{joints}.csv"
        numbered(p, joints, visibility=joints != 21)
        d = read_mediapipe_csv(str(p))
        assert d.shape == (1, 4, joints, 3), name
        np.testing.assert_array_equal(d[0, 2, 7], [7, 2, -7])
        assert mediapipe_columns(p.read_text().splitlines()[0].split(","), str(p))[0] == name
    # named Hands columns (MediaPipe's HandLandmark names)
    hand = get_skeleton("mediapipe_hand21").joint_names
    header = [f"{n.upper()}_{a}" for n in hand for a in "xyz"]
    assert mediapipe_columns(header, "h.csv") == ("mediapipe_hand21", list(range(63)))
    numbered(tmp_path / "n20.csv", 20)
    with pytest.raises(DatasetFormatError, match="20 joints; MediaPipe Pose has 33"):
        read_mediapipe_csv(str(tmp_path / "n20.csv"))
    (tmp_path / "gap.csv").write_text("x0,y0,z0,x1,y1\n1,2,3,4,5\n")
    with pytest.raises(DatasetFormatError, match="no column z1"):
        read_mediapipe_csv(str(tmp_path / "gap.csv"))
    # the converter reads the set from the header and writes its skeleton
    src = tmp_path / "hands"
    src.mkdir()
    numbered(src / "a.csv", 21, frames=6)
    labels = write_labels(tmp_path / "lh.csv", ["a,pinch,,,s1"])
    out = convert_mediapipe_csv(str(src), labels, str(tmp_path / "out"))
    ds = SkeletonFolder(out, frames=None, test_subjects=[], cache_dir=str(tmp_path / "c"))
    assert ds.skeleton.name == "mediapipe_hand21" and ds[0][0].shape == (1, 6, 21, 3)


def write_coco(path, layout, frames=5, skip=(), persons=1):
    g = np.random.default_rng(0)
    kps = g.uniform(0, 100, size=(frames, persons, 17, 2))
    scores = g.uniform(0.3, 1.0, size=(frames, persons, 17))
    if layout == "mmpose":
        info = [{"frame_id": t, "instances": [
            {"keypoints": kps[t, m].tolist(), "keypoint_scores": scores[t, m].tolist(),
             "bbox_score": float(scores[t, m].mean())} for m in range(persons)]}
            for t in range(frames) if t not in skip]
        doc = {"meta_info": {"dataset_name": "coco"}, "instance_info": info}
    else:
        doc = [{"image_id": 100 + t, "category_id": 1, "score": float(scores[t, m].mean()),
                "keypoints": np.concatenate([kps[t, m], scores[t, m, :, None]], 1).ravel()
                .tolist()} for t in range(frames) for m in range(persons) if t not in skip]
    path.write_text(json.dumps(doc))
    return kps, scores


def test_coco_and_mmpose_keypoints(tmp_path):
    from topogcn.datasets.convert import convert_coco_json
    from topogcn.io import read_coco_keypoints

    kps, scores = write_coco(tmp_path / "m.json", "mmpose", skip=(2,), persons=2)
    d = read_coco_keypoints(str(tmp_path / "m.json"), max_persons=1)
    assert d.shape == (1, 5, 17, 3) and (d[0, 2] == 0).all()
    best = int(np.argmax(scores[0].mean(-1)))  # the better-scored person comes first
    np.testing.assert_allclose(d[0, 0, :, :2], kps[0, best], rtol=1e-6)
    np.testing.assert_allclose(d[0, 0, :, 2], scores[0, best], rtol=1e-6)
    kps, scores = write_coco(tmp_path / "r.json", "results")
    r = read_coco_keypoints(str(tmp_path / "r.json"))
    np.testing.assert_allclose(r[0, 3, :, :2], kps[3, 0], rtol=1e-6)
    (tmp_path / "bad.json").write_text(json.dumps({"something": 1}))
    with pytest.raises(DatasetFormatError, match="bad.json: not COCO or mmpose keypoints"):
        read_coco_keypoints(str(tmp_path / "bad.json"))
    (tmp_path / "short.json").write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3]}]))
    with pytest.raises(DatasetFormatError,
                       match=r"short.json, result 0: keypoints: 3 values, expected 51"):
        read_coco_keypoints(str(tmp_path / "short.json"))
    src = tmp_path / "coco"
    src.mkdir()
    write_coco(src / "clip1.json", "mmpose")
    labels = write_labels(tmp_path / "lc.csv", ["clip1.json,wave,,,s1"])
    out = convert_coco_json(str(src), labels, str(tmp_path / "out"))
    ds = SkeletonFolder(out, frames=None, test_subjects=[], cache_dir=str(tmp_path / "c"))
    assert ds.skeleton.name == "coco17" and ds.channels == ("x", "y", "confidence")
