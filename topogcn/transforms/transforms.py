from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.utils.tracing import is_tracing


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


def resize_frames(x: Tensor, frames: int, crop: float = 1.0) -> Tensor:
    """Linearly resample ``[..., M, T, V, C]`` (any leading batch
    dimensions) to ``frames`` frames (``align_corners=False``; a no-op when
    the length already matches; a single frame is repeated).  With ``crop <
    1`` the centre ``crop`` of the clip is resampled, as the reference's
    test-time crop: ``b = floor((1 - crop) * T / 2)`` frames are dropped at
    each end.  Export-friendly for any ``T``."""
    if not isinstance(x, Tensor) or x.dim() < 4:
        shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"resize_frames: expected a sequence [..., M, T, V, C], got {shape}")
    T = x.size(-3)
    if not is_tracing():
        if T == 0:
            raise ValueError("resize_frames: the sequence has no frame")
        if T == frames and crop >= 1.0:
            return x
    if crop >= 1.0:
        seq = x.movedim(-3, -1)  # [..., M, V, C, T]
        flat = seq.reshape(1, -1, T)
        out = F.interpolate(flat, size=frames, mode="linear", align_corners=False)
        return out.reshape(seq.shape[:-1] + (frames,)).movedim(-1, -3).contiguous()
    return _center_crop_resize(x, frames, crop)


def _center_crop_resize(x: Tensor, frames: int, crop: float) -> Tensor:
    """Linear resampling of the centre ``crop`` of the clip, as gathers with
    positions computed from the clip length in tensor arithmetic (so that a
    traced or exported graph follows any length)."""
    t = torch.arange(x.size(-3), device=x.device, dtype=torch.float64)
    length = t[-1:] + 1  # T, as a tensor
    bias = torch.floor((1.0 - crop) * length / 2)
    kept = length - 2 * bias
    i = torch.arange(frames, device=x.device, dtype=torch.float64)
    src = ((i + 0.5) * (kept / frames) - 0.5).clamp(min=0)
    lo = torch.floor(src)
    hi = torch.minimum(lo + 1, kept - 1)
    w = (src - lo).to(x.dtype).view(frames, 1, 1)
    lo_x = x.index_select(-3, (bias + lo).long())
    hi_x = x.index_select(-3, (bias + hi).long())
    return (lo_x * (1 - w) + hi_x * w).contiguous()


def _with_coordinates(x: Tensor, coords: Tensor, dims: int) -> Tensor:
    """``x`` with its first ``dims`` channels replaced by ``coords`` (the
    other channels, e.g. confidence, carried unchanged)."""
    if dims >= x.size(-1):
        return coords
    return torch.cat([coords, x[..., dims:]], dim=-1)


def center_joint(x: Tensor, center: int, dims: int = 3, per_frame: bool = False,
                 first_person: bool = False, first_present: bool = False) -> Tensor:
    """Subtract the centre joint's coordinates (of the first frame, or of
    every frame) from every joint of the same person, or with
    ``first_person=True`` of the first person from every present person (as
    the reference's preprocessing); ``x`` is ``[..., M, T, V, C]`` and only
    its first ``dims`` channels move.  A person that is all zeros (absent)
    stays zero.

    With ``first_present=True`` (the reference's ``seq_translation``) the
    first frame is the first one in which the person (with
    ``first_person``: the first person) has a non-zero coordinate, and a
    frame in which a person is all zeros (missing) stays zero."""
    coords = x[..., :dims]
    ref = coords[..., center:center + 1, :]
    seen = (coords != 0).flatten(-2).any(-1)  # [..., M, T]: the person is in the frame
    if first_present and not per_frame:
        t0 = seen.to(torch.int64).argmax(-1)  # the first such frame (0 if none)
        index = t0[..., None, None, None].expand(t0.shape + (1, 1, dims))
        ref = ref.gather(-3, index)
    elif not per_frame:
        ref = ref[..., :1, :, :]
    if first_person:
        ref = ref[..., :1, :, :, :]
        present = (coords != 0).flatten(-3).any(-1).to(x.dtype)[..., None, None, None]
        ref = ref * present
    out = coords - ref
    if first_present:
        out = out * seen.to(x.dtype)[..., None, None]
    return _with_coordinates(x, out, dims)


