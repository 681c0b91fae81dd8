"""One registry type for everything topogcn looks up by name: skeletons,
datasets, models and converters.

Each kind has one :class:`Registry`; topogcn's own entries register
themselves where they are defined, and other packages add theirs through a
Python entry point of the registry's group (``topogcn.skeletons``,
``topogcn.datasets``, ``topogcn.models``, ``topogcn.converters``), read
the first time a name is not found or the names are listed::

    # the plugin package's pyproject.toml
    [project.entry-points."topogcn.datasets"]
    my-recordings = "my_package.data:build_my_recordings"

The entry point's name is the registered name and the object it points to
is the entry itself (a builder, a factory, a converter); optional
attributes of that object (``description``, ``needs_root``, ...) fill in the
entry's metadata.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Dict, Generic, Iterable, List, Optional, TypeVar

T = TypeVar("T")


class RegistryError(ValueError):
    """An unknown or duplicate name, or a plugin that cannot be loaded."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name, aliases and metadata."""
    name: str
    obj: T
    aliases: tuple = ()
    #: where it comes from: ``topogcn``, or the distribution of a plugin
    source: str = "topogcn"
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return str(self.meta.get("description", ""))


class Registry(Generic[T]):
    """Names (and aliases) of one kind of object.

    Args:
        kind (str): What the entries are, for messages (``"dataset"``).
        group (str): The entry-point group plugins register under.
        defaults (dict, optional): Metadata every entry has unless it sets
            its own (e.g. ``{"needs_root": True}``).
        hint (str, optional): A sentence appended to the unknown-name
            message (how to add one).
    """

    def __init__(self, kind: str, group: str, defaults: Optional[Dict[str, Any]] = None,
                 hint: str = "") -> None:
        self.kind, self.group, self.hint = kind, group, hint
        self.defaults = dict(defaults or {})
        self._entries: Dict[str, Entry[T]] = {}
        self._aliases: Dict[str, str] = {}
        self._plugins_loaded = False

    # ------------------------------------------------------------ registering
    def add(self, name: str, obj: T, *, aliases: Iterable[str] = (), overwrite: bool = False,
            source: str = "topogcn", **meta: Any) -> T:
        """Register ``obj`` under ``name`` (and ``aliases``); returns ``obj``."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        aliases = tuple(aliases)
        for key in (name, *aliases):
            owner = self._aliases.get(key, key if key in self._entries else None)
            if owner is not None and not overwrite and \
                    self._entries[owner].obj is not obj:
                raise RegistryError(f"a {self.kind} named {key!r} is already registered; pass "
                                    f"overwrite=True to replace it")
        self._entries[name] = Entry(name, obj, aliases, source, {**self.defaults, **meta})
        for alias in aliases:
            self._aliases[alias] = name
        return obj

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        def decorate(obj: T) -> T:
            return self.add(name, obj, **meta)
        return decorate

    # ---------------------------------------------------------------- lookup
    def entry(self, name: str) -> Entry[T]:
        """The entry of ``name`` (or of an alias); plugins are read first
        when the name is not known yet.  An unknown name is a
        :class:`RegistryError` listing the known ones."""
        key = self._aliases.get(name, name)
        if key not in self._entries and not self._plugins_loaded:
            self.load_plugins()
            key = self._aliases.get(name, name)
        if key not in self._entries:
            close = difflib.get_close_matches(str(name), self.names(with_aliases=True), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{hint} (registered: "
                                f"{', '.join(self.names())})" + (f". {self.hint}" if self.hint
                                                                  else ""))
        return self._entries[key]

    def get(self, name: str) -> T:
        """The object registered under ``name``."""
        return self.entry(name).obj

    def __contains__(self, name: object) -> bool:
        try:
            self.entry(name)  # type: ignore[arg-type]
        except RegistryError:
            return False
        return True

    def names(self, with_aliases: bool = False) -> List[str]:
        """The registered names (plugins included), sorted."""
        self.load_plugins()
        names = sorted(self._entries)
        return names + sorted(self._aliases) if with_aliases else names

    def entries(self) -> List[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def aliases_of(self, name: str) -> List[str]:
        return sorted(a for a, n in self._aliases.items() if n == name)

    # --------------------------------------------------------------- plugins
    def load_plugins(self) -> None:
        """Register the entry points of :attr:`group` (once).  A plugin that
        fails to load is a :class:`RegistryError` naming it."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._entries:
                continue  # registered already (imported by hand, or a built-in)
            try:
                obj = ep.load()
            except Exception as e:  # an import error inside the plugin
                raise RegistryError(f"the {self.kind} plugin {ep.name!r} ({ep.value}, entry "
                                    f"point group {self.group!r}) cannot be loaded: "
                                    f"{type(e).__name__}: {e}") from None
            meta = {k: getattr(obj, k) for k in self.defaults if hasattr(obj, k)}
            if hasattr(obj, "description"):
                meta["description"] = obj.description
            dist = getattr(ep, "dist", None)
            self.add(ep.name, obj, source=getattr(dist, "name", None) or ep.value, **meta)
