"""Name -> :class:`~topogcn.skeleton.Skeleton` registry.

Built-in skeletons are built on first use; users add their own with
:func:`register_skeleton`.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Union

from topogcn.skeleton import builtins
from topogcn.skeleton.skeleton import Skeleton


def _openpose137_upper() -> Skeleton:
    return builtins.openpose137().subset(
        ["upper_body", "left_hand", "right_hand"], name="openpose137_upper")


def _miga22() -> Skeleton:
    return builtins.openpose137().subset(["upper_body", "fingertips"], name="miga22")


class SkeletonRegistry:
    """A mapping of names (and aliases) to skeleton factories."""

    def __init__(self) -> None:
        self._factories: Dict[str, Callable[[], Skeleton]] = {}
        self._aliases: Dict[str, str] = {}
        self._cache: Dict[str, Skeleton] = {}

    def add(self, name: str, factory: Callable[[], Skeleton],
            aliases: Iterable[str] = (), overwrite: bool = False) -> None:
        for key in (name, *aliases):
            if not overwrite and (key in self._factories or key in self._aliases):
                raise ValueError(
                    f"A skeleton named '{key}' is already registered; pass overwrite=True "
                    f"to replace it")
        self._factories[name] = factory
        self._cache.pop(name, None)
        for alias in aliases:
            self._aliases[alias] = name

    def get(self, name: str) -> Skeleton:
        key = self._aliases.get(name, name)
        if key not in self._factories:
            raise ValueError(
                f"Unknown skeleton '{name}'. Known skeletons: {', '.join(self.names())}. "
                f"A custom skeleton can be read with Skeleton.from_file(path) or added "
                f"with register_skeleton(skeleton)")
        if key not in self._cache:
            self._cache[key] = self._factories[key]()
        return self._cache[key]

    def names(self, with_aliases: bool = False) -> List[str]:
        names = sorted(self._factories)
        if with_aliases:
            names += sorted(self._aliases)
        return names

    def aliases_of(self, name: str) -> List[str]:
        return sorted(a for a, n in self._aliases.items() if n == name)


_REGISTRY = SkeletonRegistry()
for _name, (_factory, _aliases) in builtins.BUILTINS.items():
    _REGISTRY.add(_name, _factory, _aliases)
_REGISTRY.add("openpose137_upper", _openpose137_upper)
_REGISTRY.add("miga22", _miga22)


def get_skeleton(name: Union[str, Skeleton, os.PathLike]) -> Skeleton:
    """Return a skeleton given a :class:`Skeleton` (returned as is), a
    registry name or alias, or the path of a JSON/YAML skeleton file."""
    if isinstance(name, Skeleton):
        return name
    if isinstance(name, os.PathLike) or (
            isinstance(name, str) and name.lower().endswith((".json", ".yaml", ".yml"))):
        return Skeleton.from_file(name)
    if not isinstance(name, str):
        raise ValueError(f"Expected a skeleton name, file path or Skeleton, got {name!r}")
    return _REGISTRY.get(name)


def list_skeletons(with_aliases: bool = False) -> List[str]:
    """Names of the registered skeletons (and their aliases on request)."""
    return _REGISTRY.names(with_aliases)


def register_skeleton(skeleton: Skeleton, aliases: Iterable[str] = (),
                      overwrite: bool = False) -> Skeleton:
    """Make ``skeleton`` available by its name (and ``aliases``) to
    :func:`get_skeleton` and so to configs and the command line."""
    if not isinstance(skeleton, Skeleton):
        raise ValueError(f"register_skeleton expects a Skeleton, got {type(skeleton).__name__}")
    _REGISTRY.add(skeleton.name, lambda: skeleton, aliases, overwrite=overwrite)
    return skeleton


def skeleton_summary() -> List[dict]:
    """One row per registered skeleton: name, aliases, joints, bones, centre."""
    rows = []
    for name in _REGISTRY.names():
        s = _REGISTRY.get(name)
        rows.append({"name": name, "aliases": _REGISTRY.aliases_of(name),
                     "num_nodes": s.num_nodes, "num_bones": s.num_bones,
                     "center": s.joint_names[s.center]})
    return rows
