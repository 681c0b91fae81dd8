"""topogcn: topology-adaptive graph learning for skeleton-based micro-gesture
recognition, on PyTorch Geometric."""

__version__ = "0.1.0"

__all__ = ["__version__"]
