"""Spot micro-gestures in long recordings, offline or as frames arrive."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from topogcn.datasets.windows import BACKGROUND, temporal_iou
from topogcn.engine.trained_run import Run
from topogcn.nn import fuse
from topogcn.transforms import resize_frames


@dataclass(frozen=True)
class Detection:
    """A spotted micro-gesture: frames ``start..end`` (inclusive) of class
    ``label`` (named ``name``) with the mean class probability ``score``."""
    start: int
    end: int
    label: int
    score: float
    name: str = ""

    def to_dict(self) -> Dict:
        return asdict(self)


def temporal_nms(candidates: Sequence[Detection], iou: float) -> List[Detection]:
    """Greedy non-maximum suppression: keep the best-scoring detection, drop
    those overlapping a kept one with temporal IoU above ``iou``."""
    kept: List[Detection] = []
    for d in sorted(candidates, key=lambda d: (-d.score, d.start, d.label)):
        if all(temporal_iou(d.start, d.end, k.start, k.end) <= iou for k in kept):
            kept.append(d)
    return sorted(kept, key=lambda d: (d.start, d.label))


class _Segmenter:
    """Per-frame class probabilities in, detections out: runs of frames where
    a class is the most probable (``threshold`` None) or has a probability
    of at least ``threshold`` become candidates
    (``min_length`` frames or more); groups of overlapping candidates go
    through :func:`temporal_nms` as soon as no later run can overlap them.
    Streaming and offline give the same result because greedy NMS decides
    each group of overlapping candidates on its own."""

    def __init__(self, num_classes: int, threshold: Optional[float], min_length: int,
                 nms_iou: float, names: Sequence[str]) -> None:
        self.K, self.threshold, self.min_length, self.nms_iou = (
            num_classes, threshold, min_length, nms_iou)
        self.names = list(names)
        self.open: Dict[int, Tuple[int, float]] = {}  # class -> (start, score sum)
        self.pending: List[Detection] = []

    def step(self, t: int, probs: Tensor) -> List[Detection]:
        best = int(probs.argmax())  # the background is the last class
        for c in range(self.K):
            p = float(probs[c])
            if (c == best) if self.threshold is None else (p >= self.threshold):
                start, total = self.open.get(c, (t, 0.0))
                self.open[c] = (start, total + p)
            elif c in self.open:
                self._close(c, t - 1)
        return self._release(min((s for s, _ in self.open.values()), default=t + 1))

    def finish(self, last: int) -> List[Detection]:
        for c in list(self.open):
            self._close(c, last)
        return self._release(last + 1)

    def _close(self, c: int, end: int) -> None:
        start, total = self.open.pop(c)
        n = end - start + 1
        if n >= self.min_length:
            self.pending.append(Detection(start, end, c, total / n, self.names[c]))

    def _release(self, earliest_open: int) -> List[Detection]:
        """Emit the groups of overlapping pending candidates that end before
        every open run starts."""
        if not self.pending:
            return []
        groups: List[List[Detection]] = []
        for d in sorted(self.pending, key=lambda d: d.start):
            if groups and d.start <= max(g.end for g in groups[-1]):
                groups[-1].append(d)
            else:
                groups.append([d])
        out, keep = [], []
        for g in groups:
            if max(d.end for d in g) < earliest_open:
                out += temporal_nms(g, self.nms_iou)
            else:
                keep += g
        self.pending = keep
        return out


class _Smoother:
    """A centred moving average of ``width`` frames (odd) over a stream of
    per-frame probabilities, truncated at the ends of the recording (the
    mean of the frames that exist); a frame leaves once the ``width // 2``
    frames after it have arrived, so streaming equals offline."""

    def __init__(self, width: int) -> None:
        self.r = width // 2
        self.buf: Optional[Tensor] = None  # raw frames from buf_start on
        self.buf_start = 0
        self.emitted = 0

    def push(self, probs: Tensor, last: bool = False) -> Tensor:
        if self.r == 0:
            self.emitted += probs.size(0)
            return probs
        self.buf = probs if self.buf is None else torch.cat([self.buf, probs])
        received = self.buf_start + self.buf.size(0)
        upto = received if last else received - self.r  # frames with their full window
        out = []
        for t in range(self.emitted, max(self.emitted, upto)):
            a = max(0, t - self.r) - self.buf_start
            b = min(received, t + self.r + 1) - self.buf_start
            out.append(self.buf[a:b].mean(0))
        self.emitted = max(self.emitted, upto)
        drop = max(0, self.emitted - self.r - self.buf_start)
        self.buf, self.buf_start = self.buf[drop:], self.buf_start + drop
        if not out:
            return probs.new_zeros(0, probs.size(1))
        return torch.stack(out)


class Spotter:
    r"""Turns a clip classifier trained with a background class (see
    :class:`~topogcn.spotting.SpottingWindows`), or a frame classifier
    (:class:`~topogcn.models.FrameSpottingGECN`), into a detector over a
    long skeleton sequence.

    Windows of ``length`` frames every ``stride`` frames go through the
    model in batches (each window transformed as at test time and resampled
    to the model's ``frames``); a clip classifier gives the window one
    probability vector, a frame classifier (logits ``[N, K + 1, T]``) one
    per frame, resampled to the window's frames.  Every frame gets the class
    probabilities of the windows covering it, averaged with ``weighting``: ``"triangle"``
    (the default) weighs a window by how close the frame is to its centre,
    so that a window that holds a short gesture near one end does not
    spread its label over the frames at the other end (which lowered
    temporal IoU and so recall); ``"uniform"`` is the plain mean.  Runs of
    frames (``min_length`` or more) where a gesture class is the most
    probable class, the background included (the default), or has a
    probability :math:`\geq` ``threshold`` when one is given, become
    detections, then temporal non-maximum suppression.  With
    ``smoothing`` > 1, the probabilities are first averaged over that many
    frames centred on each frame.  A recording shorter than one window is
    one window.

    :meth:`push` accepts frames as they arrive and returns the detections
    that are final; latency is bounded by one window plus the current
    gesture, memory by one window.  :meth:`spot` (offline) is :meth:`push`
    of the whole recording then :meth:`flush`, so both give the same
    detections.

    Args:
        model (torch.nn.Module): Clip classifier ``[N, M, T, V, C] ->
            [N, K + 1]`` logits, class ``K`` the background.
        classes (sequence of str): The ``K + 1`` class names, background
            last.
        length (int): Window length in frames.
        stride (int, optional): Step between windows. (default: :obj:`4`)
        frames (int, optional): Model input length each window is resampled
            to. (default: ``length``)
        transform (callable, optional): Applied to each raw ``[M, L, V, C]``
            window: the run's :class:`~topogcn.transforms.Preprocess`
            (persons, centring, scale, resampling, stream); windows it
            leaves at another length are resampled to ``frames``.
        threshold (float, optional): Class probability of a detected frame;
            :obj:`None`: the most probable class (a fixed 0.5 left frames
            undecided where two gestures share the probability, which cost
            recall). (default: :obj:`None`)
        min_length (int, optional): Shortest detection in frames.
            (default: :obj:`4`)
        nms_iou (float, optional): Temporal IoU above which the weaker of two
            detections is suppressed. (default: :obj:`0.3`)
        batch_size (int, optional): Windows per model call. (default: :obj:`32`)
        weighting (str, optional): ``"triangle"`` or ``"uniform"``.
            (default: :obj:`"triangle"`)
        smoothing (int, optional): Width (odd) of the moving average of the
            frame probabilities; 1: none. (default: :obj:`1`)
        precision (str, optional): ``"32"`` (float32) or ``"bf16"``: the
            model runs under ``torch.autocast`` with bfloat16 matrix products
            and convolutions (probabilities in float32, at bfloat16's
            resolution); faster on CPUs with bfloat16 instructions for the
            paper-size model, not for the compact one (measured on the
            benchmarks page, ``benchmarks/bench_spotting.py``).
            (default: :obj:`"32"`)
    """

    def __init__(self, model: torch.nn.Module, classes: Sequence[str], length: int,
                 stride: int = 4, frames: Optional[int] = None,
                 transform: Optional[Callable[[Tensor], Tensor]] = None,
                 threshold: Optional[float] = None, min_length: int = 4, nms_iou: float = 0.3,
                 batch_size: int = 32, weighting: str = "triangle",
                 precision: str = "32", smoothing: int = 1) -> None:
        if len(classes) < 2 or classes[-1] != BACKGROUND:
            raise ValueError(f"the model must have been trained with a last '{BACKGROUND}' "
                             f"class (train for spotting: data.window or "
                             f"spotting.method=frames); its classes end with "
                             f"{list(classes)[-1:]}")
        if length < 1 or stride < 1:
            raise ValueError(f"length and stride must be positive, got {length}, {stride}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if weighting not in ("triangle", "uniform"):
            raise ValueError(f"weighting must be triangle or uniform, got {weighting!r}")
        if isinstance(smoothing, bool) or not isinstance(smoothing, int) or smoothing < 1 \
                or smoothing % 2 == 0:
            raise ValueError(f"smoothing must be an odd whole number of frames, got "
                             f"{smoothing!r}")
        if precision not in ("32", "bf16"):
            raise ValueError(f"precision must be '32' or 'bf16', got {precision!r}")
        self.weighting, self.precision = weighting, precision
        self.model = fuse(model)  # the inference copy
        self.classes = list(classes)
        self.length, self.stride = int(length), int(stride)
        self.frames = frames or self.length
        self.transform = transform
        self.threshold, self.min_length, self.nms_iou = threshold, min_length, nms_iou
        self.batch_size = batch_size
        self.smoothing = smoothing
        self.reset()

    @classmethod
    def from_run(cls, run: Run, **kwargs) -> "Spotter":
        """A spotter for a :class:`~topogcn.engine.Run` trained for spotting:
        with ``data.window``, window length and stride from its
        configuration; with ``spotting.method: frames``, windows of
        ``spotting.crop`` frames every ``spotting.stride`` and the decoding
        (``smoothing``, ``min_length``) chosen on the validation split when
        the run was trained.  Each window is preprocessed by the run's input
        spec (``kwargs`` override).  ``spotter.spec`` is that input spec."""
        cfg = run.config
        if cfg.spotting.method == "frames":
            kwargs.setdefault("length", cfg.spotting.crop)
            kwargs.setdefault("stride", cfg.spotting.stride)
            for key, value in (run.decoding or {}).items():
                kwargs.setdefault(key, value)
        kwargs.setdefault("length", cfg.data.window or run.spec.frames)
        kwargs.setdefault("stride", cfg.data.window_stride)
        kwargs.setdefault("frames", run.spec.frames)
        kwargs.setdefault("transform", run.preprocess)
        spotter = cls(run.model, run.classes, **kwargs)
        spotter.spec = run.spec
        return spotter

    @classmethod
    def from_checkpoint(cls, checkpoint: str, **kwargs) -> "Spotter":
        """:meth:`from_run` of the checkpoint's run."""
        return cls.from_run(Run.load(checkpoint), **kwargs)

    # ------------------------------------------------------------ streaming
    def reset(self) -> None:
        """Forget the stream (start a new recording)."""
        self._buf: Optional[Tensor] = None  # [M, n, V, C], frames from _buf_start on
        self._buf_start = 0
        self._received = 0
        self._next = 0  # start of the next window
        self._final = 0  # first frame whose probabilities are not final
        self._ran = False
        self._sum: Optional[Tensor] = None  # [n, K+1] from _final on
        self._count: Optional[Tensor] = None
        self._seg = _Segmenter(len(self.classes) - 1, self.threshold, self.min_length,
                               self.nms_iou, self.classes)
        self._smoother = _Smoother(self.smoothing)

    def push(self, frames: Tensor) -> List[Detection]:
        """Add frames (``[M, t, V, C]``, ``[t, V, C]`` for one person, or one
        frame ``[V, C]``); return the detections that became final."""
        return self._decode(self._advance(frames))

    def _advance(self, frames: Tensor) -> Tensor:
        """Add frames, run the windows they complete; the probabilities
        ``[n, K + 1]`` of the frames that became final."""
        x = torch.as_tensor(frames, dtype=torch.float32)
        if x.dim() == 2:
            x = x[None, None]
        elif x.dim() == 3:
            x = x[None]
        if x.dim() != 4:
            raise ValueError(f"Spotter.push expects [M, t, V, C], [t, V, C] or [V, C], got "
                             f"shape {list(frames.shape)}")
        if self._buf is not None and (x.size(0), x.size(2), x.size(3)) != (
                self._buf.size(0), self._buf.size(2), self._buf.size(3)):
            raise ValueError(f"Spotter.push: frames of shape {list(x.shape)} do not match the "
                             f"stream's [M={self._buf.size(0)}, t, V={self._buf.size(2)}, "
                             f"C={self._buf.size(3)}]")
        bad = ~torch.isfinite(x)
        if bad.any():
            t = int(bad.nonzero()[0, 1]) + self._received
            raise ValueError(f"Spotter.push: frame {t} has NaN or infinite coordinates")
        if x.size(1) == 0:
            return torch.zeros(0, len(self.classes))
        self._buf = x if self._buf is None else torch.cat([self._buf, x], dim=1)
        self._received += x.size(1)
        starts = []
        while self._next + self.length <= self._received:
            starts.append(self._next)
            self._next += self.stride
        self._run_windows(starts)
        probs = self._finalise(min(self._next, self._received))
        keep_from = max(0, min(self._next, self._received - self.length))
        self._buf = self._buf[:, keep_from - self._buf_start:]
        self._buf_start = keep_from
        return probs

    def flush(self) -> List[Detection]:
        """End of the stream: cover the last frames with a window ending at the
        last frame (or one window of the whole stream if it is shorter than
        ``length``) and return the remaining detections."""
        if self._received == 0:
            return []
        T = self._received
        self._cover_tail()
        out = self._decode(self._finalise(T), last=True)
        out += self._seg.finish(T - 1)
        self.reset()
        return out

    def _cover_tail(self) -> None:
        """Run the window ending at the last frame received (or one window of
        the whole stream when it is shorter than ``length``)."""
        T = self._received
        if not self._ran:
            self._run_windows([0], length=T)
        elif self._next - self.stride + self.length < T:
            self._run_windows([T - self.length])

    @torch.inference_mode()
    def frame_probabilities(self, recording: Tensor) -> Tensor:
        """The per-frame class probabilities ``[T, K + 1]`` of one recording
        (``[M, T, V, C]`` or ``[T, V, C]``), before smoothing and
        segmentation: what :meth:`spot` decodes."""
        self.reset()
        try:
            probs = [self._advance(recording)]
            if self._received:
                self._cover_tail()
                probs.append(self._finalise(self._received))
        finally:
            self.reset()
        return torch.cat(probs)

    def spot(self, recording: Tensor) -> List[Detection]:
        """All detections of one recording ``[M, T, V, C]`` (or ``[T, V, C]``)."""
        self.reset()
        return self.push(recording) + self.flush()

    # ------------------------------------------------------------ internals
    def _run_windows(self, starts: List[int], length: Optional[int] = None) -> None:
        if not starts:
            return
        L = length or self.length
        self._ran = True
        K1 = len(self.classes)
        weights = self._weights(L)
        for i in range(0, len(starts), self.batch_size):
            chunk = starts[i:i + self.batch_size]
            wins = []
            for s in chunk:
                w = self._buf[:, s - self._buf_start:s - self._buf_start + L]
                if self.transform is not None:
                    w = self.transform(w)
                wins.append(resize_frames(w, self.frames))
            with torch.inference_mode(), torch.autocast(
                    "cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                logits = self.model(torch.stack(wins))
            frames = logits.dim() == 3  # a frame classifier: [n, K + 1, frames]
            probs = torch.softmax(logits.float(), dim=1).clone()  # a normal tensor again
            if probs.size(1) != K1:
                raise ValueError(f"the model returns {probs.size(1)} classes, the spotter "
                                 f"has {K1}")
            if frames:  # back to the window's own frames, [n, L, K + 1]
                if probs.size(2) != L:
                    probs = torch.nn.functional.interpolate(probs, size=L, mode="linear",
                                                            align_corners=False)
                probs = probs.transpose(1, 2)
            for s, p in zip(chunk, probs):
                self._accumulate(s, s + L, p, weights)

    def _weights(self, L: int) -> Tensor:
        """Weight of each frame of a window of ``L`` frames: 1 at its centre,
        falling linearly to ``1 / L`` at its ends (``"triangle"``), or 1."""
        if self.weighting == "uniform":
            return torch.ones(L)
        return 1 - (torch.arange(L) - (L - 1) / 2).abs() / (L / 2)

    def _accumulate(self, a: int, b: int, p: Tensor, w: Optional[Tensor] = None) -> None:
        need = b - self._final
        if self._sum is None:
            self._sum = torch.zeros(0, p.size(-1))
            self._count = torch.zeros(0)
        if need > self._sum.size(0):
            grow = need - self._sum.size(0)
            self._sum = torch.cat([self._sum, torch.zeros(grow, p.size(-1))])
            self._count = torch.cat([self._count, torch.zeros(grow)])
        w = torch.ones(b - a) if w is None else w
        if a < self._final:  # frames already final (the last window of flush): left alone
            if p.dim() == 2:
                p = p[self._final - a:]
            w, a = w[self._final - a:], self._final
        self._sum[a - self._final:b - self._final] += w[:, None] * p
        self._count[a - self._final:b - self._final] += w

    def _finalise(self, upto: int) -> Tensor:
        """Frames ``_final .. upto-1`` get no more windows: their
        probabilities ``[upto - _final, K + 1]``."""
        K1 = len(self.classes)
        n = upto - self._final
        if n <= 0:
            return torch.zeros(0, K1)
        if self._sum is None or self._sum.size(0) < n:
            have = 0 if self._sum is None else self._sum.size(0)
            self._accumulate(self._final + have, upto, torch.zeros(K1))
        probs = self._sum[:n] / self._count[:n].clamp(min=1e-12).unsqueeze(1)
        probs[self._count[:n] == 0, -1] = 1.0  # frames no window covers: background
        self._sum, self._count = self._sum[n:], self._count[n:]
        self._final = upto
        return probs

    def _decode(self, probs: Tensor, last: bool = False) -> List[Detection]:
        """Smooth and segment the next final frames (``last``: the end of the
        stream); the detections that became final."""
        first = self._smoother.emitted
        out: List[Detection] = []
        for k, p in enumerate(self._smoother.push(probs, last)):
            out += self._seg.step(first + k, p)
        return out


def decode_frame_probabilities(probs: Tensor, names: Sequence[str], smoothing: int = 1,
                               min_length: int = 4, nms_iou: float = 0.3) -> List[Detection]:
    """Detections of per-frame probabilities ``[T, K + 1]`` of one recording
    (background last, ``names`` the ``K + 1`` class names), decoded exactly
    as :class:`Spotter` decodes them with these ``smoothing``,
    ``min_length`` and ``nms_iou`` (the most probable class decides)."""
    seg = _Segmenter(len(names) - 1, None, min_length, nms_iou, names)
    out: List[Detection] = []
    for t, p in enumerate(_Smoother(smoothing).push(probs, last=True)):
        out += seg.step(t, p)
    return out + seg.finish(probs.size(0) - 1)
