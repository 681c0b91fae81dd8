import os

import numpy as np
import pytest
import torch

from topogcn.datasets import SMG, DatasetFormatError, IMiGUE, SkeletonFolder
from topogcn.datasets.convert import export_folder
from topogcn.datasets.testing import (
    IMIGUE_SPEC, SMG_SPEC, trusted_caches, write_imigue_json, write_smg,
)
from topogcn.skeleton import Skeleton

FIVE = Skeleton("five_folder", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1,
                joint_names=["head", "neck", "lhand", "rhand", "hip"])


def make_folder(root, rows, arrays, classes=None):
    os.makedirs(root, exist_ok=True)
    for name, arr in arrays.items():
        np.save(os.path.join(root, name), arr)
    header = list(rows[0].keys())
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(r[h]) for h in header) + "\n")
    if classes:
        open(os.path.join(root, "classes.txt"), "w").write("\n".join(classes) + "\n")


@pytest.fixture()
def five_root(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"r{i}.npy": rng.normal(size=(30, 5, 2)).astype(np.float32) for i in range(6)}
    rows = [{"file": f"r{i}.npy", "label": ["wave", "nod", "shrug"][i % 3], "start_frame": 2,
             "end_frame": 20, "subject": i // 2} for i in range(6)]
    make_folder(str(tmp_path / "five"), rows, arrays, classes=["wave", "nod", "shrug"])
    return tmp_path / "five"


def test_folder_contract_and_subject_split(five_root):
    tr = SkeletonFolder(five_root, FIVE, "train", frames=None, test_subjects=[2])
    te = SkeletonFolder(five_root, FIVE, "test", frames=None, test_subjects=[2])
    assert len(tr) == 4 and len(te) == 2 and tr.classes == ["wave", "nod", "shrug"]
    x, y = tr[0]
    assert x.shape == (1, 19, 5, 2)
    raw = np.load(five_root / "r0.npy")
    assert np.allclose(x[0].numpy(), raw[2:21])
    assert te.subjects == [2]


def test_seeded_random_split_by_subject(five_root):
    a = SkeletonFolder(five_root, FIVE, "test", test_fraction=0.34, seed=1)
    b = SkeletonFolder(five_root, FIVE, "test", test_fraction=0.34, seed=1)
    assert a.subjects == b.subjects and len(a.subjects) == 1
    train = SkeletonFolder(five_root, FIVE, "train", test_fraction=0.34, seed=1)
    assert set(train.subjects).isdisjoint(a.subjects)


@pytest.mark.parametrize("mutate,match", [
    (lambda r: np.save(r / "r1.npy", np.zeros((30, 4, 2), np.float32)),
     r"r1.npy: 4 joints per frame, but the skeleton has 5"),
    (lambda r: os.remove(r / "r2.npy"), r"labels.csv, line 4: file 'r2.npy' does not exist"),
    (lambda r: open(r / "labels.csv", "a").write("r0.npy,dance,1,2,0\n"),
     r"labels.csv, line 8: unknown label 'dance'"),
    (lambda r: open(r / "labels.csv", "a").write("r0.npy,nod,25,40,0\n"),
     r"labels.csv, line 8: frames 25..40 out of range for 'r0.npy', which has 30 frames"),
    (lambda r: np.save(r / "r3.npy", np.zeros((30, 5, 3), np.float32)),
     r"r3.npy: 3 channels per joint, but the files before it have 2"),
])
def test_folder_bad_input(five_root, mutate, match):
    mutate(five_root)
    with pytest.raises(DatasetFormatError, match=match):
        SkeletonFolder(five_root, FIVE, "train", test_subjects=[2])
    assert trusted_caches(str(five_root)) == []


def test_round_trip_smg(tmp_path):
    write_smg(str(tmp_path / "smg"), SMG_SPEC)
    splits = [SMG(tmp_path / "smg", s, frames=None) for s in ("train", "test")]
    export_folder(splits, str(tmp_path / "out"))
    for native in splits:
        folder = SkeletonFolder(tmp_path / "out", str(tmp_path / "out" / "skeleton.json"),
                                native.split, frames=None)
        assert len(folder) == len(native) and folder.classes == native.classes
        assert folder.labels.tolist() == native.labels.tolist()
        for i in range(len(native)):
            assert torch.equal(folder[i][0], native[i][0])


def test_round_trip_imigue_with_joint_subset(tmp_path):
    write_imigue_json(str(tmp_path / "im"), IMIGUE_SPEC)
    splits = [IMiGUE(tmp_path / "im", s, frames=None) for s in ("train", "test")]
    export_folder(splits, str(tmp_path / "out"), joints=["upper_body"])
    folder = SkeletonFolder(tmp_path / "out", str(tmp_path / "out" / "skeleton.json"), "train",
                            frames=None)
    assert folder.skeleton.num_nodes == 12
    assert folder.labels.tolist() == splits[0].labels.tolist()
    x, _ = folder[0]
    upper = [0, 1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18]  # BODY_25 above the hips
    assert torch.equal(x, splits[0][0][0][..., upper, :])


def test_cli_convert_and_train_on_a_five_joint_skeleton(tmp_path, capsys):
    """The tutorial's path: declare a skeleton file, write a folder, train from the CLI."""
    from topogcn.cli import main
    from topogcn.datasets import SyntheticMicroGestures

    skel_file = tmp_path / "five.yaml"
    skel_file.write_text("name: five_cli\njoint_names: [head, neck, lhand, rhand, hip]\n"
                         "bones: [[head, neck], [neck, lhand], [neck, rhand], [neck, hip]]\n"
                         "center: neck\n")
    kw = dict(skeleton=str(skel_file), num_classes=3, num_subjects=5, test_subjects=1,
              gestures_per_class=3, frames=None)
    splits = [SyntheticMicroGestures(s, **kw) for s in ("train", "test")]
    data = tmp_path / "data"
    export_folder(splits, str(data))
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--set", "data.name=folder",
            "--set", f"data.root={data}", "--set", f"data.skeleton={skel_file}",
            "--set", "data.frames=16", "--set", "trainer.epochs=2",
            "--set", "trainer.progress_bar=false", "--set", "model.kwargs.channels=[8, 8]",
            "--set", "model.kwargs.strides=[1, 1]"]
    assert main(args) == 0
    assert "test top-1" in capsys.readouterr().out
    assert (out / "metrics.json").is_file()
    assert main(["eval", "--checkpoint", str(out / "checkpoints" / "best.ckpt"),
                 "--set", "trainer.progress_bar=false"]) == 0


def test_train_on_an_empty_split_says_which(five_root, tmp_path, capsys):
    from topogcn.cli import main
    FIVE.to_file(str(tmp_path / "five.json"))
    # subject 9 does not exist: the test split is empty
    assert main(["train", "--set", "data.name=folder", f"data.root={five_root}",
                 f"data.skeleton={tmp_path / 'five.json'}",
                 "data.options={test_subjects: [9]}", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "'test' split" in err and "has no clip" in err and str(five_root) in err
    assert not (tmp_path / "run").exists()  # nothing left behind


def test_folder_reads_its_own_skeleton_and_channels(five_root, tmp_path):
    with pytest.raises(DatasetFormatError, match="has no skeleton.json: name the skeleton"):
        SkeletonFolder(five_root, split="train")
    FIVE.to_file(str(five_root / "skeleton.json"))
    ds = SkeletonFolder(five_root, split="train", test_subjects=[2])
    assert ds.skeleton == FIVE and ds.channels == ("x", "y")  # 2 channels: x, y
    (five_root / "channels.txt").write_text("x\nconfidence\n")
    with pytest.raises(DatasetFormatError, match="channels.txt: the coordinates must come"):
        SkeletonFolder(five_root, split="train", test_subjects=[2])
    (five_root / "channels.txt").write_text("x\ny\nconfidence\n")
    with pytest.raises(DatasetFormatError, match="3 channel names .* for data with 2 channels"):
        SkeletonFolder(five_root, split="train", test_subjects=[2])


def test_a_skeleton_that_contradicts_skeleton_json_is_refused(five_root):
    FIVE.to_file(str(five_root / "skeleton.json"))
    renamed = Skeleton("five_renamed", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1,
                       joint_names=["head", "neck", "lhand", "rhand", "pelvis"])
    rewired = Skeleton("five_rewired", 5, [(0, 1), (1, 2), (2, 3), (1, 4)], center=1)
    with pytest.raises(ValueError, match="'ntu25' contradicts .*skeleton.json \\(skeleton "
                                         "'five_folder'\\): 25 joints against 5"):
        SkeletonFolder(five_root, "ntu25", "train")
    with pytest.raises(ValueError, match="joint 4 is 'pelvis' against 'hip'"):
        SkeletonFolder(five_root, renamed, "train")
    with pytest.raises(ValueError, match="'five_rewired' contradicts.*bones differ"):
        SkeletonFolder(five_root, rewired, "train")
    assert SkeletonFolder(five_root, FIVE, "train", test_subjects=[2]).skeleton == FIVE


def test_converted_openpose_folder_trains_without_naming_its_skeleton(tmp_path, capsys):
    """`convert` records skeleton and channels; `train` needs neither named; a
    contradicting skeleton fails before training; confidence is carried."""
    from tests.datasets.test_convert import write_labels, write_openpose
    from topogcn.cli import main
    from topogcn.engine import load_run

    src = tmp_path / "op"
    rows = []
    for r in range(6):
        write_openpose(str(src), f"rec{r}", 12, body_only=True)
        rows.append(f"rec{r},{['wave', 'nod'][r % 2]},,,s{r // 2}")
    labels = write_labels(tmp_path / "labels.csv", rows)
    out = tmp_path / "folder"
    assert main(["convert", "--from", "openpose-json", "--root", str(src), "--labels", labels,
                 "--out", str(out)]) == 0
    assert "channels.txt" in capsys.readouterr().out
    assert (out / "channels.txt").read_text().split() == ["x", "y", "confidence"]
    base = ["train", "--set", "data.name=folder", f"data.root={out}", "data.frames=8",
            "trainer.epochs=1", "trainer.progress_bar=false", "model.kwargs.channels=[8]",
            "model.kwargs.strides=[1]", "data.options={test_subjects: [s2]}"]
    assert main(base + ["data.skeleton=ntu25", "--out", str(tmp_path / "wrong")]) == 2
    err = capsys.readouterr().err
    assert "'ntu25' contradicts" in err and "'openpose25'" in err
    assert not (tmp_path / "wrong").exists()
    assert main(base + ["--out", str(tmp_path / "run")]) == 0
    run = load_run(str(tmp_path / "run" / "checkpoints" / "last.ckpt"))
    assert run.skeleton.name == "openpose25" and run.spec.channels == ("x", "y", "confidence")
    x = torch.from_numpy(np.load(out / "rec0.npy"))
    pre = run.preprocess(x)
    conf = torch.nn.functional.interpolate(x[..., 2].permute(0, 2, 1), size=8, mode="linear")
    torch.testing.assert_close(pre[..., 2], conf.permute(0, 2, 1))  # never centred or scaled
