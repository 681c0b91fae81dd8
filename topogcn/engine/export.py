"""Export a trained classifier for deployment: ONNX or TorchScript.

The exported graph is the model in eval mode (:math:`z = \\mu`), taking
``[N, M, T, V, C]`` clips (``N`` free, ``M, T, V, C`` those of the training
configuration) and returning ``[N, num_classes]`` logits.  There is one code
path: the dense S-GC path of :class:`~topogcn.nn.SGConv` is plain tensor
algebra, which both ``torch.jit.trace`` and ``torch.onnx.export(...,
dynamo=True)`` capture.  A JSON file beside the export records the classes,
the skeleton and the input shape.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import numpy as np
import torch

from topogcn.engine.run import load_run
from topogcn.utils.io import atomic_path, atomic_write_text

FORMATS = ("onnx", "torchscript")


def _run_onnx(path: str, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def export_model(checkpoint: str, out: str, format: str = "onnx",
                 frames: Optional[int] = None, check: bool = True) -> Dict[str, Any]:
    """Export the model of ``checkpoint`` to ``out`` (written atomically) and
    ``out + ".json"`` (classes, skeleton, input shape).

    Args:
        checkpoint (str): A checkpoint written by ``topogcn train``.
        out (str): Output file (``.onnx`` or ``.pt``).
        format (str, optional): ``"onnx"`` (needs ``pip install
            topogcn[export]``) or ``"torchscript"``. (default: ``"onnx"``)
        frames (int, optional): Clip length ``T`` of the exported input.
            (default: the training configuration's ``data.frames``)
        check (bool, optional): Run the exported model (ONNX Runtime or the
            TorchScript module) on random clips of batch size 1 and 3 and
            record the largest absolute difference to PyTorch's logits.
            (default: :obj:`True`)

    Returns:
        dict: what was written into the JSON file, with ``max_abs_diff`` when
        checked.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
            if check:
                import onnxruntime  # noqa: F401
        except ImportError as e:
            raise RuntimeError(f"ONNX export needs onnx and onnxscript (and onnxruntime to "
                               f"check it): {e}; pip install 'topogcn[export]'") from None
    cfg, model, info = load_run(checkpoint)
    T = frames or cfg.data.frames
    if not T or T < 1:
        raise ValueError(f"frames must be a positive clip length, got {T!r} (the training "
                         f"configuration has data.frames={cfg.data.frames!r})")
    # example batch of 2: torch.export specialises a batch of 1 to a constant
    shape = [2, info["num_person"], int(T), info["skeleton"].num_nodes, info["in_channels"]]
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(*shape, generator=gen)
    with torch.no_grad():
        if format == "torchscript":
            exported = torch.jit.trace(model, example, check_trace=False)
            with atomic_path(out) as tmp:
                torch.jit.save(exported, tmp)
        else:
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False,
                                        dynamic_shapes=({0: batch},))
            with atomic_path(out) as tmp:
                program.save(tmp)
    meta: Dict[str, Any] = {
        "format": format, "checkpoint": os.path.abspath(checkpoint),
        "input": "clips [N, M, T, V, C]", "input_shape": ["N"] + shape[1:],
        "output": "logits [N, num_classes]", "classes": list(info["classes"]),
        "skeleton": info["skeleton"].to_dict(),
    }
    if check:
        diffs = []
        for n in (1, 3):
            x = torch.randn(n, *shape[1:], generator=gen)
            with torch.no_grad():
                ref = model(x).numpy()
                if format == "onnx":
                    got = _run_onnx(out, x)
                else:
                    got = torch.jit.load(out)(x).numpy()
            if got.shape != ref.shape:
                raise RuntimeError(f"the exported model returned {list(got.shape)} for input "
                                   f"{list(x.shape)}, expected {list(ref.shape)}")
            diffs.append(float(np.abs(got - ref).max()))
        meta["max_abs_diff"] = max(diffs)
    atomic_write_text(out + ".json", json.dumps(meta, indent=1) + "\n")
    return meta
