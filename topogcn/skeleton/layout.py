"""Rest poses of skeletons: a measured-looking pose for ``ntu25`` and a
radial tree layout for any other skeleton."""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np

from topogcn.skeleton.skeleton import Skeleton

#: An upright Kinect v2 pose in metres (x to the subject's left, y up, z
#: towards the camera), relative to SpineBase; arms hanging.
NTU25_REST = np.array([
    [0.00, 0.00, 0.00], [0.00, 0.30, 0.00], [0.00, 0.58, 0.00], [0.00, 0.72, 0.00],
    [0.18, 0.48, 0.00], [0.22, 0.22, 0.00], [0.24, -0.02, 0.02], [0.25, -0.09, 0.03],
    [-0.18, 0.48, 0.00], [-0.22, 0.22, 0.00], [-0.24, -0.02, 0.02], [-0.25, -0.09, 0.03],
    [0.09, -0.02, 0.00], [0.10, -0.45, 0.02], [0.10, -0.85, 0.00], [0.10, -0.90, 0.10],
    [-0.09, -0.02, 0.00], [-0.10, -0.45, 0.02], [-0.10, -0.85, 0.00], [-0.10, -0.90, 0.10],
    [0.00, 0.50, 0.00], [0.25, -0.16, 0.04], [0.21, -0.10, 0.06], [-0.25, -0.16, 0.04],
    [-0.21, -0.10, 0.06],
], dtype=np.float32)


def _children(skeleton: Skeleton) -> Dict[int, List[int]]:
    parents = skeleton.parents
    kids: Dict[int, List[int]] = {j: [] for j in range(skeleton.num_nodes)}
    for j, p in enumerate(parents):
        if p != j:
            kids[p].append(j)
    return kids


def tree_layout(skeleton: Skeleton, bone_length: float = 0.12) -> np.ndarray:
    """A 2-D radial layout ``[V, 2]`` of the breadth-first tree from the
    centre: each subtree gets an angular sector proportional to its number of
    leaves, each level is one ``bone_length`` further out.  Further
    components are laid out side by side."""
    kids = _children(skeleton)
    leaves: Dict[int, int] = {}

    def count(j: int) -> int:
        if j not in leaves:
            leaves[j] = 1 if not kids[j] else sum(count(c) for c in kids[j])
        return leaves[j]

    pos = np.zeros((skeleton.num_nodes, 2), dtype=np.float32)
    roots = [j for j, p in enumerate(skeleton.parents) if p == j]
    for r_i, root in enumerate(roots):
        origin = np.array([r_i * 4 * bone_length, 0.0], dtype=np.float32)
        stack = [(root, -math.pi, math.pi, 0)]
        while stack:
            j, lo, hi, depth = stack.pop()
            mid = (lo + hi) / 2
            pos[j] = origin + depth * bone_length * np.array([math.cos(mid), math.sin(mid)])
            total = sum(count(c) for c in kids[j]) or 1
            a = lo
            for c in kids[j]:
                b = a + (hi - lo) * count(c) / total
                stack.append((c, a, b, depth + 1))
                a = b
    return pos


def rest_pose(skeleton: Skeleton) -> np.ndarray:
    """A plausible 3-D rest pose ``[V, 3]`` (metres-like units): the Kinect
    pose for ``ntu25`` (and subsets of it built by name), otherwise the tree
    layout in the x-y plane with z = 0."""
    names = list(skeleton.joint_names)
    from topogcn.skeleton.builtins import NTU25_JOINTS

    if all(n in NTU25_JOINTS for n in names):
        return NTU25_REST[[NTU25_JOINTS.index(n) for n in names]].copy()
    xy = tree_layout(skeleton)
    return np.concatenate([xy, np.zeros((len(xy), 1), np.float32)], axis=1)
