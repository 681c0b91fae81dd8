"""One switch for inference: :func:`fuse`."""
import copy

from torch.nn import Module


def fuse(model: Module) -> Module:
    r"""An inference copy of ``model``: evaluation mode, no parameter
    gradients, and every topogcn module that can be simplified for
    inference rewritten by its ``fuse_()``: batch norms folded into the
    convolution (or S-GC) before them, residuals added in place, GE-CN's
    samples encoded in chunks.  The copy computes the same function as
    ``model.eval()`` up to float rounding; ``model`` itself is unchanged (it
    can go on training).  Used by ``topogcn eval``, ``predict``, ``spot``,
    ``export`` and the validation of training.  The copy of a model
    compiled in place (``model.compile()``) runs eagerly.

    Args:
        model (torch.nn.Module): Any module; parts without ``fuse_`` are
            copied as they are.

    Returns:
        The fused copy (``torch.nn.Module``), in evaluation mode.
    """
    fused = copy.deepcopy(model).eval()
    for p in fused.parameters():
        p.requires_grad_(False)
    for module in list(fused.modules()):
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None  # it would call the original module
        fuse_ = getattr(module, "fuse_", None)
        if callable(fuse_):
            fuse_()
    return fused
