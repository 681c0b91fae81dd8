"""The :class:`Skeleton` graph template shared by every frame of a sequence.

Conventions (the same as PyTorch Geometric):

* ``edge_index[0]`` holds source joints and ``edge_index[1]`` target joints,
  so a message flows ``edge_index[0, e] -> edge_index[1, e]``;
* a dense adjacency ``A`` is indexed ``A[target, source]`` (row ``i`` holds the
  weights of the messages that joint ``i`` receives), so ``A @ X`` aggregates
  neighbour features.
"""
from __future__ import annotations

import json
import os
from collections import deque
from functools import cached_property
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

Bone = Tuple[int, int]
JointRef = Union[int, str]

_NORMALIZATIONS = (None, "sym", "row")


#: a skeleton file larger than this is not one
MAX_SKELETON_FILE_BYTES = 16 * 2 ** 20
#: the most joints a skeleton may have (a skeleton file asking for more is
#: refused before anything is allocated for it)
MAX_JOINTS = 10_000


class Skeleton:
    r"""An immutable, validated skeleton topology.

    A skeleton is the graph template shared by every frame: ``num_nodes``
    joints linked by undirected ``bones``.  Everything a graph layer needs is
    derived from it and cached: :attr:`edge_index`, dense adjacency matrices
    with the usual normalisations, the hop-distance matrix, :math:`k`-hop and
    complete edge sets, and ST-GCN's spatial partition.

    .. code-block:: python

        from topogcn.skeleton import Skeleton

        hand = Skeleton(
            "five_points", num_nodes=5,
            bones=[(0, 1), (1, 2), (1, 3), (1, 4)], center=1,
            joint_names=["head", "neck", "left", "right", "hip"],
        )
        hand.edge_index          # LongTensor [2, 8], both directions
        hand.k_hop_edge_index(2) # joints at most two bones apart

    Args:
        name (str): Name of the skeleton (used by the registry).
        num_nodes (int): Number of joints :math:`V`.
        bones (iterable of (int, int)): Undirected joint pairs.  A pair may
            not link a joint to itself nor be given twice (in either order).
        center (int, optional): Joint used for centring poses and as the root
            of ST-GCN's spatial partition and of the bone tree.
            (default: :obj:`0`)
        joint_names (sequence of str, optional): One unique name per joint.
            (default: :obj:`"joint_0"`, ... )
        parts (mapping of str to sequence of int, optional): Named groups of
            joints, e.g. ``{"left_hand": [95, ..., 115]}``.  Groups may
            overlap. (default: :obj:`None`)
        allow_disconnected (bool, optional): Accept a graph with more than one
            connected component. (default: :obj:`False`)
        mirror (iterable of (int, int), optional): The left/right symmetry:
            pairs of joints that swap places when the body is mirrored
            (``(HandLeft, HandRight)``, ...); joints in no pair are their own
            mirror image.  ``[]`` declares a skeleton without pairs (a single
            hand), :obj:`None` (the default) a symmetry not declared: then
            mirroring augmentation is not used on it.

    Raises:
        ValueError: naming the offending item when a bone index is out of
            range, a bone links a joint to itself or is duplicated,
            ``joint_names`` has the wrong length or repeats a name,
            ``center`` is out of range, a part refers to an unknown joint, or
            the graph is disconnected (unless ``allow_disconnected``).
    """

    __slots__ = (
        "_name", "_num_nodes", "_bones", "_center", "_joint_names", "_parts",
        "_allow_disconnected", "_mirror", "__dict__",
    )

    def __init__(
        self,
        name: str,
        num_nodes: int,
        bones: Iterable[Sequence[int]],
        center: int = 0,
        joint_names: Optional[Sequence[str]] = None,
        parts: Optional[Mapping[str, Sequence[int]]] = None,
        allow_disconnected: bool = False,
        mirror: Optional[Iterable[Sequence[int]]] = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Skeleton name must be a non-empty string, got {name!r}")
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) \
                or not 1 <= num_nodes <= MAX_JOINTS:
            raise ValueError(
                f"Skeleton '{name}': num_nodes must be an integer between 1 and {MAX_JOINTS}, "
                f"got {num_nodes!r}")
        num_nodes = int(num_nodes)

        clean_bones: List[Bone] = []
        seen = {}
        for k, bone in enumerate(bones):
            try:
                u, v = (int(b) for b in bone)
            except (TypeError, ValueError):
                raise ValueError(
                    f"Skeleton '{name}': bone #{k} {bone!r} is not a pair of joint "
                    f"indices") from None
            for j in (u, v):
                if not 0 <= j < num_nodes:
                    raise ValueError(
                        f"Skeleton '{name}': bone #{k} ({u}, {v}) refers to joint {j}, "
                        f"out of range for num_nodes={num_nodes} (valid: 0..{num_nodes - 1})")
            if u == v:
                raise ValueError(
                    f"Skeleton '{name}': bone #{k} ({u}, {v}) links joint {u} to itself")
            key = (min(u, v), max(u, v))
            if key in seen:
                raise ValueError(
                    f"Skeleton '{name}': bone #{k} ({u}, {v}) duplicates bone "
                    f"#{seen[key]} {clean_bones[seen[key]]}")
            seen[key] = k
            clean_bones.append((u, v))

        if isinstance(center, bool) or not isinstance(center, (int, np.integer)) \
                or not 0 <= center < num_nodes:
            raise ValueError(
                f"Skeleton '{name}': center {center!r} is out of range for "
                f"num_nodes={num_nodes} (valid: 0..{num_nodes - 1})")

        if joint_names is None:
            names = tuple(f"joint_{i}" for i in range(num_nodes))
        else:
            names = tuple(str(n) for n in joint_names)
            if len(names) != num_nodes:
                raise ValueError(
                    f"Skeleton '{name}': joint_names has {len(names)} names but "
                    f"num_nodes={num_nodes}")
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"Skeleton '{name}': joint_names repeats {dup}")

        clean_parts: Dict[str, Tuple[int, ...]] = {}
        for part, members in (parts or {}).items():
            idx = tuple(int(m) for m in members)
            bad = [m for m in idx if not 0 <= m < num_nodes]
            if bad:
                raise ValueError(
                    f"Skeleton '{name}': part '{part}' refers to joints {bad}, out of "
                    f"range for num_nodes={num_nodes}")
            clean_parts[str(part)] = idx

        self._name = name
        self._num_nodes = num_nodes
        self._bones = tuple(clean_bones)
        self._center = int(center)
        self._joint_names = names
        self._parts = clean_parts
        self._allow_disconnected = bool(allow_disconnected)
        self._mirror = None if mirror is None else _check_mirror(name, num_nodes, mirror)

        if not allow_disconnected:
            comps = self._components()
            if len(comps) > 1:
                isolated = [c for c in comps if c is not comps[0]]
                preview = ", ".join(
                    "{" + ", ".join(self._joint_names[j] for j in c[:4])
                    + (", ..." if len(c) > 4 else "") + "}" for c in isolated[:3])
                raise ValueError(
                    f"Skeleton '{name}' is disconnected: {len(comps)} components; "
                    f"not reachable from joint {self._joint_names[comps[0][0]]!r}: "
                    f"{preview}. Add the missing bones or pass "
                    f"allow_disconnected=True")

    # ------------------------------------------------------------------ basics
    def __setattr__(self, key: str, value: Any) -> None:
        if key in Skeleton.__slots__ and key not in ("__dict__",) and not hasattr(self, key):
            object.__setattr__(self, key, value)
            return
        raise AttributeError(f"Skeleton is immutable: cannot set '{key}'")

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_nodes(self) -> int:
        return self._num_nodes

    @property
    def num_bones(self) -> int:
        return len(self._bones)

    @property
    def bones(self) -> Tuple[Bone, ...]:
        """The undirected bones as given (a tuple of joint pairs)."""
        return self._bones

    @property
    def center(self) -> int:
        return self._center

    @property
    def joint_names(self) -> Tuple[str, ...]:
        return self._joint_names

    @property
    def parts(self) -> Dict[str, Tuple[int, ...]]:
        return dict(self._parts)

    @property
    def allow_disconnected(self) -> bool:
        return self._allow_disconnected

    @property
    def mirror(self) -> Optional[Tuple[Bone, ...]]:
        """The declared left/right joint pairs (:obj:`None`: not declared)."""
        return self._mirror

    def mirror_permutation(self) -> Optional[Tuple[int, ...]]:
        """Joint ``i`` of a mirrored pose is joint ``perm[i]`` of the original
        (:obj:`None` when the symmetry is not declared)."""
        if self._mirror is None:
            return None
        perm = list(range(self._num_nodes))
        for u, v in self._mirror:
            perm[u], perm[v] = v, u
        return tuple(perm)

    def __len__(self) -> int:
        return self._num_nodes

    def __repr__(self) -> str:
        return (f"Skeleton('{self._name}', num_nodes={self._num_nodes}, "
                f"num_bones={self.num_bones}, center={self._center})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self._name, self._num_nodes, self._bones, self._center))

    def __reduce__(self):
        return (_from_dict_unchecked, (self.to_dict(),))

    def differences(self, other: "Skeleton") -> List[str]:
        """What tells this skeleton from ``other``, for error messages: the
        joint count, joint names (when both name their joints) and bones;
        empty when they agree (the name and centre do not count)."""
        if self._num_nodes != other._num_nodes:
            return [f"{self._num_nodes} joints against {other._num_nodes}"]
        out = []
        generic = tuple(f"joint_{i}" for i in range(self._num_nodes))
        names, theirs = self._joint_names, other._joint_names
        if generic not in (names, theirs) and names != theirs:
            k = next(i for i, (a, b) in enumerate(zip(names, theirs)) if a != b)
            out.append(f"joint {k} is '{names[k]}' against '{theirs[k]}'")
        mine = {tuple(sorted(b)) for b in self._bones}
        other_bones = {tuple(sorted(b)) for b in other._bones}
        if mine != other_bones:
            extra, missing = sorted(mine - other_bones), sorted(other_bones - mine)
            out.append(f"bones differ ({len(extra)} not in the other, e.g. {extra[:3]}; "
                       f"{len(missing)} missing, e.g. {missing[:3]})")
        return out

    def index(self, joint: JointRef) -> int:
        """The index of a joint given by index or by name."""
        if isinstance(joint, str):
            try:
                return self._joint_names.index(joint)
            except ValueError:
                raise ValueError(
                    f"Skeleton '{self._name}' has no joint named {joint!r}") from None
        j = int(joint)
        if not 0 <= j < self._num_nodes:
            raise ValueError(
                f"Skeleton '{self._name}': joint {j} out of range 0..{self._num_nodes - 1}")
        return j

    # --------------------------------------------------------- derived (cached)
    def _neighbours(self) -> List[List[int]]:
        nbrs: List[List[int]] = [[] for _ in range(self._num_nodes)]
        for u, v in self._bones:
            nbrs[u].append(v)
            nbrs[v].append(u)
        return nbrs

    def _components(self) -> List[List[int]]:
        nbrs = self._neighbours()
        seen = [False] * self._num_nodes
        comps = []
        for start in [self._center] + list(range(self._num_nodes)):
            if seen[start]:
                continue
            comp, queue = [], deque([start])
            seen[start] = True
            while queue:
                u = queue.popleft()
                comp.append(u)
                for v in nbrs[u]:
                    if not seen[v]:
                        seen[v] = True
                        queue.append(v)
            comps.append(comp)
        return comps

    @property
    def is_connected(self) -> bool:
        return len(self._components()) == 1

    @cached_property
    def _edge_index(self) -> torch.Tensor:
        if not self._bones:
            return torch.empty(2, 0, dtype=torch.long)
        b = torch.tensor(self._bones, dtype=torch.long).t()
        return torch.cat([b, b.flip(0)], dim=1)

    @property
    def edge_index(self) -> torch.Tensor:
        """LongTensor ``[2, 2 * num_bones]``: every bone in both directions
        (first the bones as given, then reversed)."""
        return self._edge_index.clone()

    @cached_property
    def _hop(self) -> torch.Tensor:
        inf = float("inf")
        V = self._num_nodes
        nbrs = self._neighbours()
        dist = np.full((V, V), inf)
        for s in range(V):
            dist[s, s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                for v in nbrs[u]:
                    if dist[s, v] == inf:
                        dist[s, v] = dist[s, u] + 1
                        queue.append(v)
        return torch.from_numpy(dist).float()

    def hop_distance(self) -> torch.Tensor:
        """FloatTensor ``[V, V]``: the number of bones on the shortest path
        between two joints, ``inf`` when they are not connected."""
        return self._hop.clone()

    def adjacency(self, normalization: Optional[str] = None,
                  self_loops: bool = False) -> torch.Tensor:
        r"""Dense adjacency ``[V, V]`` indexed ``A[target, source]``.

        Args:
            normalization (str, optional): :obj:`None` (binary),
                :obj:`"sym"` (:math:`D^{-1/2} A D^{-1/2}`) or :obj:`"row"`
                (:math:`D^{-1} A`, each row sums to one; rows of isolated
                joints stay zero). (default: :obj:`None`)
            self_loops (bool, optional): Add the identity before normalising.
                (default: :obj:`False`)
        """
        if normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        V = self._num_nodes
        A = torch.zeros(V, V)
        ei = self._edge_index
        A[ei[1], ei[0]] = 1.0
        if self_loops:
            A = A + torch.eye(V)
        if normalization is None:
            return A
        deg = A.sum(dim=1)
        if normalization == "row":
            inv = torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))
            return inv[:, None] * A
        inv_sqrt = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
        return inv_sqrt[:, None] * A * inv_sqrt[None, :]

    def k_hop_edge_index(self, k: int, self_loops: bool = True) -> torch.Tensor:
        """LongTensor ``[2, E]`` linking every ordered pair of joints at most
        ``k`` bones apart (``k=1``: the bones), with self loops unless
        ``self_loops=False``.  Sorted by target, then source."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"k must be a non-negative integer, got {k!r}")
        hop = self._hop
        mask = hop <= k
        if not self_loops:
            mask &= ~torch.eye(self._num_nodes, dtype=torch.bool)
        tgt, src = mask.nonzero(as_tuple=True)
        return torch.stack([src, tgt], dim=0)

    def complete_edge_index(self) -> torch.Tensor:
        """LongTensor ``[2, V*V]``: all ordered pairs of joints including self
        loops, sorted by target then source -- the "all possible relations"
        of the paper's dense S-GC."""
        V = self._num_nodes
        tgt = torch.arange(V).repeat_interleave(V)
        src = torch.arange(V).repeat(V)
        return torch.stack([src, tgt], dim=0)

    @cached_property
    def _parents(self) -> Tuple[int, ...]:
        return self.parents_from(self._center)

    def parents_from(self, root: JointRef) -> Tuple[int, ...]:
        """The parent of each joint in the breadth-first tree rooted at
        ``root`` (the root of each further component is its first joint);
        a root is its own parent."""
        root = self.index(root)
        nbrs = self._neighbours()
        parent = [-1] * self._num_nodes
        comps = sorted(self._components(), key=lambda c: root not in c)
        for comp in comps:
            start = root if root in comp else comp[0]
            parent[start] = start
            queue = deque([start])
            while queue:
                u = queue.popleft()
                for v in sorted(nbrs[u]):
                    if parent[v] == -1:
                        parent[v] = u
                        queue.append(v)
        return tuple(parent)

    def ancestors(self, k: int, root: Optional[JointRef] = None) -> Tuple[int, ...]:
        """The ``k``-th ancestor of each joint in the tree rooted at ``root``
        (default :attr:`center`), or the joint itself when it has none
        (closer than ``k`` bones to its root): the non-zero column of row
        ``v`` of :math:`A^k` for the binary child-to-parent adjacency
        :math:`A`."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"ancestors: k must be a positive integer, got {k!r}")
        parents = self.parents_from(self._center if root is None else root)
        out = []
        for v in range(self._num_nodes):
            a = v
            for _ in range(k):
                if parents[a] == a:
                    a = -1
                    break
                a = parents[a]
            out.append(v if a == -1 else a)
        return tuple(out)

    @property
    def parents(self) -> Tuple[int, ...]:
        """The parent of each joint in the breadth-first tree rooted at
        :attr:`center` (the root of each further component is its first
        joint found); a root is its own parent.  Bone vectors are
        ``x - x[parents]``."""
        return self._parents

    def spatial_partition(self, normalize: bool = True) -> torch.Tensor:
        r"""ST-GCN's spatial partition: a ``[3, V, V]`` tensor of adjacency
        matrices (``A[k, target, source]``) for the neighbours of each target
        joint that are (0) at the same hop distance from :attr:`center`
        as the target (the target itself included), (1) closer to the centre
        (centripetal, "inward"), (2) further from it (centrifugal, "outward").

        With ``normalize=True`` the three matrices are slices of the
        column-normalised adjacency with self loops :math:`A D^{-1}`, as in
        ST-GCN, so they sum to it; otherwise they are binary and sum to
        :math:`A + I`.
        """
        A = self.adjacency(None, self_loops=True)
        if normalize:
            deg = A.sum(dim=0)
            A = A * torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))[None, :]
        d = self._hop[:, self._center]
        d = torch.where(torch.isinf(d), torch.full_like(d, -1.0), d)
        d_tgt, d_src = d[:, None], d[None, :]
        same = (d_src == d_tgt).float()
        inward = (d_src < d_tgt).float()
        outward = (d_src > d_tgt).float()
        return torch.stack([A * same, A * inward, A * outward], dim=0)

    # ------------------------------------------------------------ subsets & io
    def _resolve_joints(self, joints: Iterable[JointRef]) -> List[int]:
        out: List[int] = []
        for j in joints:
            if isinstance(j, str) and j in self._parts:
                out.extend(self._parts[j])
            else:
                out.append(self.index(j))
        seen = set()
        return [j for j in out if not (j in seen or seen.add(j))]

    def subset(self, joints: Iterable[JointRef], name: Optional[str] = None,
               contract: bool = True) -> "Skeleton":
        """A re-indexed skeleton on the given joints (indices, joint names or
        part names), in the given order.

        Bones between kept joints are kept.  With ``contract=True`` two kept
        joints are also linked when a path joins them through removed joints
        only (e.g. a fingertip stays linked to the wrist when the knuckles are
        removed), so a subset of a connected skeleton stays connected.  If the
        centre is removed, the kept joint nearest to it (fewest bones) becomes
        the centre.  Parts keep their kept members.  The joint ``i`` of the
        subset is the joint :attr:`subset_indices` ``[i]`` of the original.
        """
        keep = self._resolve_joints(joints)
        if not keep:
            raise ValueError(f"Skeleton '{self._name}'.subset: no joints given")
        new_of = {old: new for new, old in enumerate(keep)}
        bones = set()
        for u, v in self._bones:
            if u in new_of and v in new_of:
                bones.add((min(new_of[u], new_of[v]), max(new_of[u], new_of[v])))
        if contract:
            nbrs = self._neighbours()
            for start in keep:
                seen = {start}
                queue = deque(v for v in nbrs[start] if v not in new_of)
                seen.update(queue)
                while queue:
                    u = queue.popleft()
                    for v in nbrs[u]:
                        if v in seen:
                            continue
                        seen.add(v)
                        if v in new_of:
                            if v != start:
                                a, b = new_of[start], new_of[v]
                                bones.add((min(a, b), max(a, b)))
                        else:
                            queue.append(v)
        if self._center in new_of:
            center = new_of[self._center]
        else:
            d = self._hop[self._center]
            center = new_of[min(keep, key=lambda j: (float(d[j]), j))]
        parts = {p: [new_of[j] for j in m if j in new_of] for p, m in self._parts.items()}
        parts = {p: m for p, m in parts.items() if m}
        mirror = None if self._mirror is None else [
            (new_of[u], new_of[v]) for u, v in self._mirror if u in new_of and v in new_of]
        sub = Skeleton(
            name or f"{self._name}_subset{len(keep)}", len(keep), sorted(bones),
            center=center, joint_names=[self._joint_names[j] for j in keep],
            parts=parts, allow_disconnected=True, mirror=mirror,
        )
        if not self._allow_disconnected:
            object.__setattr__(sub, "_allow_disconnected", not sub.is_connected)
        sub.__dict__["subset_indices"] = tuple(keep)
        return sub

    def to_dict(self) -> Dict[str, Any]:
        """A JSON/YAML-ready description (the format of :meth:`from_dict`)."""
        d: Dict[str, Any] = {
            "name": self._name,
            "num_nodes": self._num_nodes,
            "bones": [list(b) for b in self._bones],
            "center": self._center,
            "joint_names": list(self._joint_names),
        }
        if self._parts:
            d["parts"] = {k: list(v) for k, v in self._parts.items()}
        if self._allow_disconnected:
            d["allow_disconnected"] = True
        if self._mirror is not None:
            d["mirror"] = [list(p) for p in self._mirror]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "dict") -> "Skeleton":
        """Build a skeleton from a mapping with the keys ``name``, ``num_nodes``
        (optional when ``joint_names`` is given), ``bones`` and optionally
        ``center``, ``joint_names``, ``parts``, ``allow_disconnected``,
        ``mirror``.  Bones and mirror pairs may name joints instead of giving
        indices."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a skeleton must be a mapping, got {type(data).__name__}")
        allowed = {"name", "num_nodes", "bones", "center", "joint_names", "parts",
                   "allow_disconnected", "mirror"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown skeleton keys {unknown}; valid keys: "
                             f"{sorted(allowed)}")
        for key in ("name", "bones"):
            if key not in data:
                raise ValueError(f"{source}: missing required key '{key}'")
        kinds = {"name": str, "bones": list, "joint_names": list, "parts": Mapping,
                 "mirror": list}
        for key, kind in kinds.items():
            if data.get(key) is not None and not isinstance(data[key], kind):
                raise ValueError(f"{source}: '{key}' must be a {kind.__name__.lower()}, got "
                                 f"{type(data[key]).__name__}")
        try:
            return cls._from_checked_dict(data, source)
        except (TypeError, AttributeError, OverflowError, KeyError, IndexError) as e:
            raise ValueError(f"{source}: malformed skeleton ({type(e).__name__}: {e})") from None

    @classmethod
    def _from_checked_dict(cls, data: Mapping[str, Any], source: str) -> "Skeleton":
        names = data.get("joint_names")
        num_nodes = data.get("num_nodes", len(names) if names is not None else None)
        if num_nodes is None:
            raise ValueError(f"{source}: give 'num_nodes' or 'joint_names'")
        lookup = {n: i for i, n in enumerate(names)} if names else {}

        def ref(j: Any, what: str) -> int:
            if isinstance(j, str) and not j.lstrip("-").isdigit():
                if j not in lookup:
                    raise ValueError(f"{source}: {what} names unknown joint {j!r}")
                return lookup[j]
            if not isinstance(j, (int, str)) or isinstance(j, bool):
                raise ValueError(f"{source}: {what} must be a joint index or name, got {j!r}")
            return int(j)

        try:
            bones = [(ref(b[0], f"bone {b}"), ref(b[1], f"bone {b}")) for b in data["bones"]]
        except (TypeError, IndexError, KeyError):
            raise ValueError(f"{source}: 'bones' must be a list of joint pairs") from None
        for k, b in enumerate(data["bones"]):
            if len(b) != 2:
                raise ValueError(f"{source}: bone #{k} {b!r} is not a pair")
        parts = {p: [ref(j, f"part '{p}'") for j in m]
                 for p, m in (data.get("parts") or {}).items()}
        mirror = data.get("mirror")
        if mirror is not None:
            try:
                mirror = [(ref(p[0], f"mirror pair {p}"), ref(p[1], f"mirror pair {p}"))
                          for p in mirror]
            except (TypeError, IndexError, KeyError):
                raise ValueError(f"{source}: 'mirror' must be a list of joint pairs") from None
        try:
            return cls(
                str(data["name"]), num_nodes, bones,
                center=ref(data.get("center", 0), "center"),
                joint_names=names, parts=parts,
                allow_disconnected=bool(data.get("allow_disconnected", False)), mirror=mirror)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "Skeleton":
        """Read a skeleton declared in a JSON (``.json``) or YAML
        (``.yaml``/``.yml``) file in the format of :meth:`from_dict`."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"Skeleton file '{path}' does not exist")
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".json", ".yaml", ".yml"):
            raise ValueError(f"Skeleton file '{path}': unknown extension '{ext}' (expected "
                             f".json, .yaml or .yml)")
        if os.path.getsize(path) > MAX_SKELETON_FILE_BYTES:
            raise ValueError(f"Skeleton file '{path}': larger than "
                             f"{MAX_SKELETON_FILE_BYTES // 2**20} MiB")
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"Skeleton file '{path}': not UTF-8 text (byte at offset "
                             f"{e.start})") from None
        try:
            if ext == ".json":
                data = json.loads(text)
            else:
                import yaml
                data = yaml.safe_load(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"Skeleton file '{path}' is not valid JSON: {e}") from None
        except Exception as e:  # yaml.YAMLError
            raise ValueError(f"Skeleton file '{path}' is not valid YAML: {e}") from None
        return cls.from_dict(data, source=f"Skeleton file '{path}'")

    def to_file(self, path: Union[str, os.PathLike]) -> None:
        """Write :meth:`to_dict` as JSON or YAML (by extension), atomically."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        if ext == ".json":
            text = json.dumps(self.to_dict(), indent=2)
        elif ext in (".yaml", ".yml"):
            import yaml
            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        else:
            raise ValueError(f"to_file('{path}'): expected a .json, .yaml or .yml path")
        from topogcn.utils.io import atomic_write_text
        atomic_write_text(path, text)


