"""The base of every error a user can cause and fix; its message is one line, shown without a traceback."""

from __future__ import annotations

import os
from pathlib import Path


class FerkitError(Exception):
    pass


def output_path(path: str | Path, option: str, folder: bool = False) -> Path:
    """``path`` made ready to be written before any work that leads to it, or a one-line ``FerkitError``.

    Args:
        path: a file to write, or with ``folder`` a folder to write into; missing folders are made.
        option: how the user named it, e.g. ``--out``, for the message.
        folder: ``path`` is a folder.
    """
    path = Path(path)
    where = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise FerkitError(f"{option} {path}: is a file, expected a folder")
    if not folder and path.is_dir():
        raise FerkitError(f"{option} {path}: is a folder, expected a file name")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FerkitError(f"{option} {path}: cannot make the folder {where} ({e.strerror or e})") from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise FerkitError(f"{option} {path}: the folder {where} cannot be written to")
    return path
