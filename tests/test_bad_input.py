"""The second reliability pass: every example of the red-team report has a
test here -- real files read, nothing lost, no traceback, memory bounded by
the input, nothing silently wrong."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

from tests.datasets.test_convert import write_labels, write_mediapipe, write_openpose
from tests.engine.conftest import TINY, untrained_checkpoint
from tests.engine.test_reliability import _five, five_folder
from topogcn.cli import main
from topogcn.datasets import PysklPickle, SkeletonFolder
from topogcn.datasets.convert import convert_mediapipe_csv, convert_ntu, convert_openpose_json
from topogcn.engine import train
from topogcn.engine.config import load_config
from topogcn.io import DatasetFormatError, read_coco_keypoints, read_numpy, read_skeleton_pickle


def annotations(n=2, frames=5):
    return [{"frame_dir": f"S001C001P00{i + 1}R001A001", "label": i % 2, "total_frames": frames,
             "keypoint": np.random.rand(1, frames, 25, 3).astype(np.float32)} for i in range(n)]


# ------------------------------------------------------------ real files read
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pyskl_pickles_of_every_protocol_are_read(tmp_path, protocol):
    path = tmp_path / "ann.pkl"
    with open(path, "wb") as f:  # mmcv's dump defaults to protocol 2
        pickle.dump({"split": {"xsub_train": ["S001C001P001R001A001"],
                               "xsub_val": ["S001C001P002R001A001"]},
                     "annotations": annotations()}, f, protocol=protocol)
    ds = PysklPickle(path, "train", frames=None, cache_dir=tmp_path / "c")
    assert len(ds) == 1 and ds.channels == ("x", "y", "z")


def test_a_pickle_cannot_run_code_or_decode_with_other_codecs(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    for payload in (Boom(), {"annotations": [], "x": Boom()}):
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=2))
        with pytest.raises(DatasetFormatError, match="asks for 'posix.system'|asks for 'os"):
            read_skeleton_pickle(str(path))
    assert not (tmp_path / "pwned").exists()
    # _codecs.encode with a codec other than latin1 (what protocols 0-2 use for bytes)
    evil = (b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aq\x01X\x04\x00\x00\x00"
            b"zlibq\x02\x86q\x03Rq\x04.")
    (tmp_path / "codec.pkl").write_bytes(evil)
    with pytest.raises(DatasetFormatError, match="codec 'zlib'"):
        read_skeleton_pickle(str(tmp_path / "codec.pkl"))


def test_csv_with_a_byte_order_mark_is_read(tmp_path, tiny_checkpoint, capsys):
    root = five_folder(tmp_path, "\ufefffile,label\nb.csv,a\n".encode("utf-8"), frames=None)
    rows = "\n".join(",".join(["0.5"] * 15) for _ in range(6))
    (root / "b.csv").write_bytes(("\ufeff" + rows + "\n").encode("utf-8"))
    ds = SkeletonFolder(root, _five(tmp_path), "train", test_fraction=0, frames=None)
    assert ds[0][0].shape == (1, 6, 5, 3)
    clip = tmp_path / "clip.csv"
    clip.write_bytes(("\ufeff" + "\n".join(",".join(["0.1"] * 75) for _ in range(9)) + "\n")
                     .encode("utf-8"))
    assert main(["predict", "--checkpoint", tiny_checkpoint, str(clip)]) == 0


def test_a_bad_first_recording_can_be_skipped(tmp_path):
    root = five_folder(tmp_path, "file,label,split\na.npy,x,train\nb.npy,y,train\n"
                                 "c.npy,x,train\n", frames=None)
    np.save(root / "a.npy", np.full((6, 4, 3), 1.0, np.float32))  # 4 joints: bad, and first
    for name in ("b.npy", "c.npy"):
        np.save(root / name, np.random.rand(6, 5, 2).astype(np.float32))
    with pytest.warns(UserWarning, match="skipped 1 bad recording.*a.npy: 4 joints"):
        ds = SkeletonFolder(root, _five(tmp_path), "train", frames=None, on_error="skip",
                            cache_dir=tmp_path / "c")
    assert len(ds) == 2 and ds.num_channels == 2


# ------------------------------------------------------------------ nothing lost
def test_overwrite_keeps_the_old_run_until_the_new_one_trains(tmp_path, capsys):
    out = str(tmp_path / "run")
    sets = ["--set"] + TINY + ["trainer.epochs=1", "trainer.baselines=false"]
    assert main(["train", "--out", out] + sets) == 0
    before = open(os.path.join(out, "metrics.json")).read()
    ckpt = open(os.path.join(out, "checkpoints", "best.ckpt"), "rb").read()
    # a typo found only once the data is opened: the old run is back, whole
    assert main(["train", "--out", out, "--overwrite"] + sets + ["data.name=synthetc"]) == 2
    assert "unknown dataset 'synthetc'" in capsys.readouterr().err
    assert open(os.path.join(out, "metrics.json")).read() == before
    assert open(os.path.join(out, "checkpoints", "best.ckpt"), "rb").read() == ckpt
    assert not [n for n in os.listdir(out) if n.startswith(".replaced")]
    # a run that starts training replaces it, and leaves nothing aside
    assert main(["train", "--out", out, "--overwrite"] + sets + ["seed=1"]) == 0
    assert json.load(open(os.path.join(out, "metrics.json")))["budget"]["epochs_run"] == 1
    assert not [n for n in os.listdir(out) if n.startswith(".replaced")]


def test_no_command_writes_onto_its_own_input(tmp_path, tiny_checkpoint, capsys):
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    before = open(ckpt, "rb").read()
    assert main(["export", "--checkpoint", ckpt, "--format", "torchscript", "--out", ckpt]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert open(ckpt, "rb").read() == before
    rec = tmp_path / "rec.csv"
    rec.write_text("\n".join(",".join(["0.1"] * 75) for _ in range(40)) + "\n")
    text = rec.read_text()
    assert main(["spot", "--checkpoint", ckpt, str(rec), "--out", str(rec)]) == 2
    assert rec.read_text() == text
    # eval --out on a training folder that lost its config.yaml: still not overwritten
    run = os.path.dirname(os.path.dirname(tiny_checkpoint))
    os.rename(os.path.join(run, "config.yaml"), os.path.join(run, "config.yaml.bak"))
    try:
        metrics = open(os.path.join(run, "metrics.json")).read()
        assert main(["eval", "--checkpoint", tiny_checkpoint, "--out", run]) == 0
        assert open(os.path.join(run, "metrics.json")).read() == metrics
        assert os.path.isfile(os.path.join(run, "eval-test", "metrics.json"))
    finally:
        os.rename(os.path.join(run, "config.yaml.bak"), os.path.join(run, "config.yaml"))


def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path, capsys):
    from topogcn.utils.lock import LOCK_FILE
    out = tmp_path / "run"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    os.symlink(target, out / LOCK_FILE)
    assert main(["train", "--out", str(out), "--set"] + TINY) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert target.read_text() == "keep me"


# ---------------------------------------------------------------- no traceback
@pytest.mark.parametrize("doc, match", [
    ([{"image_id": 1, "keypoints": [1.0] * 51, "score": None}], None),
    ([{"image_id": 1, "keypoints": [1.0] * 51, "score": {"a": 1}}], "the score must be"),
    ({"annotations": {"image_id": 1}}, "'annotations' and 'images' must be lists"),
    ({"annotations": [{"keypoints": [1.0] * 51}]}, "an entry has no 'image_id'"),
    ([{"image_id": 1, "keypoints": [1.0] * 51}, {"image_id": "b", "keypoints": [1.0] * 51}],
     "image ids must be all numbers or all names"),
    ([{"image_id": 1, "keypoints": [1.0] * 50 + [None]}], "expected numbers, found null"),
    ([{"instances": [{"keypoints": [[1, 2]] * 17, "keypoint_scores": "high"}]}],
     "keypoint_scores: expected a list"),
    ([{"instances": "none"}], "'instances' must be a list"),
    ([{"image_id": 1, "keypoints": [1e300] * 51}], "beyond"),
])
def test_coco_and_mmpose_structures_are_checked(tmp_path, doc, match):
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(doc))
    if match is None:  # a null score is no score: the keypoints' mean
        assert read_coco_keypoints(str(path)).shape == (1, 1, 17, 3)
        return
    with pytest.raises(DatasetFormatError, match=match) as e:
        read_coco_keypoints(str(path))
    assert "rec.json" in str(e.value)


@pytest.mark.parametrize("person, match", [
    ({"pose_keypoints_2d": 3}, r"people\[0\].pose_keypoints_2d: expected a list"),
    ({"pose_keypoints_2d": [1] * 74 + ["x"]}, "expected numbers, found a string"),
    ("nobody", r"people\[0\] is a string"),
])
def test_openpose_values_are_checked(tmp_path, person, match):
    src = tmp_path / "op"
    write_openpose(str(src), "rec", 3)
    (src / "rec" / "rec_000000000001_keypoints.json").write_text(
        json.dumps({"people": [person]}))
    labels = write_labels(tmp_path / "labels.csv", ["rec,wave,,,s1"])
    with pytest.raises(DatasetFormatError, match=match):
        convert_openpose_json(str(src), labels, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("data, match", [
    ({"split": ["train"], "annotations": []}, "'split' must be a dict"),
    ({"split": {"train": "abc"}, "annotations": []}, "split 'train' must be a list"),
    ({"split": {}, "annotations": ["clip"]}, "annotation 0: expected a dict"),
    ({"split": {}, "annotations": [{"keypoint": [[1.0]]}]}, "'keypoint' must be a numpy"),
    ({"split": {}, "annotations": [{"keypoint": np.zeros((1, 2, 25, 3), complex)}]},
     "complex128 values"),
])
def test_pyskl_field_types_are_checked(tmp_path, data, match):
    path = tmp_path / "a.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(DatasetFormatError, match=match):
        read_skeleton_pickle(str(path))


@pytest.mark.parametrize("content, match", [
    (b"", "not a scores.npz archive"),
    (b"PK\x03\x04truncated", "not a scores.npz archive"),
    ({"scores": np.ones((3, 2)) / 2}, "no labels array"),
    ({"scores": np.full((3, 2), np.nan), "labels": np.zeros(3)}, "must be probabilities"),
    ({"scores": np.ones((3, 2)) / 2, "labels": np.array([0, 1, 5])}, "labels must be integers"),
    ({"scores": np.ones((0, 2)), "labels": np.zeros(0)}, "at least one of each"),
])
def test_ensemble_refuses_bad_scores_by_name(tmp_path, content, match, capsys):
    run = tmp_path / "run"
    run.mkdir()
    if isinstance(content, bytes):
        (run / "scores.npz").write_bytes(content)
    else:
        np.savez(run / "scores.npz", **content)
    assert main(["ensemble", str(run)]) == 2
    err = capsys.readouterr().err
    assert match in err and "scores.npz" in err and "Traceback" not in err


def test_ensemble_refuses_nan_or_negative_weights(finished_pair, capsys):
    for weights in ("nan,1", "-1,1", "0,0", "a,b"):
        assert main(["ensemble", *finished_pair, f"--weights={weights}"]) == 2
        assert "weights" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_pair(tmp_path_factory):
    runs = []
    for stream in ("joint", "bone"):
        out = str(tmp_path_factory.mktemp("pair") / stream)
        train(load_config("synthetic", TINY + ["trainer.epochs=1", "trainer.baselines=false",
                                               f"data.stream={stream}"]), out)
        runs.append(out)
    return runs


def test_export_under_a_file_size_limit_fails_cleanly(tmp_path):
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        from topogcn.cli import main
        sys.exit(main(["export", "--checkpoint", {ckpt!r}, "--format", "torchscript",
                       "--out", {str(tmp_path / "m.pt")!r}]))
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "File too large" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "m.pt").exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


# ------------------------------------------------------- memory bounded by input
def test_sizes_from_files_are_bounded_before_allocation(tmp_path):
    root = five_folder(tmp_path, "file,label\na.npy,x\n")
    (root / "skeleton.json").write_text(json.dumps(
        {"name": "huge", "num_nodes": 2_000_000_000, "bones": []}))
    with pytest.raises(ValueError, match="num_nodes must be an integer between 1 and 10000"):
        SkeletonFolder(root, split="train")
    (root / "skeleton.json").unlink()
    (root / "classes.txt").write_text("\n".join(f"c{i}" for i in range(5000)))
    with pytest.raises(DatasetFormatError, match="5000 class names, more than the limit of 1000"):
        SkeletonFolder(root, _five(tmp_path), "train")
    # one array referred to twelve times from a small pickle
    big = np.zeros((1, 2000, 25, 3), np.float32)
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [
        {"frame_dir": str(i), "label": 0, "keypoint": big} for i in range(12)]}))
    with pytest.raises(DatasetFormatError, match="arrays referred to several times"):
        read_skeleton_pickle(str(path))
    # an .npz member that inflates 2,000-fold
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("x.npy", "w", force_zip64=True) as m:
            np.lib.format.write_array_header_1_0(
                m, {"descr": "<f4", "fortran_order": False, "shape": (100_000_000,)})
            for _ in range(25):
                m.write(bytes(16_000_000))
    with pytest.raises(DatasetFormatError, match="more than 200x"):
        read_numpy(str(bomb))


def test_person_counts_of_converters_are_bounded(tmp_path, capsys):
    src = tmp_path / "op"
    write_openpose(str(src), "rec", 3)
    labels = write_labels(tmp_path / "labels.csv", ["rec,wave,,,s1"])
    assert main(["convert", "--from", "openpose-json", "--root", str(src), "--labels", labels,
                 "--out", str(tmp_path / "out"), "--max-persons", "1000000"]) == 2
    assert "max_persons must be between 1 and 16" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------- nothing silently wrong
def test_eval_refuses_data_whose_classes_are_in_another_order(tmp_path, capsys):
    from topogcn.datasets import SyntheticMicroGestures
    from topogcn.datasets.convert import export_folder
    kw = dict(num_classes=3, num_subjects=4, test_subjects=1, gestures_per_class=2, frames=None)
    data = tmp_path / "data"
    export_folder([SyntheticMicroGestures(s, **kw) for s in ("train", "test")], str(data))
    out = str(tmp_path / "run")
    train(load_config("synthetic", TINY + ["data.name=folder", f"data.root={data}",
                                           "data.options={}", "trainer.epochs=1",
                                           "trainer.baselines=false"]), out)
    names = (data / "classes.txt").read_text().split()
    (data / "classes.txt").write_text("\n".join(names[::-1]) + "\n")
    assert main(["eval", "--checkpoint", os.path.join(out, "checkpoints", "best.ckpt")]) == 2
    assert "names its classes in another order than the model" in capsys.readouterr().err


def test_analyze_honours_set_without_config(tiny_checkpoint, tmp_path, capsys):
    assert main(["analyze", "--checkpoint", tiny_checkpoint, "--out", str(tmp_path / "a"),
                 "--set", "data.name=synthetc"]) == 2
    assert "unknown dataset 'synthetc'" in capsys.readouterr().err


def test_converters_write_only_what_readers_accept(tmp_path):
    src = tmp_path / "mp"
    src.mkdir()
    write_mediapipe(src / "rec.csv", 6)
    text = (src / "rec.csv").read_text().splitlines()
    cells = text[3].split(",")
    cells[1] = "5e6"  # beyond the value limit
    text[3] = ",".join(cells)
    (src / "rec.csv").write_text("\n".join(text) + "\n")
    labels = write_labels(tmp_path / "labels.csv", ["rec,wave,,,s1"])
    with pytest.raises(DatasetFormatError, match=r"rec.csv, line 4: NaN, infinite or values "
                                                 r"beyond"):
        convert_mediapipe_csv(str(src), labels, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    # and the writer itself refuses what no reader would accept
    from topogcn.io import write_folder
    from topogcn.skeleton import get_skeleton
    for bad in (np.nan, 5e6):
        data = np.zeros((1, 4, 25, 3), np.float32)
        data[0, 2, 3, 1] = bad
        with pytest.raises(DatasetFormatError, match=r"r.npy \(converted\): frame 2"):
            write_folder(str(tmp_path / "w"), get_skeleton("ntu25"), [("r.npy", data)],
                         [["r.npy", "a", "", "", "", ""]], ["a"], ["x", "y", "z"])
        assert not (tmp_path / "w").exists()


def test_duplicates_and_overlaps_are_refused(tmp_path):
    root = five_folder(tmp_path, "file,label,start_frame,end_frame\na.npy,x,0,4\na.npy,y,0,4\n")
    with pytest.raises(DatasetFormatError, match="line 3: the clip a.npy 0..4 is labelled on "
                                                 "line 2 already"):
        SkeletonFolder(root, _five(tmp_path), "train")
    path = tmp_path / "ann.pkl"
    path.write_bytes(pickle.dumps({"split": {"xsub_train": ["S001C001P001R001A001"],
                                             "xsub_val": ["S001C001P001R001A001"]},
                                   "annotations": annotations(1)}))
    with pytest.raises(DatasetFormatError, match="1 clips are in both"):
        PysklPickle(path, "train", cache_dir=tmp_path / "c")
    from topogcn.datasets.testing import write_ntu_skeleton
    ntu = tmp_path / "ntu"
    for sub in ("a", "b"):
        (ntu / sub).mkdir(parents=True)
        write_ntu_skeleton(str(ntu / sub / "S001C002P001R001A001.skeleton"), 4, {"1": range(4)})
    with pytest.raises(DatasetFormatError, match="S001C002P001R001A001 is also"):
        convert_ntu(str(ntu), str(tmp_path / "out"))


def test_arrays_of_other_than_real_numbers_are_refused(tmp_path):
    for name, arr in (("c.npy", np.zeros((4, 5, 3), complex)),
                      ("s.npy", np.zeros((4, 5), dtype=[("x", "f4"), ("y", "f4")])),
                      ("b.npy", np.zeros((4, 5, 3), bool))):
        np.save(tmp_path / name, arr)
        with pytest.raises(DatasetFormatError, match="only arrays of real numbers"):
            read_numpy(str(tmp_path / name))


def test_converters_follow_no_link_out_of_the_root(tmp_path):
    outside = tmp_path / "outside"
    write_openpose(str(outside), "rec", 3)
    src = tmp_path / "op"
    src.mkdir()
    os.symlink(outside / "rec", src / "rec")
    labels = write_labels(tmp_path / "labels.csv", ["rec,wave,,,s1"])
    with pytest.raises(DatasetFormatError, match="leads outside the dataset root"):
        convert_openpose_json(str(src), labels, str(tmp_path / "out"))
    from topogcn.datasets.testing import write_ntu_skeleton
    (tmp_path / "elsewhere").mkdir()
    write_ntu_skeleton(str(tmp_path / "elsewhere" / "S001C002P001R001A001.skeleton"), 4,
                       {"1": range(4)})
    (tmp_path / "ntu").mkdir()
    os.symlink(tmp_path / "elsewhere" / "S001C002P001R001A001.skeleton",
               tmp_path / "ntu" / "S001C002P001R001A001.skeleton")
    with pytest.raises(DatasetFormatError, match="leads outside the dataset root"):
        convert_ntu(str(tmp_path / "ntu"), str(tmp_path / "out2"))


@pytest.mark.parametrize("argv, message", [
    (["spot", "--min-length", "-5"], "--min-length: expected a number from 1"),
    (["spot", "--threshold", "nan"], "--threshold: expected a number in (0, 1]"),
    (["predict", "--top-k", "0", "x.npy"], "--top-k: expected a number from 1"),
])
def test_command_line_numbers_are_checked(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(argv[:1] + ["--checkpoint", str(tmp_path / "m.ckpt")] + argv[1:])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_checkpoint_of_an_oversized_model_is_refused_before_allocation(tmp_path):
    from topogcn.engine import CheckpointError, Run
    from topogcn.engine.checkpoint import seal_checkpoint
    from topogcn.engine.trained_run import CKPT_KEY
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    ck = torch.load(ckpt, weights_only=True)
    ck[CKPT_KEY]["config"]["model"]["kwargs"]["channels"] = [100_000]
    torch.save(seal_checkpoint(ck), tmp_path / "big.ckpt")  # sealed: as if trained so
    with pytest.raises((CheckpointError, ValueError), match="channels must be whole numbers"):
        Run.load(str(tmp_path / "big.ckpt"))
