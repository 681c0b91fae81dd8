"""Reading the files of a dataset safely: text that is not UTF-8 and NumPy
arrays that are empty, truncated or too large are errors naming the file,
raised before anything is allocated.

Limits (documented on the docs page "Datasets"):

* :data:`MAX_ARRAY_BYTES`: one array file holds at most 4 GiB of data;
* :data:`MAX_FRAMES`: a recording has at most 100,000 frames (55 minutes at
  30 frames/s);
* :data:`MAX_PERSONS`: at most 16 persons per frame;
* :data:`MAX_CLASSES`: at most 10,000 classes.
"""
from __future__ import annotations

import io
import os
import zipfile
from typing import IO, List, Sequence

import numpy as np

from topogcn.datasets.base import DatasetFormatError

MAX_ARRAY_BYTES = 4 * 2 ** 30
MAX_FRAMES = 100_000
MAX_PERSONS = 16
MAX_CLASSES = 10_000


def read_text(path: str) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); other
    encodings are a :class:`DatasetFormatError` naming the line."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DatasetFormatError(f"{path}, line {line}: not UTF-8 text (byte "
                                 f"0x{raw[e.start]:02x} at offset {e.start}); save it as "
                                 f"UTF-8") from None


def read_names(path: str) -> List[str]:
    """The non-empty lines of a UTF-8 text file, stripped (``classes.txt``,
    ``channels.txt``)."""
    return [line.strip() for line in read_text(path).splitlines() if line.strip()]


def unsupported_file(path: str) -> DatasetFormatError:
    """The error for a sequence file of a type no reader takes."""
    ext = os.path.splitext(path)[1].lower()
    return DatasetFormatError(f"{path}: unsupported file type '{ext}' (expected .npy, .npz, "
                              f".csv or an NTU RGB+D .skeleton)")


def open_text(path: str) -> io.StringIO:
    """:func:`read_text` as a file object (for :mod:`csv` readers)."""
    return io.StringIO(read_text(path), newline=None)


