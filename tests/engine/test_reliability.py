"""Faults and bad input lose nothing and explain themselves (issue: run-folder
locks, valid values, clear messages instead of tracebacks)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from topogcn.cli import main
from topogcn.engine import train
from topogcn.engine.config import ConfigError, load_config
from topogcn.utils.lock import FolderInUseError, folder_lock


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, tiny_overrides, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from topogcn.utils.lock import folder_lock
            with folder_lock({str(out)!r}):
                print("locked", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (out / "keep.txt").write_text("the other run's file")
        cfg = load_config("synthetic", tiny_overrides)
        with pytest.raises(FolderInUseError, match=rf"in use by another topogcn run \(pid "
                                                   rf"{holder.pid}\)"):
            train(cfg, str(out), overwrite=True)
        assert main(["train", "--out", str(out), "--overwrite", "--set"] + tiny_overrides) == 2
        assert "in use by another topogcn run" in capsys.readouterr().err
        assert (out / "keep.txt").read_text() == "the other run's file"
        assert not (out / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: no stale lock
    with folder_lock(str(out)):
        pass


@pytest.mark.parametrize("override, message", [
    ("data.batch_size=-4", "'data.batch_size' must be between 1 and 65536, got -4"),
    ("trainer.epochs=-1", "'trainer.epochs' must be between 1 and 100000, got -1"),
    ("trainer.epochs=0", "'trainer.epochs' must be between 1 and 100000, got 0"),
    ("trainer.steps=0", "'trainer.steps' must be a positive number, got 0"),
    ("seed=4294967296", "'seed' must be between 0 and 2^32 - 1"),
    ("trainer.max_minutes=.nan", "'trainer.max_minutes' must be a finite number, got nan"),
    ("trainer.threads=100000", "'trainer.threads' must be between 1 and 1024, got 100000"),
    ("data.frames=1000000000", "'data.frames' must be between 1 and 100000, got 1000000000"),
    ("optim.lr=-1e-3", "'optim.lr' must be at least 0.0, got -0.001"),
])
def test_values_no_run_can_use_are_named(override, message, capsys, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("^", "\\^").replace("(", "\\(")):
        load_config("synthetic", [override])
    assert main(["train", "--out", str(tmp_path / "r"), "--set", override]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_yaml_1_2_numbers_and_large_seeds(tmp_path, tiny_overrides):
    cfg = load_config("synthetic", ["optim.lr=1e-3", "optim.weight_decay=5E-4"])
    assert cfg.optim.lr == 0.001 and cfg.optim.weight_decay == 0.0005
    path = tmp_path / "c.yaml"
    path.write_text("base: synthetic\noptim:\n  lr: 2e-3\n")
    assert load_config(str(path)).optim.lr == 0.002
    big = load_config("synthetic", tiny_overrides + ["seed=4294967295", "trainer.epochs=1"])
    assert 0 <= train(big, str(tmp_path / "big")).metrics["top1"] <= 1  # no overflow


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
@pytest.mark.parametrize("override", ["trainer.accelerator=gpu", "trainer.devices=0"])
def test_trainer_misconfiguration_is_a_message(override, tiny_overrides, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--set"] + tiny_overrides +
                [override]) == 2
    err = capsys.readouterr().err
    assert "topogcn train: error: trainer (accelerator=" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def write_npy_header(path, shape):
    """A .npy file whose header claims ``shape`` float32 but holds no data."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": shape})


