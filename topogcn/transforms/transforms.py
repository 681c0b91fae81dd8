from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from topogcn.skeleton import Skeleton, get_skeleton


def _check(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a sequence [M, T, V, C], got {shape}")


class _Random:
    """Mixin: a private generator when seeded, the global one otherwise."""

    def _init_rng(self, seed: Optional[int]) -> None:
        self.seed = seed
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def _rand(self, *size: int) -> Tensor:
        return torch.rand(*size, generator=self.generator)


def resize_frames(x: Tensor, frames: int) -> Tensor:
    """Linearly resample ``[M, T, V, C]`` to ``frames`` frames (a no-op when
    the length already matches; a single frame is repeated)."""
    _check(x, "resize_frames")
    M, T, V, C = x.shape
    if T == frames:
        return x
    if T == 0:
        raise ValueError("resize_frames: the sequence has no frame")
    flat = x.permute(0, 2, 3, 1).reshape(1, M * V * C, T)
    out = F.interpolate(flat, size=frames, mode="linear", align_corners=False)
    return out.view(M, V, C, frames).permute(0, 3, 1, 2).contiguous()


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Tensor], Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Tensor) -> Tensor:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class Resize:
    """Resample the whole sequence to ``frames`` frames."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def __call__(self, x: Tensor) -> Tensor:
        return resize_frames(x, self.frames)

    def __repr__(self) -> str:
        return f"Resize({self.frames})"


class RandomCropResize(_Random):
    """The reference feeder's crop-and-resize: keep a random window of
    ``scale`` (a fraction drawn from ``scale=(lo, hi)``) of the frames, at a
    random offset, and resample it to ``frames``.  With ``scale=(s, s)`` and
    ``center=True`` it is the deterministic centre crop used at test time."""

    def __init__(self, frames: int, scale: Tuple[float, float] = (0.5, 1.0),
                 center: bool = False, seed: Optional[int] = None) -> None:
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"RandomCropResize: scale must satisfy 0 < lo <= hi <= 1, got "
                             f"{scale}")
        self.frames, self.scale, self.center = frames, tuple(scale), center
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomCropResize")
        T = x.size(1)
        lo, hi = self.scale
        s = lo + (hi - lo) * float(self._rand(1))
        length = max(1, min(T, int(round(T * s))))
        if self.center:
            start = (T - length) // 2
        else:
            start = int(self._rand(1) * (T - length + 1))
        return resize_frames(x[:, start:start + length], self.frames)

    def __repr__(self) -> str:
        return f"RandomCropResize({self.frames}, scale={self.scale}, center={self.center})"


class CenterJoint:
    """Subtract the position of the skeleton's centre joint: of the first
    frame (``per_frame=False``, as the reference preprocessing) or of every
    frame.  Only the first ``dims`` channels are coordinates (3 for x, y, z;
    2 for x, y, confidence)."""

    def __init__(self, skeleton: Union[Skeleton, str], per_frame: bool = False,
                 dims: int = 3) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.per_frame, self.dims = per_frame, dims

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "CenterJoint")
        c = self.skeleton.center
        ref = x[:, :, c:c + 1, :self.dims] if self.per_frame else x[:, :1, c:c + 1, :self.dims]
        out = x.clone()
        out[..., :self.dims] = x[..., :self.dims] - ref
        return out

    def __repr__(self) -> str:
        return f"CenterJoint('{self.skeleton.name}', per_frame={self.per_frame})"


class NormalizeScale:
    """Divide the coordinates by the mean bone length of the sequence (of the
    first person with any non-zero bone), so that body size does not
    matter."""

    def __init__(self, skeleton: Union[Skeleton, str], dims: int = 3, eps: float = 1e-6) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.dims, self.eps = dims, eps

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "NormalizeScale")
        if self.skeleton.num_bones == 0:
            return x
        b = torch.tensor(self.skeleton.bones)
        coords = x[..., :self.dims]
        lengths = (coords[:, :, b[:, 0]] - coords[:, :, b[:, 1]]).norm(dim=-1)
        valid = lengths > self.eps
        scale = lengths[valid].mean() if valid.any() else x.new_tensor(1.0)
        out = x.clone()
        out[..., :self.dims] = coords / scale
        return out

    def __repr__(self) -> str:
        return f"NormalizeScale('{self.skeleton.name}')"


def _rotation_matrix(angles: Tensor) -> Tensor:
    ax, ay, az = angles.tolist()
    cx, sx, cy, sy, cz, sz = (math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay),
                              math.cos(az), math.sin(az))
    rx = torch.tensor([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = torch.tensor([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = torch.tensor([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


class RandomRotation(_Random):
    """Rotate the coordinates by random angles in ``[-max_angle, max_angle]``
    about each axis (the reference uses 0.3 rad).  With ``dims=2`` (x, y,
    confidence data) only the in-plane rotation is applied and the third
    channel is left alone."""

    def __init__(self, max_angle: float = 0.3, dims: int = 3,
                 seed: Optional[int] = None) -> None:
        if dims not in (2, 3):
            raise ValueError(f"RandomRotation: dims must be 2 or 3, got {dims}")
        self.max_angle, self.dims = max_angle, dims
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomRotation")
        angles = (self._rand(3) * 2 - 1) * self.max_angle
        if self.dims == 2:
            angles[:2] = 0
        R = _rotation_matrix(angles).to(x.dtype)[: self.dims, : self.dims]
        out = x.clone()
        out[..., :self.dims] = x[..., :self.dims] @ R.t()
        return out

    def __repr__(self) -> str:
        return f"RandomRotation(max_angle={self.max_angle}, dims={self.dims})"


class JointDropout(_Random):
    """Zero every joint (all frames, all channels) with probability ``p``."""

    def __init__(self, p: float = 0.1, seed: Optional[int] = None) -> None:
        self.p = p
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "JointDropout")
        keep = (self._rand(x.size(2)) >= self.p).to(x.dtype)
        return x * keep.view(1, 1, -1, 1)

    def __repr__(self) -> str:
        return f"JointDropout(p={self.p})"


class ToBone:
    """The bone stream: every joint minus its parent in the skeleton's
    breadth-first tree from the centre (the centre joint becomes zero).  With
    ``dims`` given, only those channels are differenced (confidence kept)."""

    def __init__(self, skeleton: Union[Skeleton, str], dims: Optional[int] = None) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.dims = dims
        self.parents = torch.tensor(self.skeleton.parents)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "ToBone")
        d = self.dims or x.size(-1)
        out = x.clone()
        out[..., :d] = x[..., :d] - x[:, :, self.parents, :d]
        return out

    def __repr__(self) -> str:
        return f"ToBone('{self.skeleton.name}')"


class ToMotion:
    """The motion stream: frame differences ``x[t+1] - x[t]`` (the last
    frame gets zero), of the first ``dims`` channels (all by default)."""

    def __init__(self, dims: Optional[int] = None) -> None:
        self.dims = dims

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "ToMotion")
        d = self.dims or x.size(-1)
        out = x.clone()
        out[:, :-1, :, :d] = x[:, 1:, :, :d] - x[:, :-1, :, :d]
        out[:, -1, :, :d] = 0
        return out

    def __repr__(self) -> str:
        return "ToMotion()"


STREAMS = ("joint", "bone", "motion", "bone_motion")


def stream_transform(stream: str, skeleton: Union[Skeleton, str],
                     dims: Optional[int] = None) -> Optional[Callable[[Tensor], Tensor]]:
    """The transform of an input stream: ``joint`` (None), ``bone``,
    ``motion`` or ``bone_motion``."""
    if stream == "joint":
        return None
    if stream == "bone":
        return ToBone(skeleton, dims)
    if stream == "motion":
        return ToMotion(dims)
    if stream == "bone_motion":
        return Compose([ToBone(skeleton, dims), ToMotion(dims)])
    raise ValueError(f"Unknown stream '{stream}'; expected one of {STREAMS}")