def _check_mirror(name: str, num_nodes: int,
                  pairs: Iterable[Sequence[int]]) -> Tuple[Bone, ...]:
    out: List[Bone] = []
    used: Dict[int, int] = {}
    for k, pair in enumerate(pairs):
        try:
            u, v = (int(j) for j in pair)
        except (TypeError, ValueError):
            raise ValueError(f"Skeleton '{name}': mirror pair #{k} {pair!r} is not a pair of "
                             f"joint indices") from None
        if u == v:
            raise ValueError(f"Skeleton '{name}': mirror pair #{k} pairs joint {u} with "
                             f"itself (leave self-symmetric joints out)")
        for j in (u, v):
            if not 0 <= j < num_nodes:
                raise ValueError(f"Skeleton '{name}': mirror pair #{k} ({u}, {v}) refers to "
                                 f"joint {j}, out of range 0..{num_nodes - 1}")
            if j in used:
                raise ValueError(f"Skeleton '{name}': joint {j} is in mirror pairs "
                                 f"#{used[j]} and #{k}; a joint has one mirror image")
            used[j] = k
        out.append((u, v))
    return tuple(out)


def mirror_pairs_by_name(names: Sequence[str],
                         sides: Sequence[Tuple[str, str]]) -> List[Bone]:
    """Left/right pairs found by name: for each ``(left, right)`` spelling in
    ``sides`` (e.g. ``("Left", "Right")``, ``("left_", "right_")``), joint
    ``a`` pairs with joint ``b`` when replacing ``left`` by ``right`` in
    ``a``'s name gives ``b``'s."""
    index = {n: i for i, n in enumerate(names)}
    pairs: List[Bone] = []
    taken = set()
    for left, right in sides:
        for i, n in enumerate(names):
            if left in n and i not in taken:
                j = index.get(n.replace(left, right, 1))
                if j is not None and j != i and j not in taken:
                    pairs.append((i, j))
                    taken.update((i, j))
    return pairs


def _from_dict_unchecked(d: Dict[str, Any]) -> Skeleton:
    return Skeleton.from_dict(d)
