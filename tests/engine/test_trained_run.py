"""Run.load: one load, a typed input spec, older checkpoints, schema errors."""
import numpy as np
import pytest
import torch

from tests.engine.conftest import untrained_checkpoint
from topogcn.engine import CheckpointError, Run
from topogcn.engine.checkpoint import INTEGRITY_KEY, seal_checkpoint
from topogcn.engine.trained_run import CKPT_KEY
from topogcn.transforms import InputSpecError


def rewrite(path, out, edit, seal=True):
    """The checkpoint with its topogcn entry edited (and sealed again, as a
    tool that writes checkpoints would)."""
    ck = torch.load(path, weights_only=True)
    edit(ck[CKPT_KEY])
    torch.save(seal_checkpoint(ck) if seal else ck, out)
    return str(out)


def test_load_gives_spec_model_and_preprocessing(tmp_path):
    run = Run.load(untrained_checkpoint(tmp_path / "m.ckpt", "bone"))
    assert run.spec.stream == "bone" and run.classes == list(run.spec.classes)
    assert not run.model.training and run.preprocess.spec is run.spec
    clip = torch.randn(30, 25, 3)
    p = run.predict_proba(clip)
    assert p.shape == (3,) and abs(float(p.sum()) - 1) < 1e-5
    batch = run.predict_proba(clip[None, None].expand(2, 1, 30, 25, 3))
    torch.testing.assert_close(batch[0], p)
    with pytest.raises(InputSpecError, match="clip.npy: 24 joints"):
        run.predict_proba(torch.zeros(30, 24, 3), "clip.npy")


def test_prediction_and_spotting_run_the_fused_model(tmp_path):
    """``predict``, ``export`` (``run.classifier()``) and ``spot`` run
    ``topogcn.nn.fuse`` of the model: no batch norm left in its blocks, the
    same probabilities as the model itself."""
    from topogcn.spotting import Spotter
    run = Run.load(untrained_checkpoint(tmp_path / "m.ckpt", "joint"))
    spotter = Spotter(run.model, run.classes[:-1] + ["background"], length=30, stride=10)
    for model in (run.classifier().model, spotter.model):
        assert model is not run.model and not model.training
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                       for m in model.blocks.modules())
    clip = torch.randn(1, 1, 30, 25, 3)
    with torch.inference_mode():
        plain = torch.softmax(run.model(run.preprocess(clip)), -1)
    torch.testing.assert_close(run.predict_proba(clip), plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.pop("input_spec"), "has no 'input_spec' \\(what the model expects"),
    (lambda m: m["input_spec"].pop("channels"), "input_spec: missing field 'channels'"),
    (lambda m: m["input_spec"].update(frames="8"), "input_spec: frames must be a positive"),
    (lambda m: m["input_spec"].update(classes=["a", "a", "b"]), "duplicate class names"),
    (lambda m: m.update(config=[1]), "has no 'config' mapping"),
    (lambda m: m["config"]["data"].update(frames="x"), "'data.frames' must be an integer"),
])
def test_bad_payload_is_a_clear_checkpoint_error(tmp_path, edit, match):
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    bad = rewrite(ckpt, tmp_path / "bad.ckpt", edit)
    with pytest.raises(CheckpointError, match=match) as e:
        Run.load(bad)
    assert "bad.ckpt" in str(e.value)


def test_corrupt_weights_are_refused_by_every_command(tiny_checkpoint, tmp_path, capsys):
    """A flipped byte in a weight (the checksum) and NaN weights: predict,
    eval, export, analyze and spot exit 2 with a message naming the file."""
    from topogcn.cli import main
    ck = torch.load(tiny_checkpoint, weights_only=True)
    assert len(ck[INTEGRITY_KEY]["sha256"]) == 64
    name = next(k for k, v in ck["state_dict"].items() if v.is_floating_point() and v.numel())
    flipped = {**ck, "state_dict": dict(ck["state_dict"])}
    w = flipped["state_dict"][name].clone()
    w.view(-1).view(torch.int32)[0] ^= 1 << 20  # one bit of one weight
    flipped["state_dict"][name] = w
    torch.save(flipped, tmp_path / "flip.ckpt")
    nan = {**ck, "state_dict": dict(ck["state_dict"])}
    nan["state_dict"][name] = torch.full_like(ck["state_dict"][name], float("nan"))
    torch.save(seal_checkpoint(nan), tmp_path / "nan.ckpt")  # sealed, but not finite
    np.save(tmp_path / "clip.npy", np.random.rand(20, 25, 3).astype(np.float32))
    for bad, match in (("flip.ckpt", "does not match the checksum"),
                       ("nan.ckpt", f"weight '{name}' has NaN")):
        path = str(tmp_path / bad)
        with pytest.raises(CheckpointError, match=match):
            Run.load(path)
        for argv in (["predict", "--checkpoint", path, str(tmp_path / "clip.npy")],
                     ["eval", "--checkpoint", path],
                     ["export", "--checkpoint", path, "--format", "torchscript", "--out",
                      str(tmp_path / "m.pt")],
                     ["analyze", "--checkpoint", path, "--out", str(tmp_path / "rep")],
                     ["spot", "--checkpoint", path, str(tmp_path / "clip.npy")]):
            capsys.readouterr()
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert bad in err and match.split("'")[0] in err, (argv, err)
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "rep").exists()


def test_the_whole_checkpoint_is_verified(tmp_path, capsys):
    """Editing what decides behaviour (class names, the input spec, the
    config) without the weights is caught; a checkpoint without an
    integrity record loads only when asked to."""
    from topogcn.cli import main
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    for name, edit in (("reversed", lambda m: m["input_spec"].update(
                            classes=m["input_spec"]["classes"][::-1])),
                       ("frames", lambda m: m["input_spec"].update(frames=10 ** 8)),
                       ("config", lambda m: m["config"]["model"]["kwargs"].update(
                           channels=[100000]))):
        bad = rewrite(ckpt, tmp_path / f"{name}.ckpt", edit, seal=False)
        with pytest.raises(CheckpointError, match="corrupt or was edited"):
            Run.load(bad)
    ck = torch.load(ckpt, weights_only=True)
    ck.pop(INTEGRITY_KEY)
    torch.save(ck, tmp_path / "bare.ckpt")
    bare = str(tmp_path / "bare.ckpt")
    with pytest.raises(CheckpointError, match="no integrity record .* --allow-unverified"):
        Run.load(bare)
    assert Run.load(bare, allow_unverified=True).spec == Run.load(ckpt).spec
    np.save(tmp_path / "clip.npy", np.random.rand(20, 25, 3).astype(np.float32))
    assert main(["predict", "--checkpoint", bare, str(tmp_path / "clip.npy")]) == 2
    assert "--allow-unverified" in capsys.readouterr().err
    assert main(["predict", "--allow-unverified", "--checkpoint", bare,
                 str(tmp_path / "clip.npy")]) == 0
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint at all\n" * 10)
    with pytest.raises(CheckpointError, match="notes.ckpt' cannot be read"):
        Run.load(str(text))