def _check_npy_header(f: IO[bytes], available: int, where: str) -> None:
    """Read a .npy header from ``f`` and refuse data that the file does not
    hold or that exceeds :data:`MAX_ARRAY_BYTES`."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError) as e:
        raise DatasetFormatError(f"{where}: not a NumPy array file ({e})") from None
    if dtype.hasobject:
        raise DatasetFormatError(f"{where}: holds Python objects ({dtype}); only numeric "
                                 f"arrays are read")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise DatasetFormatError(f"{where}: an array of shape {list(shape)} ({nbytes / 2**30:.1f} "
                                 f"GiB) is larger than the limit of "
                                 f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB")
    if nbytes > available - f.tell():
        raise DatasetFormatError(f"{where}: truncated: the header says shape {list(shape)} "
                                 f"({nbytes} bytes) but the file holds "
                                 f"{max(0, available - f.tell())} bytes of data")


def read_numpy(path: str, keys: Sequence[str] = ("x", "data")) -> np.ndarray:
    """A float32 array from ``.npy`` or ``.npz`` (the first of ``keys``
    found, else the first array), checked before it is loaded."""
    ext = os.path.splitext(path)[1].lower()
    size = os.path.getsize(path)
    if size == 0:
        raise DatasetFormatError(f"{path}: empty file (0 bytes), expected a NumPy {ext} file")
    if ext == ".npy":
        with open(path, "rb") as f:
            _check_npy_header(f, size, path)
        data = np.load(path, allow_pickle=False)
    elif ext == ".npz":
        try:
            with zipfile.ZipFile(path) as z:
                names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
                if not names:
                    raise DatasetFormatError(f"{path}: the archive holds no array")
                key = next((k for k in keys if k in names), names[0])
                info = z.getinfo(key + ".npy")
                with z.open(info) as member:
                    _check_npy_header(member, info.file_size, f"{path} ['{key}']")
        except zipfile.BadZipFile as e:
            raise DatasetFormatError(f"{path}: not a NumPy .npz archive ({e})") from None
        with np.load(path, allow_pickle=False) as archive:
            data = archive[key]
    else:
        raise unsupported_file(path)
    try:
        return np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DatasetFormatError(f"{path}: not a numeric array ({e})") from None


def check_sequence_size(shape: Sequence[int], where: str) -> None:
    """Refuse a sequence ``[M, T, V, C]`` beyond :data:`MAX_PERSONS` or
    :data:`MAX_FRAMES`, or without a person."""
    M, T = shape[0], shape[1]
    if M == 0:
        raise DatasetFormatError(f"{where}: the sequence has no person (shape {list(shape)})")
    if M > MAX_PERSONS:
        raise DatasetFormatError(f"{where}: {M} persons, more than the limit of {MAX_PERSONS} "
                                 f"(shape {list(shape)}; expected [T, V, C] or [M, T, V, C])")
    if T > MAX_FRAMES:
        raise DatasetFormatError(f"{where}: {T} frames, more than the limit of {MAX_FRAMES}")


def check_frame_indices(indices, where: str) -> int:
    """The length ``T`` (last index + 1) of a recording given by numbered
    frame files, refused when it exceeds :data:`MAX_FRAMES` or when fewer
    than a tenth of its frames have a file (a mistyped index such as
    ``_000001000000_`` would otherwise allocate millions of empty frames)."""
    indices = list(indices)
    T = max(indices) + 1
    last = max(indices)
    if T > MAX_FRAMES:
        raise DatasetFormatError(f"{where}: frame index {last} gives {T} frames, more than the "
                                 f"limit of {MAX_FRAMES}")
    if T > 1000 and len(indices) * 10 < T:
        raise DatasetFormatError(f"{where}: only {len(indices)} of its {T} frames have a file "
                                 f"(last frame index {last}); is a frame number mistyped?")
    return T


def path_in_root(root: str, name: str, where: str) -> str:
    """``root/name``, refused (naming ``where``) when ``name`` is absolute or
    leads outside ``root`` (``../``, a link out of it): a label table only
    reaches the files of its dataset."""
    if os.path.isabs(name):
        raise DatasetFormatError(f"{where}: '{name}' is an absolute path; files are named "
                                 f"relative to the dataset root '{root}'")
    path = os.path.join(root, name)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise DatasetFormatError(f"{where}: '{name}' leads outside the dataset root '{root}'")
    return path


def parse_int(text: str, where: str, what: str) -> int:
    """An integer written as ``12`` (or ``12.0``); ``1.9`` or ``abc`` is a
    :class:`DatasetFormatError` naming ``where`` and ``what`` (never
    truncated)."""
    s = str(text).strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        value = float(s)
    except ValueError:
        raise DatasetFormatError(f"{where}: {what} must be an integer, got {s!r}") from None
    if not value.is_integer():
        raise DatasetFormatError(f"{where}: {what} must be an integer, got {s!r} (not "
                                 f"truncated)")
    return int(value)


def unique_names(names, where: str, what: str = "class name") -> list:
    """``names`` as a list, refusing duplicates (naming the first)."""
    names = list(names)
    seen = set()
    for n in names:
        if n in seen:
            raise DatasetFormatError(f"{where}: the {what} {n!r} appears twice")
        seen.add(n)
    return names


#: values per body header and per joint line of an NTU RGB+D ``.skeleton`` file
NTU_BODY_VALUES, NTU_JOINT_VALUES, NTU_JOINTS = 10, 12, 25


def read_ntu_skeleton(path: str, max_persons: int = 2) -> np.ndarray:
    """An NTU RGB+D ``.skeleton`` text file as ``[M, T, 25, 3]`` (camera
    x, y, z in metres).  Bodies are told apart by their tracking id; with
    at most ``max_persons`` bodies all are kept in file order (first
    appearance), otherwise the ``max_persons`` seen in the most frames (then
    with the most motion), in that order; frames where a kept body is
    missing are zeros.  Errors name the file and line."""
    lines = read_text(path).split()
    pos = 0

    def take(n: int, what: str) -> List[str]:
        nonlocal pos
        if pos + n > len(lines):
            raise DatasetFormatError(f"{path}: ends inside {what} (truncated?)")
        out = lines[pos:pos + n]
        pos += n
        return out

    def number(tok: str, what: str) -> float:
        try:
            return float(tok)
        except ValueError:
            raise DatasetFormatError(f"{path}: {what}: {tok!r} is not a number") from None

    T = int(number(take(1, "the frame count")[0], "frame count"))
    if not 0 < T <= MAX_FRAMES:
        raise DatasetFormatError(f"{path}: frame count {T} outside 1..{MAX_FRAMES}")
    bodies: dict = {}  # body id -> {frame: [25, 3]}
    for t in range(T):
        count = int(number(take(1, f"frame {t}")[0], f"frame {t}: body count"))
        if not 0 <= count <= MAX_PERSONS:
            raise DatasetFormatError(f"{path}: frame {t}: body count {count} outside "
                                     f"0..{MAX_PERSONS}")
        for _ in range(count):
            body_id = take(NTU_BODY_VALUES, f"frame {t}: body header")[0]
            joints = int(number(take(1, f"frame {t}: joint count")[0], "joint count"))
            if joints != NTU_JOINTS:
                raise DatasetFormatError(f"{path}: frame {t}: {joints} joints, expected "
                                         f"{NTU_JOINTS} (Kinect v2)")
            vals = [number(v, f"frame {t}: joint values")
                    for v in take(NTU_JOINTS * NTU_JOINT_VALUES, f"frame {t}: joints")]
            xyz = np.asarray(vals, np.float32).reshape(NTU_JOINTS, NTU_JOINT_VALUES)[:, :3]
            bodies.setdefault(body_id, {})[t] = xyz
    if pos != len(lines):
        raise DatasetFormatError(f"{path}: {len(lines) - pos} values after the last of its "
                                 f"{T} frames")
    if not bodies:
        raise DatasetFormatError(f"{path}: no body in any of its {T} frames")

    def motion(frames: dict) -> float:
        arr = np.stack([frames[t] for t in sorted(frames)])
        return float(np.abs(np.diff(arr, axis=0)).sum()) if len(arr) > 1 else 0.0
    if len(bodies) <= max_persons:  # all kept: in file order (first appearance)
        order = list(bodies)
    else:  # the most present, then the most moving
        order = sorted(bodies, key=lambda b: (-len(bodies[b]), -motion(bodies[b])))
    out = np.zeros((min(max_persons, len(order)), T, NTU_JOINTS, 3), np.float32)
    for m, b in enumerate(order[:max_persons]):
        for t, xyz in bodies[b].items():
            out[m, t] = xyz
    return out
