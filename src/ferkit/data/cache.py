"""Decoded arrays cached on disk, keyed by the source's content."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FaceDataset

CACHE_VERSION = 2  # bump when a loader's decoding or the entry layout changes


def cache_dir() -> Path:
    """``$FERKIT_CACHE``, else ``$XDG_CACHE_HOME/ferkit``, else ``~/.cache/ferkit``."""
    if os.environ.get("FERKIT_CACHE"):
        return Path(os.environ["FERKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferkit"


def file_digest(path: Path) -> str:
    """BLAKE2b of the file's bytes (about 0.1 s for the 94 MB FER2013 archive)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def folder_digest(path: Path) -> str:
    """BLAKE2b of a folder's listing: every file's relative path, size and modification time.

    Hashing the bytes of 35k (or AffectNet's 290k) images would cost about what
    the cache saves; a replaced, added or removed image changes the listing.
    """
    h = hashlib.blake2b(digest_size=16)
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            h.update(f"{os.path.relpath(full, path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cached(path: Path, kind: str, build: Callable[[], FaceDataset], enabled: bool = True) -> FaceDataset:
    """Return ``build()``'s dataset, reading it from the cache when the source's content was seen before.

    Args:
        path: the source file (keyed by its bytes) or folder (keyed by its listing).
        kind: the loader and its options, so that one source can feed several loaders.
        build: decodes the source when there is no cache entry.
        enabled: False bypasses the cache entirely.
    """
    if not enabled or not (path.is_file() or path.is_dir()):
        return build()
    digest = file_digest(path) if path.is_file() else folder_digest(path)
    entry = cache_dir() / f"{kind}-v{CACHE_VERSION}-{digest}.npz"
    if entry.is_file():
        try:
            return _read(entry)
        except (OSError, ValueError, KeyError):
            entry.unlink(missing_ok=True)  # a torn write from an interrupted run: rebuild
    data = build()
    try:
        _write(entry, data)
    except OSError:
        pass  # a read-only home must not stop a load
    return data


def _write(entry: Path, data: FaceDataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_suffix(f".{os.getpid()}.tmp.npz")
    arrays = dict(faces=data.faces, labels=data.labels, split=data.split, source=data.source,
                  name=np.array(data.name))
    if data.soft_labels is not None:
        arrays["soft_labels"] = data.soft_labels
    # Loader notes such as the skipped files travel as string arrays.
    for key, value in data.extra.items():
        arrays[f"extra.{key}"] = np.asarray(value, dtype=str)
    np.savez(tmp, **arrays)  # uncompressed: the cached load must stay well under a second
    os.replace(tmp, entry)


def _read(entry: Path) -> FaceDataset:
    with np.load(entry, allow_pickle=False) as z:
        return FaceDataset(
            faces=z["faces"],
            labels=z["labels"],
            split=z["split"],
            source=z["source"],
            soft_labels=z["soft_labels"] if "soft_labels" in z.files else None,
            name=str(z["name"]),
            extra={k.removeprefix("extra."): z[k].tolist() for k in z.files if k.startswith("extra.")},
        )
