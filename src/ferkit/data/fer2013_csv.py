"""FER2013 as the Kaggle ICML-2013 CSV: ``emotion,pixels,Usage`` (``.csv`` or ``.csv.gz``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ferkit.data.cache import cached
from ferkit.data.dataset import FACE_SIZE, DataError, FaceDataset

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
HEADER = ("emotion", "pixels", "Usage")
N_PIXELS = FACE_SIZE * FACE_SIZE


def load_fer2013_csv(path: str | Path, use_cache: bool = True) -> FaceDataset:
    """Load the FER2013 CSV; the decoded arrays are cached by the file's content.

    Raises:
        DataError: one line naming the file and the first broken row.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected the FER2013 CSV file")
    return cached(path, "fer2013csv", lambda: _decode(path), enabled=use_cache)


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
        return raw.decode("ascii")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read as a FER2013 CSV ({e})") from None


def _decode(path: Path) -> FaceDataset:
    lines = _read_text(path).splitlines()
    if not lines:
        raise DataError(f"{path}: empty file")
    header = tuple(c.strip() for c in lines[0].split(","))
    if header != HEADER:
        raise DataError(f"{path}: expected columns {','.join(HEADER)}, found {lines[0][:80]!r}")
    rows = [ln for ln in lines[1:] if ln.strip()]
    if not rows:
        raise DataError(f"{path}: no data rows")

    emotions = np.empty(len(rows), dtype=np.int64)
    usages: list[str] = []
    pixels: list[str] = []
    for i, line in enumerate(rows):
        fields = line.split(",")
        where = f"{path}: row {i + 1} (line {i + 2})"
        if len(fields) != 3:
            raise DataError(f"{where}: expected 3 fields emotion,pixels,Usage, found {len(fields)} (truncated file?)")
        emotion, pix, usage = fields
        if usage not in USAGE_TO_SPLIT:
            raise DataError(f"{where}: unknown Usage {usage!r} (expected Training, PublicTest or PrivateTest)")
        if not emotion.isdigit() or int(emotion) > 6:
            raise DataError(f"{where}: emotion {emotion!r} is not a class id 0-6")
        n = pix.count(" ") + 1
        if n != N_PIXELS:
            raise DataError(f"{where}: {n} pixel values, expected {N_PIXELS} (truncated row?)")
        emotions[i] = int(emotion)
        usages.append(usage)
        pixels.append(pix)

    # One vectorised parse of all 82 M grey levels; the row checks above make the count exact.
    flat = np.array(" ".join(pixels).split(), dtype=np.int32)
    if flat.size != len(rows) * N_PIXELS or flat.min() < 0 or flat.max() > 255:
        raise DataError(f"{path}: pixel values outside 0-255 or not integers")
    faces = flat.astype(np.uint8).reshape(len(rows), FACE_SIZE, FACE_SIZE)
    split = np.array([USAGE_TO_SPLIT[u] for u in usages])
    source = np.array([f"fer2013:{i}" for i in range(len(rows))])
    return FaceDataset(faces=faces, labels=emotions, split=split, source=source, name="fer2013")