def test_malformed_arrays_are_refused_before_allocation(tiny_checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.npy"
    write_npy_header(header_only, (1_000_000, 137, 3))
    huge = tmp_path / "huge.npy"
    write_npy_header(huge, (10 ** 7, 137, 3000))
    nobody = tmp_path / "nobody.npy"
    np.save(nobody, np.zeros((0, 20, 25, 3), np.float32))
    many = tmp_path / "many.npy"
    np.save(many, np.zeros((17, 2, 25, 3), np.float32))
    cases = [(empty, "empty file (0 bytes)"), (header_only, "truncated: the header says shape"),
             (huge, "larger than the limit of 4 GiB"), (nobody, "has no person"),
             (many, "17 persons, more than the limit of 16")]
    for path, message in cases:
        for cmd in (["predict", "--checkpoint", tiny_checkpoint, str(path)],
                    ["spot", "--checkpoint", tiny_checkpoint, str(path)]):
            capsys.readouterr()
            code = main(cmd)
            err = capsys.readouterr().err
            if cmd[0] == "spot":  # not a spotting run: refused for that first
                assert code == 2
                continue
            assert code == 2 and message in err and str(path) in err, (cmd, err)


def test_undecodable_text_names_the_file_and_line(tmp_path):
    from topogcn.datasets import DatasetFormatError, SkeletonFolder
    root = five_folder(tmp_path, "file,label\na.npy,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetFormatError, match=r"labels.csv, line 2: not UTF-8 text"):
        SkeletonFolder(root, _five(tmp_path), "train")


def five_folder(tmp_path, labels, frames=10, value=0.0):
    """``tmp_path/f`` with ``labels.csv`` (text or bytes) and, unless
    ``frames`` is None, ``a.npy`` of ``frames`` frames of 5 joints."""
    root = tmp_path / "f"
    root.mkdir()
    if frames is not None:
        np.save(root / "a.npy", np.full((frames, 5, 3), value, np.float32))
    data = labels if isinstance(labels, bytes) else labels.encode()
    (root / "labels.csv").write_bytes(data)
    return root


def _five(tmp_path):
    from topogcn.skeleton import Skeleton
    return Skeleton("five", 5, [(0, 1), (1, 2), (1, 3), (1, 4)], center=1)


def test_runaway_sizes_in_label_tables_and_frame_names(tmp_path):
    from tests.datasets.test_convert import write_labels, write_openpose
    from topogcn.datasets import DatasetFormatError, SkeletonFolder
    from topogcn.datasets.convert import convert_openpose_json
    root = five_folder(tmp_path, "file,label\na.npy,10000000\n")
    with pytest.raises(DatasetFormatError, match=r"line 2: label 10000000 would make 10000001 "
                                                 r"classes .* limit of 1000; write the class"):
        SkeletonFolder(root, _five(tmp_path), "train")
    src = tmp_path / "op"
    write_openpose(str(src), "rec", 2)
    far = src / "rec" / "rec_000001000000_keypoints.json"
    far.write_text((src / "rec" / "rec_000000000001_keypoints.json").read_text())
    labels = write_labels(tmp_path / "labels.csv", ["rec,wave,,,s1"])
    with pytest.raises(DatasetFormatError, match="frame index 1000000 gives 1000001 frames, "
                                                 "more than the limit"):
        convert_openpose_json(str(src), labels, str(tmp_path / "out"))
    far.rename(src / "rec" / "rec_000000050000_keypoints.json")
    with pytest.raises(DatasetFormatError, match="only 3 of its 50001 frames have a file"):
        convert_openpose_json(str(src), labels, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_spot_out_must_be_a_file_name_and_is_checked_first(tiny_checkpoint, tmp_path, capsys):
    clip = tmp_path / "c.npy"
    np.save(clip, np.zeros((20, 25, 3), np.float32))
    assert main(["spot", "--checkpoint", tiny_checkpoint, str(clip), "--out",
                 str(tmp_path)]) == 2
    assert "give a file name ending in .json or .csv" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../outside/x.npy", "/etc/passwd", "sub/../../x.npy"])
def test_label_tables_stay_inside_the_dataset_root(tmp_path, name):
    from topogcn.datasets import DatasetFormatError, SkeletonFolder
    (tmp_path / "outside").mkdir()
    np.save(tmp_path / "outside" / "x.npy", np.zeros((10, 5, 3), np.float32))
    root = five_folder(tmp_path, f"file,label\n{name},a\n", frames=None)
    with pytest.raises(DatasetFormatError, match=r"labels.csv, line 2: .*(absolute path|"
                                                 r"leads outside the dataset root)"):
        SkeletonFolder(root, _five(tmp_path), "train")


def test_imigue_video_ids_stay_inside_the_root(tmp_path):
    from topogcn.datasets import DatasetFormatError, IMiGUE
    from topogcn.datasets.testing import IMIGUE_SPEC, write_imigue_json
    write_imigue_json(str(tmp_path / "im"), IMIGUE_SPEC)
    table = tmp_path / "im" / "labels.csv"
    table.write_text(table.read_text().replace("0003,", "../0003,"))
    with pytest.raises(DatasetFormatError, match="leads outside the dataset root"):
        IMiGUE(tmp_path / "im", "test", frames=None)


def test_silent_wrong_results_are_now_errors(tmp_path, tiny_checkpoint, capsys):
    from topogcn.datasets import SMG, DatasetFormatError, SkeletonFolder
    from topogcn.io import read_mediapipe_csv
    from topogcn.datasets.testing import SMG_SPEC, write_smg
    from topogcn.skeleton import get_skeleton
    # one coordinate of 1e30
    clip = np.zeros((20, 25, 3), np.float32)
    clip[3, 4, 1] = 1e30
    np.save(tmp_path / "big.npy", clip)
    assert main(["predict", "--checkpoint", tiny_checkpoint, str(tmp_path / "big.npy")]) == 2
    assert "frame 3 has the value 1e+30" in capsys.readouterr().err
    # non-integer frames and labels are not truncated
    root = five_folder(tmp_path, "file,label,start_frame,end_frame\na.npy,x,1.9,17\n", frames=30)
    with pytest.raises(DatasetFormatError, match=r"line 2: start_frame must be an integer, got "
                                                 r"'1.9' \(not truncated\)"):
        SkeletonFolder(root, _five(tmp_path), "train")
    # duplicate class names
    (root / "labels.csv").write_text("file,label\na.npy,x\n")
    (root / "classes.txt").write_text("x\ny\nx\n")
    with pytest.raises(DatasetFormatError, match=r"classes.txt: the class name 'x' appears twice"):
        SkeletonFolder(root, _five(tmp_path), "train")
    # Sample001 and Sample0001 are the same subject
    write_smg(str(tmp_path / "smg"), SMG_SPEC)
    (tmp_path / "smg" / "Sample001").mkdir()
    with pytest.raises(DatasetFormatError, match="'Sample001' and 'Sample0001' are both subject "
                                                 "1|'Sample0001' and 'Sample001' are both"):
        SMG(tmp_path / "smg", "train", frames=None)
    # a duplicated MediaPipe column; an all-empty recording
    names = get_skeleton("mediapipe33").joint_names
    cols = [f"{n}_{a}" for n in names for a in "xyz"]
    dup = tmp_path / "dup.csv"
    dup.write_text(",".join(cols + ["nose_x"]) + "\n" + ",".join(["0.5"] * (len(cols) + 1)) + "\n")
    with pytest.raises(DatasetFormatError, match="column 'nose_x' appears twice"):
        read_mediapipe_csv(str(dup), names)
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(cols) + "\n" + ",".join([""] * len(cols)) + "\n")
    with pytest.raises(DatasetFormatError, match="no frame has a detection"):
        read_mediapipe_csv(str(empty), names)


def test_miga_unsorted_frames_and_the_validate_split_in_convert(tmp_path, capsys):
    from topogcn.datasets import DatasetFormatError, IMiGUE
    from topogcn.datasets.testing import write_miga
    root = tmp_path / "miga"
    write_miga(str(root), "imigue_skeleton_train", {"0001": (20, [(1, 1, 10)]),
                                                     "0002": (20, [(2, 5, 15)])})
    write_miga(str(root), "imigue_skeleton_validate", {"0003": (20, [(3, 1, 19)])})
    write_miga(str(root), "imigue_skeleton_test", {"0004": (20, [(4, 2, 9)])})
    out = tmp_path / "out"
    assert main(["convert", "--from", "imigue", "--root", str(root), "--out", str(out)]) == 0
    assert "4 recordings, 4 labelled clips" in capsys.readouterr().out
    splits = [line.split(",")[-1] for line in (out / "labels.csv").read_text().splitlines()[1:]]
    assert sorted(splits) == ["test", "train", "train", "val"]
    data = root / "imigue_skeleton_test" / "0004" / "0004_light_hand.csv"
    lines = data.read_text().splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"0004_light_hand.csv, line 5: frame index 4 "
                                                 r"does not follow 5"):
        IMiGUE(root, "test", frames=None, force_reload=True)


def test_cache_follows_edits_prunes_stale_copies_and_moves_off_read_only_roots(tmp_path,
                                                                              monkeypatch):
    from topogcn.datasets import SkeletonFolder
    from topogcn.datasets.base import default_cache_dir
    root = five_folder(tmp_path, "file,label\na.npy,x\n", value=1.0)
    first = SkeletonFolder(root, _five(tmp_path), "train", frames=None, test_fraction=0)
    assert float(first[0][0].sum()) == 150
    st = os.stat(root / "a.npy")
    np.save(root / "a.npy", np.full((10, 5, 3), 2, np.float32))  # same size ...
    os.utime(root / "a.npy", ns=(st.st_atime_ns, st.st_mtime_ns))  # ... same mtime
    second = SkeletonFolder(root, _five(tmp_path), "train", frames=None, test_fraction=0)
    assert float(second[0][0].sum()) == 300  # not the stale cache
    caches = [d for d in os.listdir(root / "processed") if not d.startswith(".")]
    assert caches == [os.path.basename(second.processed_dir)]  # the stale copy is gone
    # a read-only root caches in the user's cache folder, or in $TOPOGCN_CACHE
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(root) else
                        real_access(p, m))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir(str(root)).startswith(str(tmp_path / "xdg" / "topogcn"))
    monkeypatch.setenv("TOPOGCN_CACHE", str(tmp_path / "tc"))
    ds = SkeletonFolder(root, _five(tmp_path), "train", frames=None, test_fraction=0)
    assert ds.processed_dir.startswith(str(tmp_path / "tc"))


