"""Crash-safe file writes: :func:`atomic_write` and :func:`atomic_write_text`.

The one implementation of "write to a temporary name, fsync, rename, fsync the
folder" in mmdfkd. Readers of ``path`` see its old content or its complete new
content, never a part, whatever kills the writer (a crash, SIGKILL, a full
disk, a power cut after the rename).
"""
import os
import os.path as osp
from typing import Callable

TMP_SUFFIX = '.tmp'


def fsync_path(path: str) -> None:
    """Flush ``path`` (a file or a folder) to disk; folders are skipped where the OS cannot open them."""
    flags = (os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)) if osp.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders on Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(path: str) -> str:
    """The hidden temporary name :func:`atomic_write` writes ``path`` under: ``dir/.name.tmp``."""
    folder, name = osp.split(path)
    return osp.join(folder, f'.{name}{TMP_SUFFIX}')


def atomic_write(path: str, write_fn: Callable[[str], None]) -> None:
    """Have ``write_fn(tmp)`` write a file, then move it onto ``path`` atomically.

    ``tmp`` is :func:`temp_path` of ``path``, in the same folder (so the
    rename never crosses file systems). After ``write_fn`` returns, the file is
    fsynced, ``os.replace``-d onto ``path`` and the folder is fsynced. If
    ``write_fn`` raises (a full disk, an interrupt), the temporary file is
    deleted, ``path`` is untouched and the exception propagates.

    Args:
        path (str): The final file name.
        write_fn (Callable[[str], None]): Writes the complete content to the
            path it is given.
    """
    tmp = temp_path(path)
    try:
        write_fn(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    fsync_path(osp.dirname(osp.abspath(path)))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_write`."""

    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write(text)

    atomic_write(path, write)
