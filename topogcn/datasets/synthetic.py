"""A synthetic micro-gesture dataset: the built-in default, no download."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import RawRecording, Segment, SkeletonDataset, carve_validation
from topogcn.datasets.registry import register_dataset
from topogcn.skeleton import Skeleton, get_skeleton
from topogcn.skeleton.layout import rest_pose

MOTIONS = ("reach", "oscillate", "circle")


@dataclass(frozen=True)
class GestureClass:
    """The template of a synthetic micro-gesture class."""
    name: str
    effector: int  #: the joint that moves most
    motion: str  #: reach | oscillate | circle
    direction: Tuple[float, float, float]
    normal: Tuple[float, float, float]  #: second axis of a circle
    cycles: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def _effectors(skeleton: Skeleton) -> List[int]:
    """Leaves of the bone tree, furthest from the centre first."""
    parents = skeleton.parents
    has_child = {p for j, p in enumerate(parents) if p != j}
    hop = skeleton.hop_distance()[skeleton.center]
    leaves = [j for j in range(skeleton.num_nodes) if j not in has_child]
    leaves = leaves or list(range(skeleton.num_nodes))
    return sorted(leaves, key=lambda j: (-float(hop[j]) if math.isfinite(hop[j]) else 0, j))


def make_classes(skeleton: Skeleton, num_classes: int, seed: int) -> List[GestureClass]:
    """Class templates: class ``k`` moves effector ``k mod n`` with a motion
    type and a direction drawn from the seed."""
    rng = np.random.default_rng([seed, 0])
    eff = _effectors(skeleton)
    out = []
    for k in range(num_classes):
        e = eff[k % len(eff)]
        motion = MOTIONS[(k % len(eff) + k // len(eff)) % len(MOTIONS)]
        d = _unit(rng.normal(size=3))
        n = _unit(np.cross(d, _unit(rng.normal(size=3))))
        cycles = float(rng.choice([2.0, 3.0])) if motion == "oscillate" else float(
            rng.choice([1.0, 1.5]))
        name = f"{motion}-{skeleton.joint_names[e]}"
        out.append(GestureClass(name, e, motion, tuple(d.tolist()), tuple(n.tolist()), cycles))
    names = [c.name for c in out]
    return [GestureClass(c.name if names.count(c.name) == 1 else f"{c.name}-{i}", c.effector,
                         c.motion, c.direction, c.normal, c.cycles) for i, c in enumerate(out)]


class _Generator:
    """Deterministic generation of one subject's recordings."""

    def __init__(self, skeleton: Skeleton, classes: Sequence[GestureClass], amplitude: float,
                 idle: float, noise: float, class_frames: Sequence[float],
                 gap_frames: Tuple[int, int] = (15, 45), distractor_every: int = 120,
                 distractor_amplitude: float = 0.3, posture_shifts: float = 0.0) -> None:
        self.skeleton = skeleton
        self.classes = classes
        self.amplitude, self.idle, self.noise = amplitude, idle, noise
        self.class_frames = list(class_frames)
        self.gap_frames = gap_frames
        self.distractor_every, self.distractor_amplitude = distractor_every, distractor_amplitude
        self.posture_shifts = posture_shifts
        self.rest = rest_pose(skeleton)
        self.parents = np.array(skeleton.parents)
        # weight of a movement of effector e on every joint: 1 on e, decaying up the tree
        V = skeleton.num_nodes
        self.falloff: Dict[int, np.ndarray] = {}
        for c in classes:
            w = np.zeros(V, np.float32)
            j, val = c.effector, 1.0
            for _ in range(3):
                w[j] = max(w[j], val)
                if self.parents[j] == j:
                    break
                j, val = int(self.parents[j]), val * 0.45
            self.falloff[c.effector] = w
        self.effectors = sorted(self.falloff)

    def subject_body(self, rng: np.random.Generator) -> Tuple[np.ndarray, float]:
        """Rest pose with this subject's proportions, and their tempo."""
        scale = rng.uniform(0.85, 1.15)
        bones = self.rest - self.rest[self.parents]
        bones = bones * rng.uniform(0.92, 1.08, size=(len(bones), 1))
        pose = np.zeros_like(self.rest)
        order = np.argsort(self.skeleton.hop_distance()[self.skeleton.center].numpy(),
                           kind="stable")
        for j in order:  # re-assemble from the centre outwards
            p = self.parents[j]
            pose[j] = self.rest[j] if p == j else pose[p] + bones[j]
        return pose * scale, float(rng.uniform(0.8, 1.25))

    def displacement(self, c: GestureClass, length: int, amp: float,
                     rng: np.random.Generator) -> np.ndarray:
        """``[length, 3]`` displacement of the effector."""
        u = (np.arange(length) + 0.5) / length
        env = np.sin(np.pi * u) ** 2
        d, n = np.array(c.direction), np.array(c.normal)
        phase = rng.uniform(0, 2 * np.pi)
        if c.motion == "reach":
            return (env * amp)[:, None] * d
        if c.motion == "oscillate":
            return (env * amp * 0.7 * np.sin(2 * np.pi * c.cycles * u + phase))[:, None] * d
        ang = 2 * np.pi * c.cycles * u + phase
        return (env * amp * 0.6)[:, None] * (np.cos(ang)[:, None] * d + np.sin(ang)[:, None] * n)

    def recording(self, rng: np.random.Generator, pose: np.ndarray, tempo: float,
                  labels: Sequence[int]) -> Tuple[np.ndarray, List[Segment]]:
        V = len(pose)
        lengths = [max(8, int(round(self.class_frames[y] * tempo * rng.uniform(0.85, 1.15))))
                   for y in labels]
        lo, hi = self.gap_frames
        gaps = [int(rng.integers(lo, hi + 1)) for _ in range(len(labels) + 1)]
        T = sum(lengths) + sum(gaps)
        t = np.arange(T)[:, None]
        # idle motion: body sway, breathing, smooth per-joint jitter, sensor noise
        x = np.repeat(pose[None], T, axis=0)
        f1, f2 = rng.uniform(0.005, 0.015, size=2)
        sway = np.stack([np.sin(2 * np.pi * f1 * t[:, 0] + rng.uniform(0, 6)),
                         0.3 * np.sin(2 * np.pi * 2 * f2 * t[:, 0] + rng.uniform(0, 6)),
                         np.sin(2 * np.pi * f2 * t[:, 0] + rng.uniform(0, 6))], axis=1)
        x += self.idle * sway[:, None, :]
        freq = rng.uniform(0.01, 0.05, size=(1, V, 3))
        ph = rng.uniform(0, 2 * np.pi, size=(1, V, 3))
        x += 0.4 * self.idle * np.sin(2 * np.pi * freq * t[:, :, None] + ph)
        # distractors: small idle movements of random effectors
        for _ in range(max(1, T // self.distractor_every)):
            e = self.effectors[int(rng.integers(len(self.effectors)))]
            length = int(rng.integers(15, 40))
            start = int(rng.integers(0, max(1, T - length)))
            u = (np.arange(length) + 0.5) / length
            drift = (np.sin(np.pi * u) ** 2)[:, None] * _unit(rng.normal(size=3))
            x[start:start + length] += (self.distractor_amplitude * self.amplitude * drift
                                        )[:, None, :] * self.falloff[e][None, :, None]
        # posture shifts: the whole body leans or steps to a new rest position
        # over 10-30 frames and stays there
        shifts = int(rng.poisson(T * self.posture_shifts)) if self.posture_shifts else 0
        for _ in range(shifts):
            start, length = int(rng.integers(0, T)), int(rng.integers(10, 31))
            u = np.clip((np.arange(T) - start + 0.5) / length, 0, 1)
            step = (0.5 - 0.5 * np.cos(np.pi * u))[:, None] * rng.normal(scale=self.amplitude,
                                                                          size=3)
            x += step[:, None, :]
        segments, cursor = [], gaps[0]
        for k, (y, length) in enumerate(zip(labels, lengths)):
            c = self.classes[y]
            amp = self.amplitude * rng.uniform(0.8, 1.2)
            disp = self.displacement(c, length, amp, rng)
            x[cursor:cursor + length] += disp[:, None, :] * self.falloff[c.effector][None, :, None]
            segments.append(Segment(int(y), cursor, cursor + length - 1))
            cursor += length + gaps[k + 1]
        # viewpoint: rotation about the vertical axis and a translation
        a = rng.uniform(-0.45, 0.45)
        R = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        x = x @ R.T + np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.6, 1.0),
                                rng.uniform(2.0, 3.0)])
        x += rng.normal(scale=self.noise, size=x.shape)
        return x.astype(np.float32), segments


