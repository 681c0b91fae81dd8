"""Skeleton topologies as validated, first-class graph templates."""
from topogcn.skeleton.registry import (
    SKELETONS,
    get_skeleton,
    list_skeletons,
    register_skeleton,
    skeleton_summary,
)
from topogcn.skeleton.skeleton import Skeleton

__all__ = [
    "Skeleton",
    "SKELETONS",
    "get_skeleton",
    "list_skeletons",
    "register_skeleton",
    "skeleton_summary",
]