def test_leftovers_of_killed_processes_are_removed(tmp_path):
    from topogcn.utils.io import atomic_dir
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.{dead.pid}.abc.partial"
    stale.mkdir()
    (stale / "big.npy").write_bytes(b"0" * 1000)
    mine = tmp_path / f".out.{os.getpid()}.xyz.partial"  # a live process's: kept
    mine.mkdir()
    with atomic_dir(str(tmp_path / "out")) as tmp:
        open(os.path.join(tmp, "f"), "w").close()
    assert not stale.exists() and mine.exists() and (tmp_path / "out" / "f").exists()


def test_a_run_that_wrote_no_checkpoint_does_not_block_the_next(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)  # as left by a run out of disk space
    cfg = load_config("synthetic", tiny_overrides + ["trainer.epochs=1"])
    assert 0 <= train(cfg, str(out)).metrics["top1"] <= 1


def test_os_errors_are_messages(tmp_path, tiny_overrides, capsys, monkeypatch):
    import topogcn.engine.training as run
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro"))
    monkeypatch.setattr(run, "_prepare_out", refuse)
    assert main(["train", "--out", str(tmp_path / "ro"), "--set"] + tiny_overrides) == 2
    err = capsys.readouterr().err
    assert "topogcn train: error: [Errno 13] Permission denied" in err and "ro" in err