def _unit(v: Tensor) -> Tuple[Tensor, Tensor]:
    """``v / |v|`` over the last dimension, and ``|v|`` (0 stays 0)."""
    n = v.norm(dim=-1, keepdim=True)
    return v / torch.where(n > 0, n, torch.ones_like(n)), n


def _cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the last dimension, in plain indexing (which
    ``torch.onnx.export`` captures)."""
    i, j = [1, 2, 0], [2, 0, 1]
    return a[..., i] * b[..., j] - a[..., j] * b[..., i]


def align_view(x: Tensor, joints: Sequence[int], eps: float = 1e-6) -> Tensor:
    r"""The reference's view alignment (``align_skeleton`` of the InfoGCN
    code, applied there to the whole NTU data set): every person's clip
    turned by one orthogonal transform taken from its *first frame*, so that
    the spine points along :math:`z` and the hips along :math:`x`.

    With ``joints = (b, s, l, r)`` (spine base, spine, left hip, right hip;
    NTU: ``SpineBase, SpineMid, HipLeft, HipRight``) and, at frame 0,
    :math:`u_1 = \widehat{x_s - x_b}`,
    :math:`u_2 = \widehat{w - (w \cdot u_1) u_1}` with :math:`w = x_l - x_r`,
    :math:`u_3 = \widehat{u_2 \times u_1}`, every joint of every frame
    becomes :math:`R^{-1} x` with :math:`R = [u_2\ u_3\ u_1]` (its
    determinant is :math:`-1`: the reference's transform mirrors as it
    turns).  No translation: centre first (the reference aligns centred
    data).  As the reference, a person whose spine vector is zero in frame 0
    (absent there) becomes all zeros; where the hips give no direction
    (:math:`|u_2|` or :math:`|u_3|` below ``eps``; the reference gives NaN
    and its loader drops the clip) the person is left as it is.

    ``x`` is ``[..., M, T, V, C]`` with at least 3 channels, of which the
    first 3 (x, y, z) turn and the others are carried unchanged."""
    base, spine, left, right = (int(j) for j in joints)
    coords = x[..., :3]
    first = coords[..., :1, :, :]  # [..., M, 1, V, 3]
    u1, n1 = _unit(first[..., spine, :] - first[..., base, :])  # [..., M, 1, 3]
    w = first[..., left, :] - first[..., right, :]
    u2, n2 = _unit(w - (w * u1).sum(-1, keepdim=True) * u1)
    u3, n3 = _unit(_cross(u2, u1))
    rot = torch.stack([u2, u3, u1], dim=-1)  # columns; [..., M, 1, 3, 3]
    turned = coords @ rot  # rows x^T R = (R^T x)^T, and R^T = R^-1
    present = (n1 > 0).unsqueeze(-1)
    defined = ((n2 > eps) & (n3 > eps)).unsqueeze(-1)
    out = torch.where(defined, turned, coords) * present.to(x.dtype)
    return _with_coordinates(x, out, 3)


def normalize_scale(x: Tensor, bones: Tensor, dims: int = 3, eps: float = 1e-6) -> Tensor:
    """Divide the coordinates of every clip of ``[..., M, T, V, C]`` by its
    mean bone length (over persons, frames and bones longer than ``eps``;
    a clip without such a bone is left as it is).  ``bones`` is ``[B, 2]``."""
    if bones.numel() == 0:
        return x
    coords = x[..., :dims]
    lengths = (coords.index_select(-2, bones[:, 0])
               - coords.index_select(-2, bones[:, 1])).norm(dim=-1)  # [..., M, T, B]
    valid = (lengths > eps).to(x.dtype)
    total = (lengths * valid).flatten(-3).sum(-1)
    count = valid.flatten(-3).sum(-1)
    scale = torch.where(count > 0, total / count.clamp(min=1), torch.ones_like(total))
    return _with_coordinates(x, coords / scale[..., None, None, None, None], dims)


def kmode_stream(x: Tensor, ancestors: Tensor, dims: Optional[int] = None) -> Tensor:
    r"""The reference's :math:`k`-th mode representation
    :math:`(I - A^k) X` of the first ``dims`` channels: every joint minus
    its ``k``-th ancestor ``ancestors[v]``; a joint without one
    (``ancestors[v] == v``: the root, and joints closer than ``k`` bones to
    it) keeps its position.  See :meth:`~topogcn.skeleton.Skeleton.ancestors`."""
    d = x.size(-1) if dims is None else dims
    coords = x[..., :d]
    has = (ancestors != torch.arange(ancestors.numel(), device=ancestors.device))
    moved = coords.index_select(-2, ancestors) * has.to(x.dtype).unsqueeze(-1)
    return _with_coordinates(x, coords - moved, d)


def bone_stream(x: Tensor, parents: Tensor, dims: Optional[int] = None) -> Tensor:
    """Bone vectors: every joint minus its parent (``parents[v]``); the
    root (its own parent) keeps its position, as the reference's
    :math:`(I - A) X` (:func:`kmode_stream` with :math:`k = 1`)."""
    return kmode_stream(x, parents, dims)


def motion_stream(x: Tensor, dims: Optional[int] = None) -> Tensor:
    """Frame differences ``x[t+1] - x[t]`` (the last frame gets zero) of the
    first ``dims`` channels of ``[..., M, T, V, C]``."""
    d = x.size(-1) if dims is None else dims
    coords = x[..., :d]
    diff = torch.cat([coords[..., 1:, :, :] - coords[..., :-1, :, :],
                      torch.zeros_like(coords[..., :1, :, :])], dim=-3)
    return _with_coordinates(x, diff, d)


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
    ``scale`` (a fraction drawn from ``scale=(lo, hi)``, rounded down) of the
    frames, but never fewer than ``min_frames`` (the reference: 64, so that
    clips of 64 frames or fewer are not cropped), at a random offset, and
    resample it to ``frames``.  With ``scale=(s, s)`` and
    ``center=True`` it is the deterministic centre crop used at test time."""

    def __init__(self, frames: int, scale: Tuple[float, float] = (0.5, 1.0),
                 center: bool = False, seed: Optional[int] = None,
                 min_frames: Optional[int] = None) -> None:
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"RandomCropResize: scale must satisfy 0 < lo <= hi <= 1, got "
                             f"{scale}")
        if min_frames is not None and min_frames < 1:
            raise ValueError(f"RandomCropResize: min_frames must be positive, got {min_frames}")
        self.frames, self.scale, self.center = frames, tuple(scale), center
        self.min_frames = min_frames
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomCropResize")
        T = x.size(1)
        lo, hi = self.scale
        s = lo + (hi - lo) * float(self._rand(1))
        length = max(1, int(math.floor(T * s)), self.min_frames or 1)
        length = min(T, length)
        if self.center:
            start = (T - length) // 2
        else:
            start = int(self._rand(1) * (T - length + 1))
        return resize_frames(x[:, start:start + length], self.frames)

    def __repr__(self) -> str:
        return (f"RandomCropResize({self.frames}, scale={self.scale}, center={self.center}, "
                f"min_frames={self.min_frames})")


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
        return center_joint(x, self.skeleton.center, self.dims, self.per_frame)

    def __repr__(self) -> str:
        return f"CenterJoint('{self.skeleton.name}', per_frame={self.per_frame})"


