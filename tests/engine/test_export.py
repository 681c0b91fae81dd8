"""Export of a trained classifier: the exported model gives PyTorch's logits."""
import json
import os

import numpy as np
import pytest
import torch

from topogcn.engine.data import build_dataset
from topogcn.engine.export import export_model
from topogcn.engine.run import load_run


def synthetic_batch(ckpt):
    cfg, model, _ = load_run(ckpt)
    ds = build_dataset(cfg.data, "test")
    x = torch.stack([ds[i][0] for i in range(min(5, len(ds)))])
    with torch.no_grad():
        return x, model(x).numpy()


def test_torchscript_matches_pytorch(tiny_checkpoint, tmp_path):
    out = str(tmp_path / "model.pt")
    meta = export_model(tiny_checkpoint, out, "torchscript")
    assert meta["max_abs_diff"] < 1e-4
    x, ref = synthetic_batch(tiny_checkpoint)
    with torch.no_grad():
        got = torch.jit.load(out)(x).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)
    side = json.loads(open(out + ".json").read())
    assert side["input_shape"] == ["N", 1, 8, 25, 3] and len(side["classes"]) == 3


def test_onnx_matches_pytorch(tiny_checkpoint, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = str(tmp_path / "model.onnx")
    meta = export_model(tiny_checkpoint, out, "onnx")
    assert meta["max_abs_diff"] < 1e-4
    x, ref = synthetic_batch(tiny_checkpoint)  # real synthetic clips, batch 5
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_export_errors_and_cli(tiny_checkpoint, tmp_path, capsys):
    from topogcn.cli import main
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
    assert "max |logit difference|" in capsys.readouterr().out
