import os

import numpy as np
import pytest
import torch

from topogcn.datasets.testing import (
    smg_frame_values, SMG_SPEC, trusted_caches, write_smg,
)
from topogcn.datasets import DatasetFormatError
from topogcn.datasets.smg import SMG


@pytest.fixture()
def smg_root(tmp_path):
    root = tmp_path / "smg"
    write_smg(str(root), SMG_SPEC)
    return root


def test_clip_counts_labels_subjects(smg_root):
    train = SMG(smg_root, "train", frames=None)
    test = SMG(smg_root, "test", frames=None)
    assert len(train) == 6 and len(test) == 3
    assert train.subjects == [1, 2, 3] and test.subjects == [36, 40]
    assert train.labels.tolist() == [0, 4, 16, 1, 2, 3]
    assert train.classes[0] == "MG1" and len(train.classes) == 17
    info = train.clips[1]
    assert (info.subject, info.recording, info.start, info.end, info.label) == (
        1, "Sample0001", 20, 39, 4)
    assert train.skeleton.name == "ntu25"


def test_frames_and_coordinates(smg_root):
    ds = SMG(smg_root, "train", frames=None)
    x, y = ds[1]  # subject 1, frames 20..39 inclusive
    assert x.shape == (1, 20, 25, 3) and x.dtype == torch.float32 and y == 4
    expected = smg_frame_values(25, 1).reshape(25, 11)[:, :3]
    assert np.allclose(x[0, 5].numpy(), expected, atol=1e-5)
    single, _ = ds[3]  # a single-frame clip is kept
    assert single.shape[1] == 1


def test_resampling_to_fixed_frames(smg_root):
    ds = SMG(smg_root, "train", frames=64)
    assert all(ds[i][0].shape == (1, 64, 25, 3) for i in range(len(ds)))


def test_validation_split_from_training_subjects(smg_root):
    train = SMG(smg_root, "train", val_subjects=1, frames=None)
    val = SMG(smg_root, "val", val_subjects=1, frames=None)
    assert train.subjects == [1, 2] and val.subjects == [3] and len(val) == 1
    with pytest.raises(ValueError, match="needs val_subjects"):
        SMG(smg_root, "val")


def test_recordings_with_segments(smg_root):
    recs = list(SMG(smg_root, "train").recordings())
    assert [r.name for r in recs] == ["Sample0001", "Sample0002", "Sample0003"]
    assert recs[0].data.shape == (1, 120, 25, 3)
    assert [(g.label, g.start, g.end) for g in recs[0].segments] == [
        (0, 0, 9), (4, 20, 39), (16, 100, 119)]


def test_cache_reuse_and_invalidation(smg_root):
    a = SMG(smg_root, "train")
    cache = a.processed_dir
    assert os.path.isfile(os.path.join(cache, "train.pt"))
    assert os.path.isfile(os.path.join(cache, "index.json"))
    mtime = os.path.getmtime(os.path.join(cache, "train.pt"))
    b = SMG(smg_root, "train")  # reused
    assert b.processed_dir == cache
    assert os.path.getmtime(os.path.join(cache, "train.pt")) == mtime
    # a changed raw file -> a new cache
    with open(smg_root / "Sample0002" / "Sample0002_finelabels.csv", "a") as f:
        f.write("9,60,70\n")
    c = SMG(smg_root, "train")
    assert c.processed_dir != cache and len(c) == 7
    # changed processing options -> a new cache
    d = SMG(smg_root, "train", test_subjects=[40])
    assert d.processed_dir not in (cache, c.processed_dir) and 36 in d.subjects


def test_interrupted_processing_leaves_no_trusted_cache(smg_root, monkeypatch):
    calls = {"n": 0}
    real_save = torch.save

    def failing_save(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        SMG(smg_root, "train")
    monkeypatch.setattr(torch, "save", real_save)
    assert trusted_caches(str(smg_root)) == []
    assert len(SMG(smg_root, "train")) == 6


@pytest.mark.parametrize("mutate,match", [
    (lambda r: (r / "Sample0002" / "Sample0002_skeleton.csv").unlink(),
     r"Sample0002_finelabels.csv: the skeleton file 'Sample0002_skeleton.csv' .* missing"),
    (lambda r: _append(r / "Sample0001" / "Sample0001_skeleton.csv", "1,2,3\n"),
     r"Sample0001_skeleton.csv, line 121: expected 275 values \(25 joints x 11\), got 3"),
    (lambda r: _replace_line(r / "Sample0001" / "Sample0001_skeleton.csv", 4, "abc"),
     r"Sample0001_skeleton.csv, line 5, column 1: 'abc' is not a number"),
    (lambda r: _replace_line(r / "Sample0001" / "Sample0001_skeleton.csv", 7, "nan"),
     r"Sample0001_skeleton.csv, line 8, column 1: nan is not a finite value"),
    (lambda r: _append(r / "Sample0003" / "Sample0003_finelabels.csv", "18,1,2\n"),
     r"Sample0003_finelabels.csv, line 2: label 18 outside the class range"),
    (lambda r: _append(r / "Sample0003" / "Sample0003_finelabels.csv", "3,30,20\n"),
     r"Sample0003_finelabels.csv, line 2: segment ends \(frame 20\) before it starts"),
    (lambda r: _append(r / "Sample0003" / "Sample0003_finelabels.csv", "3,50,60\n"),
     r"Sample0003_finelabels.csv, line 2: segment 50..60 runs past the recording, which has "
     r"60 frames"),
    (lambda r: _append(r / "Sample0003" / "Sample0003_finelabels.csv", "3,x,60\n"),
     r"Sample0003_finelabels.csv, line 2: the start frame must be an integer, got .x."),
])
def test_bad_input_is_named_and_caches_nothing(smg_root, mutate, match):
    mutate(smg_root)
    with pytest.raises(DatasetFormatError, match=match):
        SMG(smg_root, "train")
    assert trusted_caches(str(smg_root)) == []


def test_skip_bad_recordings_with_warning(smg_root):
    _append(smg_root / "Sample0003" / "Sample0003_finelabels.csv", "18,1,2\n")
    _set_line(smg_root / "Sample0002" / "Sample0002_skeleton.csv", 0, "1,2")
    with pytest.warns(UserWarning, match="skipped 2 bad recording"):
        ds = SMG(smg_root, "train", on_error="skip")
    assert ds.subjects == [1]


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(DatasetFormatError, match="(?s)does not exist.*Sample0001_skeleton.csv.*"
                                                 "distributed by its authors"):
        SMG(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="holds no 'SampleXXXX' folder"):
        SMG(tmp_path / "empty")


def _append(path, text):
    with open(path, "a") as f:
        f.write(text)


def _replace_line(path, index, first_value):
    lines = open(path).read().splitlines()
    parts = lines[index].split(",")
    parts[0] = first_value
    lines[index] = ",".join(parts)
    open(path, "w").write("\n".join(lines) + "\n")


def _set_line(path, index, text):
    lines = open(path).read().splitlines()
    lines[index] = text
    open(path, "w").write("\n".join(lines) + "\n")
