"""A small model factory so that configs can name a model."""
from __future__ import annotations

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
        raise ValueError(f"Model '{name}': {e}") from None
