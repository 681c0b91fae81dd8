"""Whether the code runs under a tracer."""
import torch


def is_tracing() -> bool:
    """:obj:`True` under ``torch.jit.trace``, ``torch.compile`` and
    ``torch.export`` (ONNX export included): code paths that depend on a
    tensor's size (loops over blocks of frames or chunks of samples) run in
    one piece there, so that the traced graph keeps a symbolic batch."""
    return (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.compiler.is_exporting())
