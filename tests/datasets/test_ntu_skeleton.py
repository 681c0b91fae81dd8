"""NTU RGB+D .skeleton text files: bodies by tracking id, the most present
first, missing frames zero; errors name the file; predict and folders read them."""
import numpy as np
import pytest

from topogcn.datasets import DatasetFormatError, SkeletonFolder
from topogcn.io import read_ntu_skeleton
from topogcn.datasets.testing import write_ntu_skeleton


def test_bodies_are_ordered_by_presence_and_missing_frames_are_zero(tmp_path):
    path = str(tmp_path / "S001C001P001R001A001.skeleton")
    write_ntu_skeleton(path, 6, {"7201": [2, 3], "7200": [0, 1, 2, 3, 4, 5], "7202": [5]})
    x = read_ntu_skeleton(path)
    assert x.shape == (2, 6, 25, 3)
    np.testing.assert_allclose(x[0, :, 4], [[t, 4, 1] for t in range(6)])  # body 7200 first
    np.testing.assert_allclose(x[1, 2, 3], [2, 3, 0])  # body 7201 (index 0) at frame 2
    assert (x[1, [0, 1, 4, 5]] == 0).all()
    assert read_ntu_skeleton(path, max_persons=1).shape == (1, 6, 25, 3)


def test_broken_files_are_named(tmp_path):
    path = tmp_path / "bad.skeleton"
    write_ntu_skeleton(str(path), 3, {"1": [0, 1, 2]})
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(DatasetFormatError, match=r"bad.skeleton: ends inside frame \d: joints"):
        read_ntu_skeleton(str(path))
    path.write_text(text.replace("25\n", "20\n", 1))
    with pytest.raises(DatasetFormatError, match=r"frame 0: 20 joints, expected 25"):
        read_ntu_skeleton(str(path))


def test_predict_and_folders_read_skeleton_files(tmp_path, tiny_checkpoint, capsys):
    from topogcn.cli import main
    path = str(tmp_path / "clip.skeleton")
    write_ntu_skeleton(path, 30, {"1": range(30)})
    assert main(["predict", "--checkpoint", tiny_checkpoint, path, "--json"]) == 0
    assert '"probabilities"' in capsys.readouterr().out
    root = tmp_path / "f"
    root.mkdir()
    write_ntu_skeleton(str(root / "a.skeleton"), 12, {"1": range(12), "2": range(4)})
    (root / "labels.csv").write_text("file,label\na.skeleton,x\n")
    ds = SkeletonFolder(root, "ntu25", "train", frames=None, test_fraction=0)
    assert ds[0][0].shape == (2, 12, 25, 3) and ds.channels == ("x", "y", "z")


def test_convert_ntu_folder_with_official_splits(tmp_path, capsys):
    from topogcn.cli import main
    from topogcn.io.ntu import NTU_ACTIONS, ntu_split, parse_ntu_name

    src = tmp_path / "nturgb+d_skeletons"
    src.mkdir()
    names = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A059",
             "S001C001P001R001A061", "S001C001P004R001A003"]
    for n in names:
        write_ntu_skeleton(str(src / f"{n}.skeleton"), 5, {"72": range(5)})
    (tmp_path / "missing.txt").write_text("S001C001P004R001A003\n")
    out = tmp_path / "ntu60"
    assert main(["convert", "--from", "ntu", "--root", str(src), "--out", str(out),
                 "--missing-list", str(tmp_path / "missing.txt")]) == 0
    assert "3 recordings, 3 labelled clips of ntu" in capsys.readouterr().out
    ds_train = SkeletonFolder(str(out), "ntu25", frames=None, cache_dir=str(tmp_path / "c"))
    ds_test = SkeletonFolder(str(out), "ntu25", split="test", frames=None,
                             cache_dir=str(tmp_path / "c"))
    assert len(ds_train.classes) == 60 and ds_train.classes[0] == "drink water"
    # xsub: performers 1 and 2 train, 3 tests; A061 is not NTU-60; the missing one is left out
    assert sorted(c.recording for c in ds_train.clips) == ["S001C001P001R001A001.npy",
                                                           "S002C003P002R002A059.npy"]
    assert [c.recording for c in ds_test.clips] == ["S001C002P003R001A002.npy"]
    assert ds_train[0][0].shape[1:] == (5, 25, 3)
    info = parse_ntu_name("S002C003P045R002A061")
    assert ntu_split(info, "xview") == "train" and ntu_split(info, "xset120") == "train"
    assert ntu_split(info, "xsub") == "test" and ntu_split(info, "xsub120") == "train"
    assert len(NTU_ACTIONS) == 120 and parse_ntu_name("clip01") is None
    (src / "clip01.skeleton").write_text("1\n0\n")
    assert main(["convert", "--from", "ntu", "--root", str(src), "--out",
                 str(tmp_path / "bad")]) == 2
    assert "not an NTU name" in capsys.readouterr().err


def test_two_bodies_keep_file_order(tmp_path):
    path = str(tmp_path / "S001C001P001R001A050.skeleton")
    index = write_ntu_skeleton(path, 4, {"9": [0, 1], "8": [1, 2, 3]})
    x = read_ntu_skeleton(path)
    # body 9 comes first in the file (frame 0) though body 8 is in more frames
    np.testing.assert_allclose(x[0, 0, 2], [0, 2, index["9"]])
    np.testing.assert_allclose(x[1, 3, 2], [3, 2, index["8"]])
