"""Atomic file writes: write to a temporary file beside the target, then rename.

A process killed at any moment leaves either the previous file or the new
one, never a half-written file that a later run would trust.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator, Union

PathLike = Union[str, os.PathLike]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path in the target's folder; on success it is renamed
    onto ``path`` (after an ``fsync``), on error it is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600: honour the umask
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_dir(path: PathLike) -> Iterator[str]:
    """Yield a temporary folder beside ``path``; on success it is renamed onto
    ``path``, on error it is removed, so ``path`` holds either nothing or the
    complete output.  ``path`` must not exist or be an empty folder."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path) and os.listdir(path):
        raise FileExistsError(f"'{path}' already exists and is not empty; choose a new output "
                              f"folder or remove it first")
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"'{path}' exists and is not a folder")
    tmp = temp_dir_beside(path)
    try:
        yield tmp
        if os.path.isdir(path):
            os.rmdir(path)  # empty, checked above
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` through a Python file object, so that a write that
    fails (a full disk, a file-size limit) is an :class:`OSError` naming the
    file rather than a crash inside torch's C++ writer."""
    import torch

    with open(path, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as e:  # torch's writer reports the failed write so
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise OSError(f"writing '{os.fspath(path)}' failed ({first}): is the disk full, "
                          f"or a file-size limit set?") from None


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    with atomic_path(path) as tmp:
        torch_save(obj, tmp)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_dir_beside(path: PathLike, suffix: str = ".partial") -> str:
    """A new hidden folder beside ``path`` named ``.<name>.<pid>.<random><suffix>``;
    the folders of that form left by dead processes (killed or out of disk
    space) are removed first."""
    path = os.path.abspath(os.fspath(path))
    parent, base = os.path.dirname(path), os.path.basename(path)
    os.makedirs(parent, exist_ok=True)
    prefix = f".{base}."
    for name in os.listdir(parent):
        if name.startswith(prefix) and name.endswith(suffix):
            pid = name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", suffix=suffix, dir=parent)
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700: honour the umask
    return tmp


def current_umask() -> int:
    """The process's umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_not_an_input(out: PathLike, inputs, what: str = "--out") -> None:
    """Refuse an output path that is one of the command's ``inputs`` (the
    same file, through any path or link): no command writes onto its own
    input."""
    real = os.path.realpath(os.fspath(out))
    for src in inputs:
        if src is not None and os.path.realpath(os.fspath(src)) == real:
            raise ValueError(f"{what} {os.fspath(out)} is an input of this command "
                             f"({os.fspath(src)}); choose another output path")
