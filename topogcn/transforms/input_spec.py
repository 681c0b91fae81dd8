"""What a trained model expects of its input, as one typed, versioned object."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from topogcn.io.limits import MAX_CLASSES, MAX_FRAMES, MAX_PERSONS
from topogcn.skeleton import Skeleton

#: version of :meth:`InputSpec.to_dict`; raised when a field changes meaning
INPUT_SPEC_VERSION = 1
#: channel names that are coordinates (centred, scaled, rotated, differenced)
COORDINATE_CHANNELS = ("x", "y", "z")
CENTER_MODES = ("first_frame", "first_present", "per_frame", "none")
CENTER_PERSONS = ("each", "first")
#: what becomes of a third channel that is not z (e.g. OpenPose's confidence)
THIRD_CHANNEL_MODES = ("carried", "coordinate")
STREAMS = ("joint", "bone", "motion", "bone_motion", "kmode", "kmode_motion")


class InputSpecError(ValueError):
    """An input specification, or an input, that does not hold together."""


def default_channels(num_channels: int) -> Tuple[str, ...]:
    """Channel names assumed when a dataset declares none: ``x, y`` for 2
    channels, ``x, y, z`` for 3."""
    if num_channels == 2:
        return ("x", "y")
    if num_channels == 3:
        return ("x", "y", "z")
    raise InputSpecError(f"{num_channels} channels per joint: name them (e.g. 'x, y, z, "
                         f"visibility'); only 2 (x, y) or 3 (x, y, z) are assumed")


def check_channels(channels: Sequence[str], source: str = "channels") -> Tuple[str, ...]:
    """Validate channel names: unique, coordinates (``x``, ``y``, ``z``)
    first, at least ``x`` and ``y``; other names (``confidence``,
    ``visibility``, ...) are carried unchanged by the preprocessing."""
    names = tuple(str(c).strip() for c in channels)
    if len(names) < 2:
        raise InputSpecError(f"{source}: at least 2 channels (x, y), got {list(names)}")
    if len(set(names)) != len(names) or not all(names):
        raise InputSpecError(f"{source}: channel names must be unique and non-empty, got "
                             f"{list(names)}")
    dims = sum(1 for c in names if c in COORDINATE_CHANNELS)
    if names[:dims] != COORDINATE_CHANNELS[:dims] or dims < 2:
        raise InputSpecError(f"{source}: the coordinates must come first, in the order x, y[, "
                             f"z], then any other channel (confidence, ...); got {list(names)}")
    return names


@dataclass(frozen=True)
class InputSpec:
    r"""The input contract of a trained model: saved in every checkpoint
    and beside every export, and the only source of the preprocessing
    (:class:`~topogcn.transforms.Preprocess`) at training, evaluation,
    prediction, spotting, analysis and in the exported graph.

    A raw clip ``[M, T, V, C]`` (persons, frames, joints, channels, as
    stored in a file) becomes the model input ``[persons, frames, V, C]``
    by: padding or cutting to ``persons``; centring on the centre joint;
    dividing by the mean bone length; linear resampling of the centre
    ``test_crop`` of the clip to ``frames``; the input ``stream``.  Only
    coordinate channels (``x, y[, z]``, first) are centred, scaled, rotated
    or differenced; the others (e.g. OpenPose's ``confidence``) are carried
    unchanged.

    Args:
        skeleton (Skeleton): The joints and bones.
        channels (sequence of str): The meaning of every channel, e.g.
            ``("x", "y", "z")`` or ``("x", "y", "confidence")``.
        classes (sequence of str): Class names, index = label.
        persons (int): Persons per clip ``M``.
        frames (int): Frames of the model input ``T``.
        center (str): ``"first_frame"``, ``"first_present"`` (the first
            frame in which the person is present, and frames in which a
            person is missing, all zeros, kept at zero: the reference's
            NTU preprocessing), ``"per_frame"`` or ``"none"``.
        normalize_scale (bool): Divide by the mean bone length.
        stream (str): ``"joint"``, ``"bone"``, ``"motion"``,
            ``"bone_motion"``, ``"kmode"`` or ``"kmode_motion"``, computed
            after resampling.  ``bone`` is every joint minus its parent in
            the tree rooted at the centre joint (which keeps its position),
            ``kmode`` the reference's :math:`(I - A^k) X`, ``*_motion``
            the frame differences of that stream (the reference's
            ``--use_vel`` with any :math:`k`).
        center_joint (int, optional): The joint to centre on and the root of
            the bone / k-mode tree. (default: the skeleton's centre)
        center_person (str): ``"each"`` person on its own centre joint, or
            every person on the ``"first"`` person's (the reference).
        test_crop (float): Fraction of the clip kept (centred) before
            resampling; the reference tests on 0.95. (default: 1.0)
        k (int): :math:`k` of the ``kmode`` stream. (default: 1)
        align (tuple of 4 int, optional): View alignment after centring (see
            :func:`~topogcn.transforms.align_view`): the joints (spine base,
            spine, left hip, right hip) whose first-frame directions turn
            every person's clip so that the spine points along z and the
            hips along x, as the reference's NTU data; 3-D coordinates
            only. (default: :obj:`None`, not aligned)
        third_channel (str): With 2-D coordinates and a third channel (e.g.
            ``x, y, confidence``): ``"carried"`` unchanged beside the
            coordinates, or treated as a ``"coordinate"`` (a pseudo-depth:
            centred, rotated in 3-D, differenced, as the reference's code
            treats every third channel). (default: ``"carried"``)
    """

    skeleton: Skeleton
    channels: Tuple[str, ...]
    classes: Tuple[str, ...]
    persons: int = 1
    frames: int = 64
    center: str = "first_frame"
    normalize_scale: bool = True
    stream: str = "joint"
    center_joint: Optional[int] = None
    center_person: str = "each"
    test_crop: float = 1.0
    k: int = 1
    align: Optional[Tuple[int, int, int, int]] = None
    third_channel: str = "carried"
    version: int = field(default=INPUT_SPEC_VERSION)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.skeleton, Skeleton):
            raise InputSpecError(f"skeleton must be a Skeleton, got {type(self.skeleton).__name__}")
        set_(self, "channels", check_channels(self.channels))
        classes = tuple(str(c) for c in self.classes)
        if not classes:
            raise InputSpecError("classes: at least one class name is needed")
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise InputSpecError(f"classes: duplicate class names {dup}")
        if len(classes) > MAX_CLASSES:
            raise InputSpecError(f"classes: {len(classes)} names, more than the limit of "
                                 f"{MAX_CLASSES}")
        set_(self, "classes", classes)
        for name, top in (("persons", MAX_PERSONS), ("frames", MAX_FRAMES)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise InputSpecError(f"{name} must be a positive integer of at most {top}, "
                                     f"got {v!r}")
        if self.center not in CENTER_MODES:
            raise InputSpecError(f"center must be one of {', '.join(CENTER_MODES)}, got "
                                 f"{self.center!r}")
        if self.stream not in STREAMS:
            raise InputSpecError(f"stream must be one of {', '.join(STREAMS)}, got "
                                 f"{self.stream!r}")
        if self.center_joint is not None and (
                isinstance(self.center_joint, bool) or not isinstance(self.center_joint, int)
                or not 0 <= self.center_joint < self.skeleton.num_nodes):
            raise InputSpecError(f"center_joint must be a joint index of "
                                 f"'{self.skeleton.name}' (0..{self.skeleton.num_nodes - 1}), "
                                 f"got {self.center_joint!r}")
        if self.center_person not in CENTER_PERSONS:
            raise InputSpecError(f"center_person must be one of {', '.join(CENTER_PERSONS)}, "
                                 f"got {self.center_person!r}")
        if isinstance(self.test_crop, bool) or not isinstance(self.test_crop, (int, float)) \
                or not 0 < self.test_crop <= 1:
            raise InputSpecError(f"test_crop must be in (0, 1], got {self.test_crop!r}")
        set_(self, "test_crop", float(self.test_crop))
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InputSpecError(f"k must be a positive integer (k = 0 would make "
                                 f"(I - A^0) X all zeros), got {self.k!r}")
        if self.third_channel not in THIRD_CHANNEL_MODES:
            raise InputSpecError(f"third_channel must be one of {', '.join(THIRD_CHANNEL_MODES)}"
                                 f", got {self.third_channel!r}")
        if self.third_channel == "coordinate" and not (
                self.num_channels >= 3 and self.channels[2] not in COORDINATE_CHANNELS):
            raise InputSpecError(f"third_channel='coordinate' treats a third channel that is "
                                 f"not z as one more coordinate; the channels are "
                                 f"{list(self.channels)}")
        if self.align is not None:
            set_(self, "align", self._check_align(self.align))
        if self.version != INPUT_SPEC_VERSION:
            raise InputSpecError(f"input spec version {self.version} is not supported by this "
                                 f"topogcn (it reads version {INPUT_SPEC_VERSION})")

    def _check_align(self, joints: Any) -> Tuple[int, int, int, int]:
        V = self.skeleton.num_nodes
        if (not isinstance(joints, (list, tuple)) or len(joints) != 4
                or any(isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < V
                       for j in joints)):
            raise InputSpecError(f"align must be 4 joint indices of '{self.skeleton.name}' "
                                 f"(0..{V - 1}): spine base, spine, left hip, right hip; got "
                                 f"{joints!r}")
        base, spine, left, right = joints
        if base == spine or left == right:
            raise InputSpecError(f"align: the spine joints ({base}, {spine}) and the hip joints "
                                 f"({left}, {right}) must be two different joints each")
        if "z" not in self.channels:
            raise InputSpecError(f"align turns 3-D coordinates; the channels are "
                                 f"{list(self.channels)}")
        return (base, spine, left, right)

    # ------------------------------------------------------------ derived
    @property
    def root(self) -> int:
        """The joint the clip is centred on and the bone / k-mode tree is
        rooted at."""
        return self.skeleton.center if self.center_joint is None else self.center_joint

    @property
    def coordinate_dims(self) -> int:
        """How many leading channels are coordinates (2 or 3; 3 when the
        third channel is treated as a coordinate)."""
        if self.third_channel == "coordinate":
            return 3
        return sum(1 for c in self.channels if c in COORDINATE_CHANNELS)

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_nodes(self) -> int:
        return self.skeleton.num_nodes

    @property
    def raw_shape(self) -> List[Union[str, int]]:
        """The raw clip batch ``[N, M, T, V, C]`` (``N`` and ``T`` free)."""
        return ["N", self.persons, "T", self.num_nodes, self.num_channels]

    @property
    def model_shape(self) -> List[Union[str, int]]:
        """The model input ``[N, M, frames, V, C]``."""
        return ["N", self.persons, self.frames, self.num_nodes, self.num_channels]

    def fit_persons(self, x: Tensor) -> Tensor:
        """Pad (with zeros) or cut ``[..., M, T, V, C]`` to ``persons``."""
        M = x.size(-4)
        if M == self.persons:
            return x
        if M > self.persons:
            return x[..., :self.persons, :, :, :]
        pad = x.new_zeros(x.shape[:-4] + (self.persons - M,) + x.shape[-3:])
        return torch.cat([x, pad], dim=-4)

    def check_raw(self, x: Tensor, source: str = "input") -> None:
        """Raise :class:`InputSpecError` naming ``source`` unless ``x`` is a
        raw clip ``[M, T, V, C]`` (or a batch of them) of this skeleton and
        channel count, with at least one frame and one person."""
        if not isinstance(x, Tensor) or x.dim() not in (4, 5):
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputSpecError(f"{source}: expected a clip [M, T, V, C] or a batch "
                                 f"[N, M, T, V, C], got {shape}")
        M, T, V, C = x.shape[-4:]
        if V != self.num_nodes or C != self.num_channels:
            raise InputSpecError(
                f"{source}: {V} joints x {C} channels, but the model expects the "
                f"{self.num_nodes} joints of '{self.skeleton.name}' x {self.num_channels} "
                f"channels ({', '.join(self.channels)}); shape {list(x.shape)}")
        if M == 0 or T == 0:
            raise InputSpecError(f"{source}: the clip has no {'person' if M == 0 else 'frame'} "
                                 f"(shape {list(x.shape)})")

    # ------------------------------------------------------- serialisation
    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description (the format of :meth:`from_dict`)."""
        out: Dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, Skeleton) else (
                list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "input spec") -> "InputSpec":
        """Rebuild an input spec; errors name ``source`` and the field."""
        if not isinstance(data, Mapping):
            raise InputSpecError(f"{source}: expected a mapping, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputSpecError(f"{source}: unknown fields {unknown} (fields: "
                                 f"{', '.join(sorted(names))})")
        for need in ("skeleton", "channels", "classes"):
            if need not in data:
                raise InputSpecError(f"{source}: missing field '{need}'")
        kwargs = dict(data)
        try:
            kwargs["skeleton"] = Skeleton.from_dict(data["skeleton"], source=f"{source}: "
                                                                             f"skeleton")
            for key in ("channels", "classes"):
                if not isinstance(data[key], (list, tuple)):
                    raise InputSpecError(f"{source}: '{key}' must be a list, got "
                                         f"{data[key]!r}")
            return cls(**kwargs)
        except InputSpecError as e:
            msg = str(e)
            raise InputSpecError(msg if msg.startswith(source) else f"{source}: {msg}") from None
        except (ValueError, TypeError) as e:
            raise InputSpecError(f"{source}: {e}") from None

    def describe(self) -> str:
        """One line for people."""
        stream = f"kmode (k={self.k})" if self.stream == "kmode" else self.stream
        crop = f"the centre {self.test_crop:g} " if self.test_crop < 1 else ""
        who = "the first person's" if self.center_person == "first" else "each person's"
        centre = ("not centred" if self.center == "none" else
                  f"centred ({self.center}) on {who} "
                  f"'{self.skeleton.joint_names[self.root]}'")
        if self.align is not None:
            names = [self.skeleton.joint_names[j] for j in self.align]
            centre += (f", view-aligned on the first frame ({names[0]}->{names[1]} along z, "
                       f"{names[3]}->{names[2]} along x)")
        third = (f" ('{self.channels[2]}' as a third coordinate)"
                 if self.third_channel == "coordinate" else "")
        return (f"{self.persons} person(s) x T frames x {self.num_nodes} joints "
                f"('{self.skeleton.name}') x ({', '.join(self.channels)}){third}; {centre}, "
                f"scale {'normalised' if self.normalize_scale else 'kept'}, {crop}resampled to "
                f"{self.frames} frames, {stream} stream")
