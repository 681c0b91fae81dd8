"""A second synthetic dataset, of another design than the default: finger
micro-gestures of one hand seen by a 2D keypoint detector."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from topogcn.datasets.base import RawRecording, Segment, SkeletonDataset, carve_validation
from topogcn.datasets.registry import register_dataset
from topogcn.skeleton import get_skeleton

FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# a right hand, palm to the camera, fingers up, in hand lengths (y up):
# base joint (thumb CMC, finger MCP), direction (degrees) and segment lengths
_BASES = np.array([[-0.15, 0.12], [-0.12, 0.45], [-0.02, 0.47], [0.08, 0.44], [0.17, 0.38]])
_ANGLES = np.radians([135.0, 97.0, 90.0, 83.0, 75.0])
_SEGMENTS = np.array([[0.20, 0.16, 0.13], [0.24, 0.15, 0.11], [0.27, 0.17, 0.12],
                      [0.25, 0.16, 0.11], [0.19, 0.12, 0.10]])
# how a unit of flexion bends the three joints of a finger (radians); the
# thumb also swings across the palm (opposition)
_BEND = np.array([[0.3, 0.6, 0.6], [1.4, 1.6, 1.0], [1.4, 1.6, 1.0], [1.4, 1.6, 1.0],
                  [1.4, 1.6, 1.0]])
_THUMB_SWING = math.radians(70.0)
# fan-out direction of each finger when the hand spreads
_SPREAD_SIGN = np.array([1.0, 0.6, 0.0, -0.6, -1.0])


def _bumps(u: np.ndarray, n: int) -> np.ndarray:
    """``n`` smooth bumps over ``u`` in [0, 1]."""
    return np.sin(np.pi * n * np.clip(u, 0, 1)) ** 2


@dataclass
class Motion:
    """What a gesture does at normalised time ``u``: flexion of the five
    fingers ``[T, 5]``, spread ``[T]`` (radians) and in-plane wrist rotation
    ``[T]`` (radians)."""
    flex: np.ndarray
    spread: np.ndarray
    rotation: np.ndarray


def _motion(u: np.ndarray, flex: Dict[int, np.ndarray] = None, spread=0.0, rotation=0.0,
            scissors=0.0) -> Motion:
    f = np.zeros((len(u), 5))
    for k, v in (flex or {}).items():
        f[:, k] = v
    spread = np.broadcast_to(np.asarray(spread, float), u.shape)
    s = np.outer(spread, _SPREAD_SIGN)
    s[:, 1] -= scissors
    s[:, 2] += scissors
    return Motion(f, s, np.broadcast_to(np.asarray(rotation, float), u.shape).copy())


def _wave(u: np.ndarray, cycles: float, phase: float) -> np.ndarray:
    """An oscillation of ``cycles`` periods with ``phase``, faded in and out."""
    return np.sin(2 * np.pi * cycles * u + phase) * _bumps(u, 1)


#: the gesture classes: name -> motion at normalised time u (amplitude 1),
#: with the instance's random draws ``r`` (taps: how many; oscillations:
#: cycles and phase)
GESTURES: Dict[str, Callable[[np.ndarray, np.random.Generator], Motion]] = {
    "tap-index": lambda u, r: _motion(u, {1: 0.7 * _bumps(u, r.integers(2, 4))}),
    "tap-index-middle": lambda u, r: _motion(
        u, {k: 0.7 * _bumps(u, n) for n in [r.integers(2, 4)] for k in (1, 2)}),
    "pinch": lambda u, r: _motion(u, {0: 0.8 * _bumps(u, 1), 1: 0.5 * _bumps(u, 1)}),
    "curl-ring-pinky": lambda u, r: _motion(u, {3: 0.8 * _bumps(u, 1), 4: 0.8 * _bumps(u, 1)}),
    "fist": lambda u, r: _motion(u, {0: 0.5 * _bumps(u, 1), **{k: 0.85 * _bumps(u, 1)
                                                               for k in (1, 2, 3, 4)}}),
    "spread": lambda u, r: _motion(u, {k: -0.12 * _bumps(u, 1) for k in (1, 2, 3, 4)},
                                   spread=0.35 * _bumps(u, 1)),
    "finger-wave": lambda u, r: _motion(
        u, {k: 0.6 * _bumps(1.5 * u - 0.15 * (k - 1 if d > 0 else 4 - k), 1)
            for d in [r.choice([-1, 1])] for k in (1, 2, 3, 4)}),
    "thumb-rub": lambda u, r: _motion(
        u, {0: 0.3 * _bumps(u, 1) + 0.3 * _wave(u, r.uniform(2.5, 3.5), r.uniform(0, 6.3)),
            1: 0.3 * _bumps(u, 1)}),
    "wrist-wag": lambda u, r: _motion(
        u, rotation=0.35 * _wave(u, r.uniform(1.2, 2.0), r.uniform(0, 6.3))),
    "scissors": lambda u, r: _motion(u, scissors=0.3 * _bumps(u, r.integers(2, 4))),
}


def hand_pose(flex: np.ndarray, spread: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """2D joints ``[T, 21, 2]`` (hand lengths, y up, right hand) of a hand
    with finger flexion ``[T, 5]``, spread ``[T, 5]`` (radians) and per-finger
    length factors ``[5]``, in MediaPipe Hands order."""
    T = flex.shape[0]
    out = np.zeros((T, 21, 2))
    for k in range(5):
        angle = _ANGLES[k] + spread[:, k] - (_THUMB_SWING * flex[:, k] if k == 0 else 0.0)
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # [T, 2]
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
        bend = np.cumsum(np.clip(flex[:, k:k + 1], -0.3, 1.2) * _BEND[k], axis=1)  # [T, 3]
        seg = _SEGMENTS[k] * lengths[k]
        along = np.cumsum(seg * np.cos(bend), axis=1)  # [T, 3] foreshortened by the curl
        side = np.cumsum(seg * 0.15 * np.sin(bend), axis=1)  # a little sideways
        first = 1 + 4 * k  # thumb CMC / finger MCP
        base = _BASES[k] * np.array([1.0, lengths[k] ** 0.5])
        out[:, first] = base
        for j in range(3):
            out[:, first + 1 + j] = base + along[:, j:j + 1] * direction + \
                side[:, j:j + 1] * normal
    return out


def _smooth_noise(rng: np.random.Generator, T: int, dims: int, scale: float,
                  period: Tuple[float, float] = (20.0, 60.0)) -> np.ndarray:
    """Sums of slow sinusoids: ``[T, dims]`` with amplitude about ``scale``."""
    t = np.arange(T)[:, None]
    out = np.zeros((T, dims))
    for _ in range(2):
        f = 1.0 / rng.uniform(*period, size=(1, dims))
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, size=(1, dims)))
    return scale * out / 2


class SyntheticHandGestures(SkeletonDataset):
    r"""Synthetic finger micro-gestures of one hand seen by a 2D keypoint
    detector (no file, no download): a dataset of another design than
    :class:`SyntheticMicroGestures`, to check that recipes hold beyond the
    data they were tuned on.

    The skeleton is MediaPipe Hands' 21 landmarks (``mediapipe_hand21``);
    the channels are image coordinates and a detection confidence
    (``x, y, confidence``; x to the right, y down, in image widths).  A
    class is *which fingers move together, and how*: ``tap-index`` (taps),
    ``tap-index-middle``, ``pinch`` (thumb and index), ``curl-ring-pinky``,
    ``fist``, ``spread``, ``finger-wave`` (index to little finger in turn,
    or back), ``thumb-rub``, ``wrist-wag``, ``scissors`` (the first
    ``num_classes`` of them); taps come two or three at a time, oscillations
    with a random phase, and the labelled segment is loose (the movement
    starts and ends up to a fifth of its length off the labels), so that a
    linear model on the coordinates does not solve it.  Every subject has
    their own hand (finger lengths +-10%, a relaxed curl), tempo
    (0.75-1.35) and handedness (about a third are left hands: mirror
    images); a recording places the hand at its own position,
    size (0.12-0.25 image widths) and in-plane rotation (+-0.8 rad), with
    idle finger and wrist drift, small distractor movements (one finger
    twitching, the hand shifting), keypoint noise, and a detector that
    misses: the whole hand in short bursts of frames (``missing`` of the
    frames; coordinates and confidence 0) and single fingertips now and
    then.  Gestures last about ``gesture_frames`` frames, scaled by the
    subject's tempo and +-20% per instance.

    Classes do not depend on the side (a left-hand pinch is a pinch):
    :attr:`side_specific_classes` is false, so mirroring augmentation is on
    by default.  Split by subject as :class:`SyntheticMicroGestures`;
    :meth:`recordings` gives the long recordings (for spotting).

    Args:
        split (str): ``"train"``, ``"val"`` (needs ``val_subjects``) or ``"test"``.
        seed (int): Seed of everything. (default: :obj:`0`)
        num_classes (int): Number of classes, 2 to 10. (default: :obj:`8`)
        num_subjects (int): Number of subjects. (default: :obj:`24`)
        test_subjects (int): The last ones form the test split. (default: :obj:`6`)
        gestures_per_class (int): Instances of every class per subject. (default: :obj:`5`)
        recordings_per_subject (int): Long recordings per subject. (default: :obj:`2`)
        frames (int, optional): Frames per returned clip. (default: :obj:`32`)
        transform (callable, optional): Applied to ``[M, T, V, C]`` clips.
        val_subjects (int or list, optional): Training subjects held out as
            the validation split.
        amplitude (float): Scale of every gesture's motion. (default: :obj:`1.0`)
        gesture_frames (int): Mean gesture length in frames. (default: :obj:`24`)
        missing (float): Fraction of frames in which the detector misses the
            hand. (default: :obj:`0.03`)
        left_handed (float): Fraction of left-handed subjects. (default: :obj:`0.35`)
    """

    channels = ("x", "y", "confidence")
    side_specific_classes = False

    def __init__(self, split: str = "train", seed: int = 0, num_classes: int = 8,
                 num_subjects: int = 24, test_subjects: int = 6, gestures_per_class: int = 5,
                 recordings_per_subject: int = 2, frames: Optional[int] = 32, transform=None,
                 val_subjects: Union[None, int, Sequence[int]] = None, amplitude: float = 1.0,
                 gesture_frames: int = 24, missing: float = 0.03,
                 left_handed: float = 0.35) -> None:
        super().__init__(split, frames, transform)
        if not 2 <= num_classes <= len(GESTURES):
            raise ValueError(f"num_classes must be between 2 and {len(GESTURES)}, got "
                             f"{num_classes}")
        if not 0 < test_subjects < num_subjects:
            raise ValueError(f"test_subjects must be between 1 and num_subjects-1, got "
                             f"{test_subjects} of {num_subjects}")
        if not 0 <= missing < 0.5:
            raise ValueError(f"missing must be in [0, 0.5), got {missing}")
        if split == "val" and val_subjects is None:
            raise ValueError("split='val' needs val_subjects (a number of training subjects to "
                             "hold out, or their ids)")
        self.skeleton = get_skeleton("mediapipe_hand21")
        self.seed = seed
        self.classes = list(GESTURES)[:num_classes]
        self.amplitude, self.gesture_frames = amplitude, gesture_frames
        self.missing, self.left_handed = missing, left_handed
        subjects = list(range(1, num_subjects + 1))
        train_subjects = subjects[:num_subjects - test_subjects]
        if split == "test":
            chosen = subjects[num_subjects - test_subjects:]
        else:
            val = carve_validation(train_subjects, val_subjects)
            chosen = [s for s in train_subjects if (s in val) == (split == "val")]
        recs: List[RawRecording] = []
        for s in chosen:
            rng = np.random.default_rng([seed, 2, s])
            hand = self._subject(rng)
            labels = np.repeat(np.arange(num_classes), gestures_per_class)
            rng.shuffle(labels)
            for r, part in enumerate(np.array_split(labels, recordings_per_subject)):
                data, segs = self._recording(rng, hand, part.tolist())
                recs.append(RawRecording(f"H{s:03d}R{r + 1:02d}", s, split, data[:, None], segs))
        self._set_from_raw(recs)

    # ------------------------------------------------------------ generation
    @staticmethod
    def _subject(rng: np.random.Generator) -> Dict[str, object]:
        return {"lengths": rng.uniform(0.9, 1.1, size=5),
                "relaxed": rng.uniform(0.05, 0.3, size=5),
                "tempo": float(rng.uniform(0.75, 1.35)),
                "left": None}  # drawn below with the seed of the subject

    def _recording(self, rng: np.random.Generator, hand: Dict[str, object],
                   labels: Sequence[int]) -> Tuple[np.ndarray, List[Segment]]:
        if hand["left"] is None:
            hand["left"] = bool(rng.random() < self.left_handed)
        lengths = [max(8, int(round(self.gesture_frames * hand["tempo"] * rng.uniform(0.8, 1.2))))
                   for _ in labels]
        gaps = [int(rng.integers(12, 41)) for _ in range(len(labels) + 1)]
        T = sum(lengths) + sum(gaps)
        flex = np.asarray(hand["relaxed"])[None] + _smooth_noise(rng, T, 5, 0.05)
        spread = np.zeros((T, 5)) + _smooth_noise(rng, T, 1, 0.03)
        rotation = _smooth_noise(rng, T, 1, 0.08)[:, 0]
        shift = _smooth_noise(rng, T, 2, 0.02, period=(40.0, 120.0))
        # distractors: a finger twitching, the hand shifting (not gestures)
        for _ in range(max(1, T // 100)):
            length = int(rng.integers(10, 30))
            start = int(rng.integers(0, max(1, T - length)))
            u = (np.arange(length) + 0.5) / length
            if rng.random() < 0.5:
                flex[start:start + length, int(rng.integers(5))] += 0.25 * _bumps(u, 1)
            else:
                move = rng.normal(size=2)
                shift[start:] += 0.04 * np.outer(np.clip(np.arange(T - start) / length, 0, 1),
                                                 move / np.linalg.norm(move))
        segments, cursor = [], gaps[0]
        for k, (y, length) in enumerate(zip(labels, lengths)):
            # the annotation is loose: the movement starts and ends up to a
            # fifth of the segment away from its labelled boundaries
            lead, lag = rng.uniform(-0.2, 0.2, size=2)
            u = ((np.arange(length) + 0.5) / length - lead) / (1 - lead + lag)
            u = np.clip(u, 0, 1) ** rng.uniform(0.8, 1.25)  # and its timing varies
            m = GESTURES[self.classes[y]](u, rng)
            amp = self.amplitude * rng.uniform(0.75, 1.2)
            span = slice(cursor, cursor + length)
            flex[span] += amp * m.flex
            spread[span] += amp * m.spread
            rotation[span] += amp * m.rotation
            segments.append(Segment(int(y), cursor, cursor + length - 1))
            cursor += length + gaps[k + 1]
        joints = hand_pose(flex, spread, np.asarray(hand["lengths"]))  # [T, 21, 2]
        # the camera: in-plane rotation, mirror for a left hand, size, position
        angle = rng.uniform(-0.8, 0.8) + rotation
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        x, y = joints[..., 0], joints[..., 1]
        x, y = c * x - s * y, s * x + c * y
        if hand["left"]:
            x = -x
        size = rng.uniform(0.12, 0.25)
        center = rng.uniform(0.3, 0.7, size=2) + shift
        xy = np.stack([center[:, :1] + size * x, center[:, 1:] - size * y], axis=-1)
        xy += rng.normal(scale=0.01 * size, size=xy.shape)
        conf = np.clip(rng.uniform(0.75, 0.98, size=(1, 21)) + rng.normal(scale=0.03,
                                                                         size=(T, 21)), 0, 1)
        conf[:, [4, 8, 12, 16, 20]] -= 0.1
        data = np.concatenate([xy, conf[..., None]], axis=-1)
        # the detector misses: single fingertips, and the whole hand in bursts
        tips = rng.random((T, 5)) < 0.01
        tip_idx = np.array([4, 8, 12, 16, 20])
        rows, cols = np.nonzero(tips)
        data[rows, tip_idx[cols]] = 0
        t = 0
        while t < T:
            if rng.random() < self.missing / 2.5:
                burst = int(rng.integers(1, 5))
                data[t:t + burst] = 0
                t += burst
            t += 1
        return data.astype(np.float32), segments


@register_dataset("synthetic-hands", needs_root=False,
                  description="built-in synthetic finger micro-gestures, 2D + confidence "
                              "(no files)")
def _build(root, split, *, skeleton=None, frames=32, val_subjects=None, **options):
    if skeleton not in (None, "mediapipe_hand21", "hand21", "mediapipe_hand"):
        raise ValueError(f"synthetic-hands is generated on the mediapipe_hand21 skeleton; "
                         f"data.skeleton={skeleton!r} cannot be used with it")
    options.setdefault("seed", 0)
    return SyntheticHandGestures(split, frames=frames, val_subjects=val_subjects, **options)
