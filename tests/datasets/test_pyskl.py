"""PYSKL / MMAction2 skeleton pickles: 3D and 2D clips, splits, subjects,
training through the registry, and a malicious pickle that runs nothing."""
import os
import pickle

import numpy as np
import pytest

from topogcn.datasets import DatasetFormatError, PysklPickle
from topogcn.io import write_skeleton_pickle


def ntu_pickle(path, n=8, V=25, C=3, two_d=False):
    rng = np.random.default_rng(0)
    anns, split = [], {"xsub_train": [], "xsub_val": []}
    for i in range(n):
        name = f"S001C001P{(i % 4) + 1:03d}R001A{(i % 3) + 1:03d}"
        T = 20 + 3 * i
        a = {"frame_dir": name, "label": i % 3, "total_frames": T,
             "keypoint": rng.normal(size=(2, T, V, C)).astype(np.float32)}
        if two_d:
            a["keypoint_score"] = rng.uniform(size=(2, T, V)).astype(np.float32)
            a["img_shape"] = (1080, 1920)
        anns.append(a)
        split["xsub_val" if (i % 4) == 3 else "xsub_train"].append(name)
    write_skeleton_pickle(str(path), anns, split)
    return anns


def test_3d_ntu_pickle(tmp_path):
    anns = ntu_pickle(tmp_path / "ntu.pkl")
    train = PysklPickle(tmp_path / "ntu.pkl", "train", frames=None)
    test = PysklPickle(tmp_path / "ntu.pkl", "test", frames=None)
    assert len(train) == 6 and len(test) == 2 and train.skeleton.name == "ntu25"
    assert train.channels == ("x", "y", "z") and train.classes == ["0", "1", "2"]
    x, y = test[0]
    ref = anns[3]
    assert x.shape == (2, ref["total_frames"], 25, 3) and y == ref["label"]
    np.testing.assert_allclose(x.numpy(), ref["keypoint"])
    assert sorted(train.subjects) == [1, 2, 3]  # the P### field
    val = PysklPickle(tmp_path / "ntu.pkl", "val", frames=None, val_subjects=1)
    assert val.subjects == [3]


def test_2d_pickle_with_scores_and_split_names(tmp_path):
    anns = ntu_pickle(tmp_path / "coco.pkl", V=17, C=2, two_d=True)
    ds = PysklPickle(tmp_path / "coco.pkl", "train", frames=None)
    assert ds.skeleton.name == "coco17" and ds.channels == ("x", "y", "confidence")
    x, _ = ds[0]
    np.testing.assert_allclose(x[..., 2].numpy(), anns[0]["keypoint_score"])
    with pytest.raises(DatasetFormatError, match=r"no train split 'train9'; the pickle's "
                                                 r"splits are \['xsub_train', 'xsub_val'\]"):
        PysklPickle(tmp_path / "coco.pkl", "train", train_split="train9")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_malicious_pickle_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("evil.pkl", "wb") as f:
        pickle.dump({"split": {}, "annotations": [_Payload()]}, f)
    with pytest.raises(DatasetFormatError, match=r"asks for '(posix|os)\.system'.*no code"):
        PysklPickle(tmp_path / "evil.pkl", "train")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(DatasetFormatError, match="not a readable pickle"):
        PysklPickle(tmp_path / "junk.pkl", "train")


def test_train_from_a_pickle_through_the_registry(tmp_path):
    from topogcn.engine import load_run, train
    from topogcn.engine.config import load_config
    ntu_pickle(tmp_path / "ntu.pkl", n=12)
    cfg = load_config("synthetic", [
        "data.name=pyskl", f"data.root={tmp_path / 'ntu.pkl'}", "data.frames=8",
        "data.batch_size=4", "model.kwargs={channels: [8], strides: [1]}", "trainer.epochs=1",
        "trainer.progress_bar=false"])
    out = str(tmp_path / "run")
    assert 0 <= train(cfg, out).metrics["top1"] <= 1
    run = load_run(os.path.join(out, "checkpoints", "last.ckpt"))
    assert run.spec.persons == 2 and run.spec.channels == ("x", "y", "z")


def test_ntu_configs_resolve():
    from topogcn.engine.config import load_config
    for n in (60, 120):
        cfg = load_config(f"ntu{n}-xsub")
        assert cfg.data.name == "pyskl" and cfg.data.options["test_split"] == "xsub_val"
        assert cfg.data.stream == "kmode" and cfg.data.center_joint == "SpineMid"


def test_convert_from_pyskl(tmp_path, capsys):
    from topogcn.cli import main
    from topogcn.datasets import SkeletonFolder

    anns = ntu_pickle(tmp_path / "ntu.pkl", two_d=True, V=17, C=2)
    out = tmp_path / "folder"
    assert main(["convert", "--from", "pyskl", "--root", str(tmp_path / "ntu.pkl"),
                 "--out", str(out)]) == 0
    assert "8 recordings, 8 labelled clips of pyskl" in capsys.readouterr().out
    clip = np.load(out / f"{anns[1]['frame_dir']}.npy")
    assert clip.shape == (2, anns[1]["total_frames"], 17, 3)  # raw [M, T, V, C]
    np.testing.assert_allclose(clip[..., :2], anns[1]["keypoint"])
    np.testing.assert_allclose(clip[..., 2], anns[1]["keypoint_score"])
    ds = SkeletonFolder(str(out), frames=None, cache_dir=str(tmp_path / "c"))
    assert ds.skeleton.name == "coco17" and ds.channels == ("x", "y", "confidence")
    assert main(["convert", "--from", "pyskl", "--root", str(tmp_path / "ntu.pkl"),
                 "--out", str(tmp_path / "f2"), "--train-split", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
