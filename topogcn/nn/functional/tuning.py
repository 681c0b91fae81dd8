"""The tuning of topogcn's CPU kernels, in one place, read at every call.

The blocked kernels keep the large intermediate tensors of S-GC (the
per-head aggregated features, the attention maps) one block of frames at a
time in a small reused buffer: on a CPU, where a fresh large tensor is
memory the operating system must fault in, this is faster and far smaller
(measured on the benchmarks page).  On other devices the plain batched
formulation is used unless a kernel has been measured faster there: none
has, so far.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class Tuning:
    #: aggregated feature values (frames * V * H * C_in) per block of the
    #: training kernels
    block_elements: int = 1 << 20
    #: joint pairs per head (frames * V * V) per block of the inference kernel
    inference_block_pairs: int = 1 << 17
    #: samples per chunk of a model's inference (persons * frames * joints *
    #: channels of the embedded input, 8 MB in float32)
    inference_chunk_elements: int = 1 << 21
    #: the device types the blocked kernels run on
    blocked_devices: tuple = ("cpu",)
    #: values per block of the accurate batch norm's one pass over its input
    #: (:func:`~topogcn.nn.norm.batch_statistics`)
    statistics_block_elements: int = 1 << 20
    #: training batch norms of float32 channels-last CPU tensors with
    #: accurate statistics (:class:`~topogcn.nn.norm.AccurateBatchNorm2d`):
    #: float32 gradients at the reference formulation's distance from
    #: float64; off: PyTorch's kernel (measured on the Fidelity page).  A
    #: training run sets it from ``trainer.accurate_batch_norm``
    accurate_batch_norm: bool = False


#: the settings every kernel reads when it is called (change a field to tune)
TUNING = Tuning()


@contextlib.contextmanager
def tuned(**fields) -> Iterator[Tuning]:
    """:data:`TUNING` with ``fields`` set inside the block and restored after
    it (a training run applies its configuration's settings this way)."""
    names = {f.name for f in dataclasses.fields(Tuning)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise TypeError(f"tuned(): no tuning field {', '.join(unknown)}; "
                        f"the fields are {', '.join(sorted(names))}")
    before = {name: getattr(TUNING, name) for name in fields}
    try:
        for name, value in fields.items():
            setattr(TUNING, name, value)
        yield TUNING
    finally:
        for name, value in before.items():
            setattr(TUNING, name, value)


def use_blocked_kernels(device: torch.device) -> bool:
    """Whether the blocked kernels run on ``device`` (the CPU; elsewhere the
    plain batched formulation)."""
    return device.type in TUNING.blocked_devices
