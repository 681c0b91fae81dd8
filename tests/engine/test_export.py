"""Export takes the raw clip: the exported model (preprocessing in the graph)
gives the probabilities of `topogcn predict` on the same file, for every
stream and any clip length."""
import json
import os

import numpy as np
import pytest
import torch

from topogcn.cli import main
from tests.engine.conftest import untrained_checkpoint
from topogcn.engine import Run, predict
from topogcn.engine.export import ExportCheckError, export_model
from topogcn.transforms import InputSpec

STREAMS = ["joint", "bone", "motion", "bone_motion"]


def raw_clip(path, T, seed=0):
    """A raw clip as a user has it: [T, V, C] with absolute coordinates."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(T, 25, 3)) * 0.05 + np.array([0.3, 1.2, 2.5])).astype(np.float32)
    np.save(path, x)
    return str(path)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("stream", STREAMS)
def test_torchscript_on_raw_clip_equals_predict(stream, tmp_path):
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", stream)
    out = str(tmp_path / "model.pt")
    meta = export_model(ckpt, out, "torchscript")
    assert meta["check"]["max_abs_prob_diff"] <= 1e-4
    scripted = torch.jit.load(out)
    for T in (5, 8, 37):  # the model's data.frames is 8
        clip = raw_clip(tmp_path / f"c{T}.npy", T, seed=T)
        ref = np.array(predict(ckpt, clip)["probabilities"])
        with torch.no_grad():
            got = softmax(scripted(torch.from_numpy(np.load(clip))[None, None]).numpy())[0]
        np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.parametrize("stream", STREAMS)
def test_onnx_deployment_equals_predict_json(stream, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", stream)
    out = str(tmp_path / "model.onnx")
    assert main(["export", "--checkpoint", ckpt, "--out", out]) == 0
    side = json.loads(open(out + ".json").read())
    assert side["input"]["shape"] == ["N", 1, "T", 25, 3] and side["input"]["name"] == "clip"
    assert InputSpec.from_dict(side["input_spec"]) == Run.load(ckpt).spec
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    clips = [raw_clip(tmp_path / f"c{T}.npy", T, seed=T) for T in (13, 50)]
    for clip in clips:  # lengths unlike data.frames=8
        capsys.readouterr()
        assert main(["predict", "--checkpoint", ckpt, clip, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["classes"] == side["classes"] and printed["file"] == clip
        # deployment: onnxruntime, numpy and the sidecar only
        x = np.load(clip)[None, None]
        probs = softmax(session.run(None, {"clip": x})[0])[0]
        np.testing.assert_allclose(probs, printed["probabilities"], atol=1e-4)
        top = printed["top"][0]
        assert top["class"] == side["classes"][int(probs.argmax())]
    batch = np.stack([np.load(clips[0])[None]] * 3)  # batch 3: dynamic N
    assert session.run(None, {"clip": batch})[0].shape == (3, len(side["classes"]))


def test_export_that_fails_its_check_writes_nothing(tmp_path, monkeypatch, capsys):
    import topogcn.engine.export as export
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "joint")
    real = torch.jit.load
    monkeypatch.setattr(export.torch.jit, "load",
                        lambda p: (lambda x, m=real(p): m(x) + 1e-2 * torch.randn(1)))
    out = tmp_path / "m.pt"
    with pytest.raises(ExportCheckError, match="above the allowed .*10x PyTorch.s own rounding"):
        export_model(ckpt, str(out), "torchscript")
    assert main(["export", "--checkpoint", ckpt, "--format", "torchscript", "--out",
                 str(out)]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert not out.exists() and not os.path.exists(str(out) + ".json")
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_trained_checkpoint_exports_and_errors(tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="format must be one of"):
        export_model(tiny_checkpoint, str(tmp_path / "m"), "tflite")
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", "--checkpoint", str(bad), "--format", "torchscript",
                 "--out", str(tmp_path / "m.pt")]) == 2
    assert "bad.ckpt" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "m.pt")
    assert main(["export", "--checkpoint", tiny_checkpoint, "--format", "torchscript",
                 "--out", str(tmp_path / "m.pt")]) == 0
    printed = capsys.readouterr().out
    assert "raw clips Nx1xTx25x3 (x, y, z)" in printed and "max |probability difference|" in printed


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_official_preprocessing_exports(fmt, tmp_path):
    """k-mode input, first-person centring on SpineMid in its first present
    frame, view alignment, 95% centre crop, two persons: the exported graph
    follows any clip length and missing frames."""
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    ckpt = untrained_checkpoint(tmp_path / "m.ckpt", "kmode", persons=2, k=1, test_crop=0.95,
                                center_person="first", center_joint=1, normalize_scale=False,
                                align=(0, 1, 12, 16), center="first_present")
    out = str(tmp_path / ("m.pt" if fmt == "torchscript" else "m.onnx"))
    meta = export_model(ckpt, out, fmt)
    assert meta["check"]["max_abs_prob_diff"] <= 1e-4 and 41 not in meta["check"]["clip_lengths"]
    run = Run.load(ckpt)
    x = torch.randn(3, 2, 41, 25, 3)  # 41 frames: 1 frame cropped at each end
    x[0, 0, :3] = 0  # the first person enters at frame 3
    x[1, 1, 10:20] = 0  # the second person leaves for a while
    ref = torch.softmax(run.classifier()(x), -1).detach().numpy()
    if fmt == "onnx":
        import onnxruntime as ort
        logits = ort.InferenceSession(out).run(None, {"clip": x.numpy()})[0]
    else:
        logits = torch.jit.load(out)(x).detach().numpy()
    np.testing.assert_allclose(softmax(logits), ref, atol=1e-4)
