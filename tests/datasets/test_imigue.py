
import numpy as np
import pytest

from topogcn.datasets.testing import (
    IMIGUE_SPEC, trusted_caches, write_imigue_json, write_miga,
)
from topogcn.datasets import DatasetFormatError
from topogcn.datasets.imigue import IMiGUE
from topogcn.skeleton import get_skeleton


@pytest.fixture()
def json_root(tmp_path):
    root = tmp_path / "imigue"
    write_imigue_json(str(root), IMIGUE_SPEC, empty_frames=[("0001", 3)],
                      two_people=[("0001", 5)])
    return root


def test_json_layout_counts_labels_and_split(json_root):
    train = IMiGUE(json_root, "train", frames=None)
    test = IMiGUE(json_root, "test", frames=None)
    assert train.format == "openpose_json" and train.skeleton.name == "openpose137"
    assert len(train) == 3 and len(test) == 1
    assert train.labels.tolist() == [0, 31, 30]  # 99 -> class 32 (index 31)
    assert train.classes[31] == "non-micro-gesture"
    assert train.subjects == [1, 2] and test.subjects == [3]
    x, y = train[0]
    assert x.shape == (1, 10, 137, 3) and y == 0


def test_json_coordinates_missing_frames_and_main_person(json_root):
    ds = IMiGUE(json_root, "train", frames=None)
    x = ds[0][0][0]  # video 0001 frames 0..9
    # body keypoint k of frame t is (k, t, 0.9); face 100+k, left hand 200+k, right 300+k
    assert np.allclose(x[2, 4].numpy(), [4, 2, 0.9])
    assert np.allclose(x[2, 25].numpy(), [100, 2, 0.9])
    assert np.allclose(x[2, 95].numpy(), [200, 2, 0.9])
    assert np.allclose(x[2, 136].numpy(), [320, 2, 0.9])
    # frame 3 had nobody: interpolated between frames 2 and 4
    assert np.allclose(x[3, 4].numpy(), [4, 3, 0.9])
    # frame 5 had two people: the one with the higher body confidence is kept
    assert np.allclose(x[5, 4].numpy(), [4, 5, 0.9])
    zeros = IMiGUE(json_root, "train", frames=None, missing="zeros")
    assert np.allclose(zeros[0][0][0, 3].numpy(), 0)


def test_json_subset_skeleton(json_root):
    ds = IMiGUE(json_root, "train", skeleton="openpose137_upper", frames=16)
    x, _ = ds[0]
    assert x.shape == (1, 16, 54, 3)
    assert ds.skeleton.num_nodes == 54


def test_json_without_split_column_needs_test_subjects(tmp_path):
    root = tmp_path / "i2"
    write_imigue_json(str(root), IMIGUE_SPEC)
    text = open(root / "labels.csv").read().replace(",split", "").replace(",train", "").replace(
        ",test", "")
    open(root / "labels.csv", "w").write(text)
    with pytest.raises(ValueError, match="no 'split' column; pass test_subjects"):
        IMiGUE(root, "train")
    assert len(IMiGUE(root, "test", test_subjects=[2, 3])) == 2


def test_json_custom_column_names(tmp_path):
    root = tmp_path / "i3"
    write_imigue_json(str(root), IMIGUE_SPEC)
    text = open(root / "labels.csv").read().replace("video_id", "clip_video")
    open(root / "labels.csv", "w").write(text)
    with pytest.raises(DatasetFormatError, match=r"labels.csv, line 1: missing columns "
                                                 r"\['video_id'\]"):
        IMiGUE(root, "train")
    assert len(IMiGUE(root, "train", columns={"video": "clip_video"})) == 3


@pytest.mark.parametrize("mutate,match", [
    (lambda r: open(r / "0002" / "0002_000000000003_keypoints.json", "w").write("{oops"),
     r"0002_000000000003_keypoints.json: not a valid OpenPose JSON"),
    (lambda r: open(r / "0002" / "0002_000000000004_keypoints.json", "w").write(
        '{"people": [{"pose_keypoints_2d": [1, 2]}]}'),
     r"0002_000000000004_keypoints.json: people\[0\].pose_keypoints_2d: 2 values, expected 75"),
    (lambda r: open(r / "labels.csv", "a").write("0002,45,1,2,2,train\n"),
     r"labels.csv, line 6: label 45 is not an iMiGUE class"),
    (lambda r: open(r / "labels.csv", "a").write("0002,3,9,2,2,train\n"),
     r"labels.csv, line 6: segment ends \(frame 2\) before it starts"),
    (lambda r: open(r / "labels.csv", "a").write("0002,3,9,200,2,train\n"),
     r"labels.csv, line 6: segment 9..200 runs past the recording, which has 25 frames"),
    (lambda r: open(r / "labels.csv", "a").write("0009,3,1,2,2,train\n"),
     r"labels.csv, line 6: video '0009' has no keypoint file"),
    (lambda r: open(r / "0002" / "0002_000000000001_keypoints.json", "w").write(
        '{"people": [{"pose_keypoints_2d": [' + ",".join(["NaN"] * 75) + ']}]}'),
     r"0002_000000000001_keypoints.json: people\[0\].pose_keypoints_2d: NaN or infinite"),
])
def test_json_bad_input(json_root, mutate, match):
    mutate(json_root)
    with pytest.raises(DatasetFormatError, match=match):
        IMiGUE(json_root, "train")
    assert trusted_caches(str(json_root)) == []


def test_missing_root(tmp_path):
    with pytest.raises(DatasetFormatError, match="(?s)does not exist.*labels.csv.*"
                                                 "_light_hand.csv"):
        IMiGUE(tmp_path / "none")


@pytest.fixture()
def miga_root(tmp_path):
    root = tmp_path / "miga"
    write_miga(str(root), "imigue_skeleton_train", {"0101": (40, [(1, 0, 9), (99, 20, 38)]),
                                                     "0102": (20, [(5, 2, 4)])})
    write_miga(str(root), "imigue_skeleton_validate", {"0201": (15, [(3, 0, 14)])})
    return root


def test_miga_layout(miga_root):
    train = IMiGUE(miga_root, "train", frames=None)
    val = IMiGUE(miga_root, "val", frames=None)
    assert train.format == "miga" and train.skeleton.name == "miga22"
    assert len(train) == 3 and len(val) == 1
    assert train.labels.tolist() == [0, 31, 4]
    x, _ = train[0]
    # label frames 0..9 -> +1 -> frame indices 1..10 -> rows 0..9
    assert x.shape == (1, 10, 22, 3)
    names = train.skeleton.joint_names
    nose = names.index("Nose")
    assert np.allclose(x[0, 0, nose].numpy(), [0 * 10 + 1, 1, 0.8])
    tip = names.index("RHandIndex4")  # 2nd right fingertip = point 26 of the row
    assert np.allclose(x[0, 0, tip].numpy(), [26 * 10 + 1, 1, 0.8])
    assert len(IMiGUE(miga_root, "test")) == 0


def test_miga_bad_input(miga_root):
    with open(miga_root / "imigue_skeleton_train" / "0102" / "0102_label.csv", "a") as f:
        f.write("4,10,30\n")
    with pytest.raises(DatasetFormatError, match=r"0102_label.csv, line 2: frames 11..31 .* run "
                                                 r"past the recording"):
        IMiGUE(miga_root, "train")


def test_miga_rejects_unavailable_joints(miga_root):
    with pytest.raises(ValueError, match="MiGA layout has no"):
        IMiGUE(miga_root, "train", skeleton="openpose137")
    assert get_skeleton("miga22").num_nodes == 22
