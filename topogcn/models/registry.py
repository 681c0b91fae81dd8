"""A small model factory so that configs can name a model."""
from __future__ import annotations

import difflib
import inspect
import re
from functools import partial
from typing import Callable, Dict, List

from torch.nn import Module

from topogcn.models.gecn import GECN
from topogcn.models.stgcn import STGCN

_MODELS: Dict[str, Callable[..., Module]] = {
    "gecn": GECN,
    "gecn_baseline": partial(GECN, attention=False),
    "stgcn": STGCN,
}


def list_models() -> List[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_MODELS)


def register_model(name: str, factory: Callable[..., Module], overwrite: bool = False) -> None:
    """Make ``factory(num_classes=..., skeleton=..., **kwargs)`` available as ``name``."""
    if name in _MODELS and not overwrite:
        raise ValueError(f"A model named '{name}' is already registered")
    _MODELS[name] = factory


def create_model(name: str, **kwargs) -> Module:
    """Build a registered model: ``create_model("gecn", num_classes=17,
    skeleton="ntu25", num_person=1)``.  ``gecn_baseline`` is GE-CN without
    self-attention (the paper's Table 1 baseline)."""
    if name not in _MODELS:
        raise ValueError(f"Unknown model '{name}'. Known models: {', '.join(list_models())}")
    try:
        return _MODELS[name](**kwargs)
    except TypeError as e:
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if not bad:
            raise ValueError(f"Model '{name}': {e}") from None
        known = model_arguments(name)
        close = difflib.get_close_matches(bad.group(1), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"Model '{name}' has no argument '{bad.group(1)}'{hint} (its "
                         f"arguments: {', '.join(known)})") from None


def model_arguments(name: str) -> List[str]:
    """The keyword arguments a registered model takes (those it passes on to
    its S-GC layers included)."""
    factory = _MODELS[name]
    target = factory.func if isinstance(factory, partial) else factory
    params = inspect.signature(target).parameters
    names = [p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
    if any(v.kind == v.VAR_KEYWORD for v in params.values()) and target is GECN:
        from topogcn.nn import SGConv
        names += [p for p in inspect.signature(SGConv).parameters
                  if p not in ("in_channels", "out_channels", "num_nodes", "kwargs")]
    return sorted(set(names) - {"self"})
