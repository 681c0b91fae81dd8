"""The common contract of topogcn's datasets and their processed cache."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from topogcn.io.errors import DatasetFormatError
from topogcn.io.limits import check_finite
from topogcn.io.segments import Segment, check_segments
from topogcn.skeleton import Skeleton
from topogcn.transforms import resize_frames
from topogcn.utils.io import temp_dir_beside, torch_save

__all__ = ["DatasetFormatError", "Segment", "check_finite", "check_segments", "ClipInfo",
           "Recording", "RawRecording", "SkeletonDataset", "CachedSkeletonDataset",
           "carve_validation", "default_cache_dir", "file_fingerprint"]

CACHE_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClipInfo:
    """Metadata of one clip: where it comes from and its label."""
    recording: str
    subject: int
    start: int  #: first frame in the recording
    end: int  #: last frame in the recording (inclusive)
    label: int


@dataclass
class Recording:
    """A whole recording: ``data`` is ``[M, T, V, C]``; ``segments`` its labels."""
    name: str
    subject: int
    data: Tensor
    segments: List[Segment] = field(default_factory=list)


@dataclass
class RawRecording:
    """What a reader returns for one recording, before caching."""
    name: str
    subject: int
    split: str
    data: np.ndarray  # [T, M, V, C] float32
    segments: List[Segment]


def file_fingerprint(paths: Sequence[str], root: str) -> List[Tuple[str, int, int, int]]:
    """Relative path, size, modification and change time of every file: the
    change time (``st_ctime``) moves with every write and cannot be set
    back, so an edit that keeps the size and restores the modification time
    still rebuilds the cache."""
    out = []
    for p in sorted(paths):
        st = os.stat(p)
        out.append((os.path.relpath(p, root), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return out


def default_cache_dir(root: str) -> str:
    """Where a dataset caches its processed form: ``$TOPOGCN_CACHE/<name>``
    when that variable is set, else ``<root>/processed`` when the root is
    writable, else ``~/.cache/topogcn/<name>`` (``<name>``: the root's
    folder name and a hash of its absolute path)."""
    absolute = os.path.abspath(root)
    name = f"{os.path.basename(absolute.rstrip(os.sep)) or 'root'}-" \
           f"{hashlib.sha1(absolute.encode()).hexdigest()[:8]}"
    if os.environ.get("TOPOGCN_CACHE"):
        return os.path.join(os.path.expanduser(os.environ["TOPOGCN_CACHE"]), name)
    if os.access(absolute, os.W_OK):
        return os.path.join(root, "processed")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "topogcn", name)


def hash_of(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class SkeletonDataset(Dataset):
    r"""Base class of the clip datasets.

    ``dataset[i]`` is ``(x, y)`` with ``x`` a float32 tensor ``[M, T, V, C]``
    (persons, frames, joints, channels) and ``y`` the 0-based label.  Clips
    are stored with their own length; ``transform`` is applied first (e.g. a
    random crop-and-resize), then the clip is resampled to ``frames`` frames
    (the reference feeder's policy: crop the valid frames, resize to a fixed
    length).  ``frames=None`` keeps the clip's own length.

    Subclasses fill the split storage with :meth:`_set_storage`: all frames
    of the split's recordings ``[F, M, V, C]``, the recording offsets and a
    clip table.

    Attributes:
        classes (list of str): class names, index = label.
        skeleton (Skeleton): the skeleton of the joints.
        clips (list of ClipInfo): per-clip metadata (subject, recording,
            start and end frame, label).
        channels (tuple of str): the meaning of every channel, e.g.
            ``("x", "y", "z")`` or ``("x", "y", "confidence")``.
        side_specific_classes (bool): whether a class depends on the side of
            the body (``raise the left hand`` against ``... right hand``), so
            that left/right mirroring would change the label; automatic
            mirroring augmentation (``data.mirror: auto``) is then off.
            (default: :obj:`False`)
    """

    classes: List[str]
    skeleton: Skeleton
    # the meaning of every channel (documented under Attributes above)
    channels: Tuple[str, ...] = ("x", "y", "z")
    side_specific_classes: bool = False

    def __init__(self, split: str, frames: Optional[int] = 64,
                 transform: Optional[Callable[[Tensor], Tensor]] = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if frames is not None and (not isinstance(frames, int) or frames < 1):
            raise ValueError(f"frames must be a positive integer or None, got {frames!r}")
        self.split = split
        self.frames = frames
        self.transform = transform

    # --------------------------------------------------------------- storage
    def _set_storage(self, frames: Tensor, rec_offsets: Tensor, clips: Tensor,
                     rec_names: Sequence[str], rec_subjects: Sequence[int]) -> None:
        self._frames = frames  # [F, M, V, C]
        self._rec_offsets = rec_offsets  # [R + 1]
        self._clips = clips  # [N, 4]: recording, start, end (inclusive), label
        self._rec_names = list(rec_names)
        self._rec_subjects = [int(s) for s in rec_subjects]

    def _set_from_raw(self, recs: Sequence[RawRecording]) -> None:
        """Fill the storage from in-memory recordings (generated data)."""
        offsets, clips, parts = [0], [], []
        for i, r in enumerate(recs):
            parts.append(torch.from_numpy(r.data))
            offsets.append(offsets[-1] + r.data.shape[0])
            clips += [[i, g.start, g.end, g.label] for g in r.segments]
        self._set_storage(torch.cat(parts), torch.tensor(offsets),
                          torch.tensor(clips, dtype=torch.long).view(-1, 4),
                          [r.name for r in recs], [r.subject for r in recs])

    def _select_recordings(self, keep: Sequence[int]) -> None:
        """Restrict the storage to the recordings ``keep`` (by position)."""
        keep = list(keep)
        new_of = {old: new for new, old in enumerate(keep)}
        parts, offsets = [], [0]
        for r in keep:
            a, b = int(self._rec_offsets[r]), int(self._rec_offsets[r + 1])
            parts.append(self._frames[a:b])
            offsets.append(offsets[-1] + b - a)
        mask = torch.tensor([int(r) in new_of for r in self._clips[:, 0]], dtype=torch.bool)
        clips = self._clips[mask].clone()
        clips[:, 0] = torch.tensor([new_of[int(r)] for r in clips[:, 0]], dtype=torch.long)
        frames = torch.cat(parts) if parts else self._frames[:0]
        self._set_storage(frames, torch.tensor(offsets), clips,
                          [self._rec_names[r] for r in keep],
                          [self._rec_subjects[r] for r in keep])

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return int(self._clips.size(0))

    def clip_data(self, index: int) -> Tensor:
        """The raw clip ``[M, T, V, C]`` (no transform, no resampling)."""
        rec, start, end, _ = (int(v) for v in self._clips[index])
        a = int(self._rec_offsets[rec])
        return self._frames[a + start:a + end + 1].permute(1, 0, 2, 3)

    def __getitem__(self, index: int) -> Tuple[Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"clip index {index} out of range for {len(self)} clips")
        index = index % len(self)
        x = self.clip_data(index)
        if self.transform is not None:
            x = self.transform(x)
        if self.frames is not None:
            x = resize_frames(x, self.frames)
        return x.contiguous(), int(self._clips[index, 3])

    @property
    def labels(self) -> Tensor:
        """LongTensor ``[N]`` of the clip labels."""
        return self._clips[:, 3].clone()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_person(self) -> int:
        return int(self._frames.size(1))

    @property
    def num_channels(self) -> int:
        return int(self._frames.size(3))

    @property
    def subjects(self) -> List[int]:
        return sorted(set(self._rec_subjects))

    @property
    def clips(self) -> List[ClipInfo]:
        return [ClipInfo(self._rec_names[r], self._rec_subjects[r], s, e, y)
                for r, s, e, y in self._clips.tolist()]

    def recordings(self) -> Iterator[Recording]:
        """The whole recordings of this split with their labelled segments
        (for spotting)."""
        by_rec: Dict[int, List[Segment]] = {}
        for r, s, e, y in self._clips.tolist():
            by_rec.setdefault(r, []).append(Segment(y, s, e))
        for r, name in enumerate(self._rec_names):
            a, b = int(self._rec_offsets[r]), int(self._rec_offsets[r + 1])
            yield Recording(name, self._rec_subjects[r], self._frames[a:b].permute(1, 0, 2, 3),
                            sorted(by_rec.get(r, []), key=lambda g: g.start))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split='{self.split}', clips={len(self)}, "
                f"classes={self.num_classes}, skeleton='{self.skeleton.name}', "
                f"frames={self.frames})")


def carve_validation(subjects: Sequence[int],
                     val_subjects: Union[None, int, Sequence[int]]) -> List[int]:
    """The validation subjects: ``val_subjects`` as a list of ids, or an int
    ``n`` for the last ``n`` training subjects in sorted order."""
    subjects = sorted(set(subjects))
    if val_subjects is None:
        return []
    if isinstance(val_subjects, int):
        if not 0 < val_subjects < len(subjects):
            raise ValueError(f"val_subjects={val_subjects}: there are {len(subjects)} training "
                             f"subjects; hold out between 1 and {len(subjects) - 1}")
        return subjects[-val_subjects:]
    unknown = sorted(set(val_subjects) - set(subjects))
    if unknown:
        raise ValueError(f"val_subjects {unknown} are not training subjects ({subjects})")
    return sorted(set(val_subjects))


class CachedSkeletonDataset(SkeletonDataset):
    """A dataset read from raw files once, then from a processed cache.

    The cache lives in ``cache_dir`` (default: :func:`default_cache_dir`:
    ``$TOPOGCN_CACHE``, else ``<root>/processed``, else a user cache folder
    when the root is read-only) in a folder named after a hash of the raw
    files (relative path, size, modification and change time) and of the
    processing options: changing either rebuilds it, and the caches of the
    same options built from older files are removed.  The folder is written
    under a temporary name and renamed
    when complete, so an interrupted processing leaves nothing a later run
    would trust.  It holds ``train.pt`` and ``test.pt`` (the official split;
    the validation split is carved from the training subjects at load time)
    and ``index.json``.

    Subclasses implement :meth:`raw_files`, :meth:`read_raw` and
    :meth:`processing_options`.
    """

    def __init__(self, root: Union[str, os.PathLike], split: str = "train",
                 frames: Optional[int] = 64, transform=None,
                 val_subjects: Union[None, int, Sequence[int]] = None,
                 cache_dir: Optional[Union[str, os.PathLike]] = None,
                 on_error: str = "raise", force_reload: bool = False) -> None:
        super().__init__(split, frames, transform)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.root = os.fspath(root)
        self.on_error = on_error
        self.val_subjects = val_subjects
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else \
            default_cache_dir(self.root)
        files = self.raw_files()
        key = hash_of({"version": CACHE_VERSION, "class": type(self).__name__,
                       "files": file_fingerprint(files, self.root),
                       "options": self.processing_options()})
        self.processed_dir = os.path.join(self.cache_dir, f"{type(self).__name__.lower()}-{key}")
        if force_reload and os.path.isdir(self.processed_dir):
            shutil.rmtree(self.processed_dir)
        if split == "val" and val_subjects is None and "val" not in self.official_splits():
            raise ValueError("split='val' needs val_subjects (a number of training subjects "
                             "to hold out, or their ids)")
        if not os.path.isfile(os.path.join(self.processed_dir, "index.json")):
            self._process()
        self._load()

    # ------------------------------------------------------------ subclasses
    def raw_files(self) -> List[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_raw(self) -> Iterator[Union[RawRecording, DatasetFormatError]]:  # pragma: no cover
        """Yield recordings, and a :class:`DatasetFormatError` (not raised)
        for every bad one, so that ``on_error="skip"`` can go on."""
        raise NotImplementedError

    def processing_options(self) -> Dict[str, Any]:
        return {}

    def official_splits(self) -> Tuple[str, ...]:
        """The splits the raw data defines (one cache file each)."""
        return ("train", "test")

    # ------------------------------------------------------------ processing
    def _process(self) -> None:
        recs: List[RawRecording] = []
        skipped: List[str] = []
        for item in self.read_raw():
            if isinstance(item, DatasetFormatError):
                if self.on_error == "raise":
                    raise item
                skipped.append(str(item))
            else:
                recs.append(item)
        if skipped:
            warnings.warn(f"{type(self).__name__}: skipped {len(skipped)} bad recording(s) "
                          f"(on_error='skip'); first: {skipped[0]}", stacklevel=3)
        if not recs:
            raise DatasetFormatError(f"{self.root}: no usable recording was found")
        tmp = temp_dir_beside(self.processed_dir)
        try:
            index: Dict[str, Any] = {"version": CACHE_VERSION, "classes": self.classes,
                                     "skeleton": self.skeleton.to_dict(),
                                     "options": self.processing_options(), "splits": {},
                                     "skipped": skipped}
            channels = recs[0].data.shape[3]  # of the first good recording
            for split in self.official_splits():
                part = [r for r in recs if r.split == split]
                index["splits"][split] = {"recordings": [r.name for r in part],
                                          "clips": sum(len(r.segments) for r in part)}
                torch_save(self._pack(part, channels), os.path.join(tmp, f"{split}.pt"))
            with open(os.path.join(tmp, "index.json"), "w", encoding="utf-8") as f:
                json.dump(index, f, indent=1)
            try:
                os.replace(tmp, self.processed_dir)
            except OSError:  # another process finished first: use its cache
                shutil.rmtree(tmp, ignore_errors=True)
            self._prune_stale(index["options"])
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _prune_stale(self, options: Dict[str, Any]) -> None:
        """Remove this class's other caches of the same processing options
        in the cache folder: they were built from older raw files."""
        prefix = f"{type(self).__name__.lower()}-"
        for name in os.listdir(self.cache_dir):
            path = os.path.join(self.cache_dir, name)
            if not name.startswith(prefix) or path == self.processed_dir:
                continue
            try:
                with open(os.path.join(path, "index.json"), encoding="utf-8") as f:
                    same = json.load(f).get("options") == json.loads(json.dumps(options))
            except (OSError, ValueError):
                continue
            if same:
                shutil.rmtree(path, ignore_errors=True)

    def _pack(self, recs: Sequence[RawRecording], channels: int) -> Dict[str, Any]:
        V, C = self.skeleton.num_nodes, channels
        M = max((r.data.shape[1] for r in recs), default=1)
        offsets, clips, parts = [0], [], []
        for i, r in enumerate(recs):
            d = r.data
            if d.shape[1] < M:  # pad persons with zeros
                d = np.concatenate([d, np.zeros((d.shape[0], M - d.shape[1], V, C), d.dtype)], 1)
            parts.append(torch.from_numpy(np.ascontiguousarray(d, dtype=np.float32)))
            offsets.append(offsets[-1] + d.shape[0])
            clips += [[i, s.start, s.end, s.label] for s in r.segments]
        frames = torch.cat(parts) if parts else torch.zeros(0, M, V, C)
        return {"frames": frames, "rec_offsets": torch.tensor(offsets, dtype=torch.long),
                "clips": torch.tensor(clips, dtype=torch.long).view(-1, 4),
                "names": [r.name for r in recs], "subjects": [int(r.subject) for r in recs]}

    def _load(self) -> None:
        carve = self.val_subjects is not None and self.split in ("train", "val")
        src = "train" if carve else self.split
        path = os.path.join(self.processed_dir, f"{src}.pt")
        try:
            data = torch.load(path, weights_only=True)
        except Exception as e:
            raise DatasetFormatError(
                f"The processed cache '{path}' cannot be read ({e}); delete "
                f"'{self.processed_dir}' or pass force_reload=True") from None
        self._set_storage(data["frames"], data["rec_offsets"], data["clips"], data["names"],
                          data["subjects"])
        if carve:
            val = set(carve_validation(self._rec_subjects, self.val_subjects))
            self._select_recordings([i for i, s in enumerate(self._rec_subjects)
                                     if (s in val) == (self.split == "val")])