def test_outside_files_only_when_allowed_and_skip_of_undecodable_recordings(tmp_path):
    from topogcn.datasets import SMG, SkeletonFolder
    from topogcn.datasets.testing import SMG_SPEC, write_smg
    (tmp_path / "outside").mkdir()
    np.save(tmp_path / "outside" / "x.npy", np.zeros((10, 5, 3), np.float32))
    root = five_folder(tmp_path, "file,label\n../outside/x.npy,a\n", frames=None)
    ds = SkeletonFolder(root, _five(tmp_path), "train", test_fraction=0, allow_outside_root=True)
    assert len(ds) == 1
    write_smg(str(tmp_path / "smg"), SMG_SPEC)
    bad = tmp_path / "smg" / "Sample0002" / "Sample0002_finelabels.csv"
    bad.write_bytes(b"1,0,5\n\xff\xfe,1,2\n")
    with pytest.warns(UserWarning, match=r"skipped 1 bad recording.*Sample0002_finelabels.csv, "
                                         r"line 2: not UTF-8"):
        smg = SMG(tmp_path / "smg", "train", frames=None, on_error="skip")
    assert "Sample0002" not in [c.recording for c in smg.clips]


def test_written_files_honour_the_umask(tmp_path):
    from topogcn.utils.io import atomic_dir, atomic_write_text
    old = os.umask(0o022)
    try:
        atomic_write_text(str(tmp_path / "a.json"), "{}")
        with atomic_dir(str(tmp_path / "d")) as tmp:
            open(os.path.join(tmp, "x"), "w").close()
        assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o644
        assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o755
        os.umask(0o077)
        atomic_write_text(str(tmp_path / "b.json"), "{}")
        assert os.stat(tmp_path / "b.json").st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_dataset_options_that_shadow_data_keys(tmp_path, tiny_overrides):
    cfg = load_config("synthetic", ["data.options={skeleton: coco17, num_subjects: 4, "
                                    "test_subjects: 1, gestures_per_class: 1, num_classes: 2}"])
    from topogcn.engine.data import build_dataset
    assert build_dataset(cfg.data, "test").skeleton.name == "coco17"
    for options, message in (("{skeleton: coco17}", "are both set"),
                             ("{frames: 9}", "data.options.frames: set data.frames instead")):
        bad = load_config("synthetic", ["data.skeleton=ntu25", f"data.options={options}"])
        with pytest.raises(ConfigError, match=message):
            build_dataset(bad.data, "test")