def _pair(value, name: str, least: int) -> Tuple[int, int]:
    """``[low, high]`` whole numbers with ``least <= low <= high <= 1000``."""
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok or not least <= value[0] <= value[1] <= 1000:
        raise ValueError(f"{name} must be a whole number or a pair [low, high] of whole "
                         f"numbers from {least} to 1000, got {value!r}")
    return int(value[0]), int(value[1])


class SyntheticMicroGestures(SkeletonDataset):
    r"""Synthetic micro-gestures on any skeleton, generated deterministically
    from ``seed`` (no file, no download): the default dataset of topogcn.

    Every subject has their own body proportions (scale 0.85-1.15, each bone
    +-8%) and tempo (0.8-1.25), and performs every class
    ``gestures_per_class`` times, spread over ``recordings_per_subject`` long
    recordings with idle stretches in between.  A recording has natural idle
    motion (body sway, breathing, smooth per-joint jitter), small distractor
    movements of random limbs, a random viewpoint (rotation of up to
    +-0.45 rad about the vertical axis, a translation) and sensor noise.  A
    class is a small, short, localised movement of one extremity of the
    skeleton (a leaf of its bone tree, e.g. a hand tip, the head, a foot)
    that fades over its two parents: a *reach* (out and back), an
    *oscillation* (rubbing, scratching) or a *circle*, of about
    ``amplitude`` (10 cm by default), with a random phase per instance, so
    that a linear model on raw coordinates does not solve it.

    Classes are side-specific (a movement of the left hand is not one of the
    right hand): :attr:`side_specific_classes` is true, so automatic
    mirroring augmentation stays off.

    Clips are the labelled segments (about ``gesture_frames`` frames at 30
    fps), split by subject: the last ``test_subjects`` subjects are the test
    split.  :meth:`recordings` gives the long recordings with their segments
    (for spotting).

    Args:
        split (str): ``"train"``, ``"val"`` (needs ``val_subjects``) or ``"test"``.
        seed (int): Seed of everything (class templates and subjects).
        skeleton (Skeleton or str): Any skeleton. (default: ``"ntu25"``)
        num_classes (int): Number of classes. (default: 10)
        num_subjects (int): Number of subjects. (default: 30)
        test_subjects (int): How many of them form the test split. (default: 8)
        gestures_per_class (int): Instances of every class per subject. (default: 4)
        recordings_per_subject (int): Long recordings per subject. (default: 2)
        frames (int, optional): Frames per returned clip. (default: 32)
        transform (callable, optional): Applied to ``[M, T, V, C]`` clips.
        val_subjects (int or list, optional): Training subjects held out as
            the validation split.
        amplitude (float): Gesture amplitude. (default: 0.10)
        idle (float): Idle-motion amplitude. (default: 0.02)
        noise (float): Sensor-noise standard deviation. (default: 0.004)
        gesture_frames (int or pair of int): Mean gesture length in frames;
            a pair ``[shortest, longest]``: every class has its own mean
            length, spread geometrically between them (in a seeded order
            over the classes). (default: 30)
        gap_frames (pair of int): Idle frames between gestures, drawn
            uniformly. (default: ``[15, 45]``)
        distractor_every (int): One small idle movement of a random limb per
            this many frames (one at least per recording). (default: 120)
        distractor_amplitude (float): Their size, relative to
            ``amplitude``. (default: 0.3)
        posture_shifts (float): Shifts of the whole body to a new rest
            position (10-30 frames long, about ``amplitude``) per frame, on
            average. (default: 0)
        imbalance (float): A long tail, as in SMG and iMiGUE: class
            :math:`c` of :math:`K` has
            :math:`\max(1, \mathrm{round}(g \cdot r^{-c/(K-1)}))`
            instances per subject, :math:`g` = ``gestures_per_class``,
            :math:`r` = ``imbalance`` (the ratio of the most to the least
            frequent class before rounding), in every split. (default: 1,
            balanced)
    """

    side_specific_classes = True

    def __init__(self, split: str = "train", seed: int = 0,
                 skeleton: Union[Skeleton, str] = "ntu25", num_classes: int = 10,
                 num_subjects: int = 30, test_subjects: int = 8, gestures_per_class: int = 4,
                 recordings_per_subject: int = 2, frames: Optional[int] = 32,
                 transform=None, val_subjects: Union[None, int, Sequence[int]] = None,
                 amplitude: float = 0.10, idle: float = 0.02, noise: float = 0.004,
                 gesture_frames: Union[int, Sequence[int]] = 30, imbalance: float = 1.0,
                 gap_frames: Sequence[int] = (15, 45), distractor_every: int = 120,
                 distractor_amplitude: float = 0.3, posture_shifts: float = 0.0) -> None:
        super().__init__(split, frames, transform)
        gap_frames = _pair(gap_frames, "gap_frames", 1)
        if not isinstance(gesture_frames, (list, tuple)):
            gesture_frames = (gesture_frames, gesture_frames)
        shortest, longest = _pair(gesture_frames, "gesture_frames", 4)
        if isinstance(distractor_every, bool) or not isinstance(distractor_every, int) or \
                not 1 <= distractor_every <= 100_000:
            raise ValueError(f"distractor_every must be a whole number of frames from 1 to "
                             f"100000, got {distractor_every!r}")
        for name, value in (("posture_shifts", posture_shifts),
                            ("distractor_amplitude", distractor_amplitude)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 <= value <= 10:
                raise ValueError(f"{name} must be a number between 0 and 10, got {value!r}")
        if isinstance(imbalance, bool) or not isinstance(imbalance, (int, float)) \
                or not 1 <= imbalance <= 1000:
            raise ValueError(f"imbalance must be a ratio between 1 and 1000, got {imbalance!r}")
        if not 0 < test_subjects < num_subjects:
            raise ValueError(f"test_subjects must be between 1 and num_subjects-1, got "
                             f"{test_subjects} of {num_subjects}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if split == "val" and val_subjects is None:
            raise ValueError("split='val' needs val_subjects (a number of training subjects to "
                             "hold out, or their ids)")
        self.skeleton = get_skeleton(skeleton)
        self.seed = seed
        self.class_templates = make_classes(self.skeleton, num_classes, seed)
        self.classes = [c.name for c in self.class_templates]
        class_frames = np.full(num_classes, float(shortest))
        if longest > shortest:
            order = np.random.default_rng([seed, 2]).permutation(num_classes)
            class_frames = np.geomspace(shortest, longest, num_classes)[order]
        gen = _Generator(self.skeleton, self.class_templates, amplitude, idle, noise,
                         class_frames.tolist(), gap_frames, distractor_every, distractor_amplitude,
                         posture_shifts)
        all_subjects = list(range(1, num_subjects + 1))
        train_subjects = all_subjects[:num_subjects - test_subjects]
        if split == "test":
            subjects = all_subjects[num_subjects - test_subjects:]
        else:
            val = carve_validation(train_subjects, val_subjects)
            subjects = [s for s in train_subjects if (s in val) == (split == "val")]
        tail = float(imbalance) ** (-np.arange(num_classes) / (num_classes - 1))
        per_class = np.maximum(1, np.round(gestures_per_class * tail)).astype(int)
        recs: List[RawRecording] = []
        for s in subjects:
            rng = np.random.default_rng([seed, 1, s])
            pose, tempo = gen.subject_body(rng)
            labels = np.repeat(np.arange(num_classes), per_class)
            rng.shuffle(labels)
            for r, part in enumerate(np.array_split(labels, recordings_per_subject)):
                data, segs = gen.recording(rng, pose, tempo, part.tolist())
                recs.append(RawRecording(f"S{s:03d}R{r + 1:02d}", s, split, data[:, None], segs))
        self._set_from_raw(recs)


@register_dataset("synthetic", needs_root=False,
                  description="built-in synthetic micro-gestures (no files)")
def _build(root, split, *, skeleton=None, frames=32, val_subjects=None, **options):
    options.setdefault("seed", 0)
    skeleton = skeleton or options.pop("skeleton", "ntu25")
    return SyntheticMicroGestures(split, skeleton=get_skeleton(skeleton), frames=frames,
                                  val_subjects=val_subjects, **options)


#: the third recording generator: gestures of very different lengths (short
#: taps to long movements), dense, with restless idle stretches
VARIED_OPTIONS = {"seed": 3, "gesture_frames": [12, 80], "gap_frames": [4, 30],
                  "distractor_every": 60, "distractor_amplitude": 0.5, "posture_shifts": 1 / 150}


@register_dataset("synthetic-varied", needs_root=False,
                  description="built-in synthetic micro-gestures of another design: 12-80 "
                              "frame gestures, dense, restless idling (no files)")
def _build_varied(root, split, *, skeleton=None, frames=32, val_subjects=None, **options):
    return _build(root, split, skeleton=skeleton, frames=frames, val_subjects=val_subjects,
                  **{**VARIED_OPTIONS, **options})
