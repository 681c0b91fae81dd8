"""Export a trained classifier for deployment: ONNX or TorchScript.

The exported graph takes the **raw clip**, as stored in a file: ``clip``
``[N, M, T, V, C]`` float32 with free ``N`` and ``T`` (``M``, ``V``, ``C``
those of the run's :class:`~topogcn.transforms.InputSpec`), raw
coordinates.  The whole preprocessing (centring, scale normalisation,
resampling to ``frames``, the input stream) runs inside the graph, then the
model in eval mode (:math:`z = \\mu`); the output is ``logits``
``[N, num_classes]``.  A JSON file beside the export holds the input spec
and the class names, so a deployment needs nothing but the two files and
onnxruntime (or torch, for TorchScript).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from typing import Any, Dict, List, Union

import numpy as np
import torch

from topogcn.engine.trained_run import Run
from topogcn.utils.io import atomic_path, atomic_write_text, check_not_an_input

FORMATS = ("onnx", "torchscript")


class ExportCheckError(RuntimeError):
    """The exported model does not reproduce PyTorch within the tolerance."""


def _run_onnx(path: str, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_lengths(frames: int) -> List[int]:
    """Raw clip lengths the check runs: shorter, equal to and longer than
    the model's ``frames``."""
    return sorted({max(2, frames // 2 + 1), frames, 2 * frames + 3})


def export_model(checkpoint: Union[str, Run], out: str, format: str = "onnx", check: bool = True,
                 tolerance: float = 1e-4) -> Dict[str, Any]:
    """Export the run of ``checkpoint`` (preprocessing and model) to ``out``
    and write ``out + ".json"`` (input spec, classes, shapes, check).

    Args:
        checkpoint (str or Run): A checkpoint written by ``topogcn train``
            (or its :class:`~topogcn.engine.Run`).
        out (str): Output file (``.onnx`` or ``.pt``).
        format (str, optional): ``"onnx"`` (needs ``pip install
            topogcn[export]``) or ``"torchscript"``. (default: ``"onnx"``)
        check (bool, optional): Run the exported model (ONNX Runtime or the
            TorchScript module) on random raw clips of batch 1 and 3 and of
            lengths below, at and above the model's ``frames``, and compare
            with the same model in float64; ``out`` is written only when the
            largest difference of the probabilities and of the logits
            (relative to their scale) is within ``tolerance`` or 10x
            PyTorch's own float32 difference, whichever is larger, else
            :class:`ExportCheckError`. (default: :obj:`True`)
        tolerance (float, optional): See ``check``. (default: ``1e-4``)

    Returns:
        dict: what was written into the JSON file.
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
    run = Run.of(checkpoint)
    run.require_clip_classifier("export")
    for path in (out, out + ".json"):
        check_not_an_input(path, [run.checkpoint], "the export's output")
    spec = run.spec
    module = run.classifier()
    gen = torch.Generator().manual_seed(0)

    def raw(n: int, t: int) -> torch.Tensor:
        return torch.randn(n, spec.persons, t, spec.num_nodes, spec.num_channels,
                           generator=gen)

    # example batch of 2 and a length unlike `frames`: torch.export specialises 1s
    example = raw(2, spec.frames + 5)
    meta: Dict[str, Any] = {
        "format": format, "checkpoint": os.path.basename(run.name),
        "input": {"name": "clip", "shape": spec.raw_shape, "dtype": "float32",
                  "layout": "N, M, T, V, C: clips, persons, frames (any), joints, channels",
                  "channels": list(spec.channels)},
        "output": {"name": "logits", "shape": ["N", spec.num_classes]},
        "classes": list(spec.classes), "input_spec": spec.to_dict(),
    }
    with atomic_path(out) as tmp, torch.no_grad(), _quiet():
        if format == "torchscript":
            exported = torch.jit.trace(module, example, check_trace=False)
            with open(tmp, "wb") as f:  # a failed write: OSError, not a crash in C++
                torch.jit.save(exported, f)
        else:
            batch = torch.export.Dim("batch", min=1, max=4096)
            length = torch.export.Dim("frames", min=2, max=1_000_000)
            program = torch.onnx.export(module, (example,), dynamo=True, verbose=False,
                                        input_names=["clip"], output_names=["logits"],
                                        dynamic_shapes=({0: batch, 2: length},))
            program.save(tmp)
        if check:
            meta["check"] = _check(module, tmp, format, raw, spec.frames, tolerance)
    atomic_write_text(out + ".json", json.dumps(meta, indent=1) + "\n")
    return meta


@contextlib.contextmanager
def _quiet():
    """Tracing and exporting without the tracer's and exporter's chatter
    (tracer warnings on shape checks, missing torchvision operators)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _check(module: torch.nn.Module, path: str, format: str, raw, frames: int,
           tolerance: float) -> Dict[str, Any]:
    """Compare the export with the same model run in float64 (the exact
    model), beside PyTorch's own float32 run: the export passes when its
    differences are within ``tolerance`` or within 10x PyTorch's own float32
    rounding, whichever is larger (a deep trained model rounds more than a
    shallow untrained one; the export is judged against that, not against
    one fixed number)."""
    import copy

    loaded = torch.jit.load(path) if format == "torchscript" else None
    exact = copy.deepcopy(module).double()
    diff = {"export_logit": 0.0, "export_prob": 0.0, "torch_logit": 0.0, "torch_prob": 0.0}
    lengths = check_lengths(frames)
    for n in (1, 3):
        for t in lengths:
            x = raw(n, t)
            ref = exact(x.double()).numpy()
            mine = module(x).numpy()
            got = _run_onnx(path, x) if loaded is None else loaded(x).numpy()
            if got.shape != ref.shape:
                raise ExportCheckError(f"the exported model returned {list(got.shape)} for "
                                       f"input {list(x.shape)}, expected {list(ref.shape)}")
            scale = max(1.0, float(np.abs(ref).max()))
            for who, out in (("export", got), ("torch", mine)):
                diff[f"{who}_logit"] = max(diff[f"{who}_logit"],
                                           float(np.abs(out - ref).max()) / scale)
                diff[f"{who}_prob"] = max(diff[f"{who}_prob"],
                                          float(np.abs(_softmax(out) - _softmax(ref)).max()))
    allowed = max(tolerance, 10 * diff["torch_logit"], 10 * diff["torch_prob"])
    result = {"clip_lengths": lengths, "batch_sizes": [1, 3], "tolerance": tolerance,
              "allowed": allowed, "max_abs_prob_diff": diff["export_prob"],
              "max_rel_logit_diff": diff["export_logit"],
              "torch_float32_prob_diff": diff["torch_prob"],
              "torch_float32_rel_logit_diff": diff["torch_logit"]}
    if not (diff["export_prob"] <= allowed and diff["export_logit"] <= allowed):  # NaN fails
        raise ExportCheckError(
            f"the exported {format} model differs from the exact (float64) model by "
            f"{diff['export_prob']:.2e} in probability and {diff['export_logit']:.2e} in logits "
            f"(relative), PyTorch's own float32 run by {diff['torch_prob']:.2e} and "
            f"{diff['torch_logit']:.2e}: above the allowed {allowed:.1e} (the larger of "
            f"--tolerance {tolerance:.0e} and 10x PyTorch's own rounding); nothing was written")
    return result
