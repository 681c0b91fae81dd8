"""Name -> :class:`~topogcn.skeleton.Skeleton` registry.

Built-in skeletons are built on first use; users add their own with
:func:`register_skeleton`, other packages through the entry-point group
``topogcn.skeletons`` (:mod:`topogcn.utils.registry`).
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Union

from topogcn.skeleton import builtins
from topogcn.skeleton.skeleton import Skeleton
from topogcn.utils.registry import Registry


def _openpose137_upper() -> Skeleton:
    return builtins.openpose137().subset(
        ["upper_body", "left_hand", "right_hand"], name="openpose137_upper")


def _miga22() -> Skeleton:
    return builtins.openpose137().subset(["upper_body", "fingertips"], name="miga22")


#: the registered skeletons: factories ``() -> Skeleton`` (or skeletons);
#: plugins add theirs under the entry-point group ``topogcn.skeletons``
SKELETONS: Registry[Union[Skeleton, Callable[[], Skeleton]]] = Registry(
    "skeleton", "topogcn.skeletons",
    hint="A custom skeleton can be read with Skeleton.from_file(path) or added with "
         "register_skeleton(skeleton)")
for _name, (_factory, _aliases) in builtins.BUILTINS.items():
    SKELETONS.add(_name, _factory, aliases=_aliases)
SKELETONS.add("openpose137_upper", _openpose137_upper)
SKELETONS.add("miga22", _miga22)
#: name -> (the registered object, the skeleton it built): built once
_BUILT: Dict[str, tuple] = {}


def _registered(name: str) -> Skeleton:
    entry = SKELETONS.entry(name)
    cached = _BUILT.get(entry.name)
    if cached is None or cached[0] is not entry.obj:  # new, or replaced since
        built = entry.obj if isinstance(entry.obj, Skeleton) else entry.obj()
        if not isinstance(built, Skeleton):
            raise ValueError(f"the skeleton entry {entry.name!r} ({entry.source}) gave "
                             f"{type(built).__name__}, not a Skeleton")
        cached = _BUILT[entry.name] = (entry.obj, built)
    return cached[1]


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
    return _registered(name)


def list_skeletons(with_aliases: bool = False) -> List[str]:
    """Names of the registered skeletons (and their aliases on request)."""
    return SKELETONS.names(with_aliases)


def register_skeleton(skeleton: Skeleton, aliases: Iterable[str] = (),
                      overwrite: bool = False) -> Skeleton:
    """Make ``skeleton`` available by its name (and ``aliases``) to
    :func:`get_skeleton` and so to configs and the command line."""
    if not isinstance(skeleton, Skeleton):
        raise ValueError(f"register_skeleton expects a Skeleton, got {type(skeleton).__name__}")
    SKELETONS.add(skeleton.name, skeleton, aliases=aliases, overwrite=overwrite)
    return skeleton


def skeleton_summary() -> List[dict]:
    """One row per registered skeleton: name, aliases, joints, bones, centre."""
    rows = []
    for name in SKELETONS.names():
        s = _registered(name)
        rows.append({"name": name, "aliases": SKELETONS.aliases_of(name),
                     "num_nodes": s.num_nodes, "num_bones": s.num_bones,
                     "center": s.joint_names[s.center]})
    return rows
