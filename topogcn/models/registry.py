"""A model factory so that configs can name a model; other packages add
theirs through the entry-point group ``topogcn.models``
(:mod:`topogcn.utils.registry`)."""
from __future__ import annotations

import difflib
import inspect
import re
from functools import partial
from typing import Callable, List

from torch.nn import Module

from topogcn.models.gecn import GECN
from topogcn.models.stgcn import STGCN
from topogcn.utils.registry import Registry

#: the registered models: factories ``(num_classes=..., skeleton=..., **kwargs)``
MODELS: Registry[Callable[..., Module]] = Registry("model", "topogcn.models")
MODELS.add("gecn", GECN, description="GE-CN (the paper's model)")
MODELS.add("gecn_baseline", partial(GECN, attention=False),
           description="GE-CN without self-attention (the paper's Table 1 baseline)")
MODELS.add("stgcn", STGCN, description="ST-GCN (spatial partitions, no attention)")


def list_models() -> List[str]:
    """Names accepted by :func:`create_model` (plugins included)."""
    return MODELS.names()


def register_model(name: str, factory: Callable[..., Module], overwrite: bool = False,
                   description: str = "") -> None:
    """Make ``factory(num_classes=..., skeleton=..., **kwargs)`` available as
    ``name`` (a plugin package: the entry-point group ``topogcn.models``)."""
    MODELS.add(name, factory, overwrite=overwrite, description=description)


def create_model(name: str, **kwargs) -> Module:
    """Build a registered model: ``create_model("gecn", num_classes=17,
    skeleton="ntu25", num_person=1)``.  ``gecn_baseline`` is GE-CN without
    self-attention (the paper's Table 1 baseline)."""
    factory = MODELS.get(name)
    try:
        return factory(**kwargs)
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
    factory = MODELS.get(name)
    target = factory.func if isinstance(factory, partial) else factory
    params = inspect.signature(target).parameters
    names = [p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
    if any(v.kind == v.VAR_KEYWORD for v in params.values()) and target is GECN:
        from topogcn.nn import SGConv
        names += [p for p in inspect.signature(SGConv).parameters
                  if p not in ("in_channels", "out_channels", "num_nodes", "kwargs")]
    return sorted(set(names) - {"self"})