class NormalizeScale:
    """Divide the coordinates by the mean bone length of the sequence (over
    its persons, frames and non-zero bones), so that body size does not
    matter."""

    def __init__(self, skeleton: Union[Skeleton, str], dims: int = 3, eps: float = 1e-6) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.dims, self.eps = dims, eps

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "NormalizeScale")
        bones = torch.tensor(self.skeleton.bones, dtype=torch.long).view(-1, 2)
        return normalize_scale(x, bones, self.dims, self.eps)

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
    about each of ``axes`` (the reference uses 0.3 rad about x, y and z;
    ``"y"`` turns about the vertical axis only, as a camera moving around
    the person).  With ``dims=2`` (x, y, confidence data) the rotation is in
    the image plane whatever ``axes`` says, and the third channel is left
    alone."""

    def __init__(self, max_angle: float = 0.3, dims: int = 3, axes: str = "xyz",
                 seed: Optional[int] = None) -> None:
        if dims not in (2, 3):
            raise ValueError(f"RandomRotation: dims must be 2 or 3, got {dims}")
        if not axes or set(axes) - set("xyz"):
            raise ValueError(f"RandomRotation: axes must be letters of 'xyz', got {axes!r}")
        self.max_angle, self.dims, self.axes = max_angle, dims, axes
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomRotation")
        angles = (self._rand(3) * 2 - 1) * self.max_angle
        keep = torch.tensor([a in self.axes for a in "xyz"]) if self.dims == 3 else \
            torch.tensor([False, False, True])
        angles = angles * keep
        R = _rotation_matrix(angles).to(x.dtype)[: self.dims, : self.dims]
        out = x.clone()
        out[..., :self.dims] = x[..., :self.dims] @ R.t()
        return out

    def __repr__(self) -> str:
        return f"RandomRotation(max_angle={self.max_angle}, dims={self.dims}, axes={self.axes!r})"


class RandomScale(_Random):
    """Scale every coordinate axis by its own random factor in ``[1 - s, 1 +
    s]`` (body proportions and viewpoint); other channels (confidence) are
    left alone."""

    def __init__(self, s: float = 0.1, dims: int = 3, seed: Optional[int] = None) -> None:
        if not 0 <= s < 1:
            raise ValueError(f"RandomScale: s must be in [0, 1), got {s}")
        self.s, self.dims = s, dims
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomScale")
        factor = 1 + (self._rand(self.dims) * 2 - 1) * self.s
        out = x.clone()
        out[..., :self.dims] = x[..., :self.dims] * factor.to(x.dtype)
        return out

    def __repr__(self) -> str:
        return f"RandomScale(s={self.s}, dims={self.dims})"


class RandomMirror(_Random):
    """With probability ``p``, mirror the pose left/right: negate the first
    coordinate (x) and swap the skeleton's declared mirror pairs
    (:attr:`~topogcn.skeleton.Skeleton.mirror`).  Confidence channels move
    with their joint and keep their values.  Apply after centring, so that
    the mirror plane passes through the centre joint."""

    def __init__(self, skeleton: Union[Skeleton, str], p: float = 0.5,
                 seed: Optional[int] = None) -> None:
        skeleton = get_skeleton(skeleton)
        perm = skeleton.mirror_permutation()
        if perm is None:
            raise ValueError(f"RandomMirror: skeleton '{skeleton.name}' declares no mirror "
                             f"pairs (Skeleton(..., mirror=[(left, right), ...]); [] for a "
                             f"skeleton without pairs, e.g. one hand)")
        if not 0 <= p <= 1:
            raise ValueError(f"RandomMirror: p must be in [0, 1], got {p}")
        self.p, self.skeleton_name = p, skeleton.name
        self.permutation = torch.tensor(perm)
        self._init_rng(seed)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "RandomMirror")
        if float(self._rand(1)) >= self.p:
            return x
        out = x.index_select(2, self.permutation)
        out[..., 0] = -out[..., 0]
        return out

    def __repr__(self) -> str:
        return f"RandomMirror(p={self.p}, skeleton={self.skeleton_name!r})"


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
    breadth-first tree from the centre (the centre joint keeps its
    position, as the reference's :math:`(I - A) X`).  With ``dims`` given,
    only those channels are differenced (confidence kept)."""

    def __init__(self, skeleton: Union[Skeleton, str], dims: Optional[int] = None) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.dims = dims
        self.parents = torch.tensor(self.skeleton.parents)

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "ToBone")
        return bone_stream(x, self.parents, self.dims)

    def __repr__(self) -> str:
        return f"ToBone('{self.skeleton.name}')"


class ToMotion:
    """The motion stream: frame differences ``x[t+1] - x[t]`` (the last
    frame gets zero), of the first ``dims`` channels (all by default)."""

    def __init__(self, dims: Optional[int] = None) -> None:
        self.dims = dims

    def __call__(self, x: Tensor) -> Tensor:
        _check(x, "ToMotion")
        return motion_stream(x, self.dims)

    def __repr__(self) -> str:
        return "ToMotion()"


from topogcn.transforms.input_spec import STREAMS  # noqa: E402


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
