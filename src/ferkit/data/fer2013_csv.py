"""FER2013 as the Kaggle ICML-2013 CSV: ``emotion,pixels,Usage`` (``.csv`` or ``.csv.gz``).

The pixel columns are parsed from the raw bytes with numpy, a few thousand rows
at a time: token boundaries are where a digit follows a space, and each token's
value is read from its last three bytes. The full file decodes in a few seconds,
where splitting 82 M strings in Python took half a minute.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.cache import cached
from ferkit.data.dataset import FACE_SIZE, DataError, FaceDataset
from ferkit.labels import FER2013_IDS

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
HEADER = ("emotion", "pixels", "Usage")
N_PIXELS = FACE_SIZE * FACE_SIZE
ROWS_PER_CHUNK = 2048  # about 17 MB of text: keeps the temporary arrays small

# Byte classes of the pixel field: 0 space, 1 digit, 2 anything else (an error).
_BYTE_CLASS = np.full(256, 2, dtype=np.uint8)
_BYTE_CLASS[ord(" ")] = 0
_BYTE_CLASS[ord("0"):ord("9") + 1] = 1
# Digit value per byte; a space reads as 0 so that a short token's missing tens digit adds nothing.
_DIGIT = np.zeros(256, dtype=np.uint8)
_DIGIT[ord("0"):ord("9") + 1] = np.arange(10)


def load_fer2013_csv(path: str | Path, use_cache: bool = True) -> FaceDataset:
    """Load the FER2013 CSV; the decoded arrays are cached by the file's content.

    Rows keep the file's order; ``source`` is ``fer2013:<row>`` (0-based data row),
    which is how FER+ labels join the rows.

    Args:
        path: ``fer2013.csv`` or ``fer2013.csv.gz``.
        use_cache: False decodes the file even when a cache entry exists.

    Raises:
        DataError: one line naming the file and the first broken row.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected the FER2013 CSV file")
    return cached(path, "fer2013csv", lambda: decode_fer2013_csv(_read_bytes(path), str(path)),
                  enabled=use_cache)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read as a FER2013 CSV ({e})") from None


def decode_fer2013_csv(raw: bytes, where: str = "<bytes>") -> FaceDataset:
    """Decode the bytes of a FER2013 CSV.

    Args:
        raw: the whole (unpacked) file.
        where: the file name used in error messages.

    Raises:
        DataError: naming ``where``, the data row and its line for the first broken row.
    """
    header_end = raw.find(b"\n")
    header_line = raw[: header_end if header_end >= 0 else len(raw)]
    header = tuple(c.strip() for c in header_line.decode("latin-1").split(","))
    if not header_line.strip():
        raise DataError(f"{where}: empty file")
    if header != HEADER:
        hint = " (this is the FER+ vote file: pass it as --ferplus)" if "NF" in header else ""
        found = header_line[:80].decode("latin-1")
        raise DataError(f"{where}: expected columns {','.join(HEADER)}, found {found!r}{hint}")
    rows = _split_rows(raw, header_end + 1, where)
    if not rows:
        raise DataError(f"{where}: no data rows")

    labels = np.array([r.emotion for r in rows], dtype=np.int64)
    split = np.array([USAGE_TO_SPLIT[r.usage] for r in rows])
    faces = np.empty((len(rows), N_PIXELS), dtype=np.uint8)
    for start in range(0, len(rows), ROWS_PER_CHUNK):
        chunk = rows[start:start + ROWS_PER_CHUNK]
        faces[start:start + len(chunk)] = _parse_pixels(raw, chunk, where)
    source = np.array([f"fer2013:{i}" for i in range(len(rows))])
    return FaceDataset(faces=faces.reshape(-1, FACE_SIZE, FACE_SIZE), labels=labels, split=split,
                       source=source, name="fer2013")


@dataclass(frozen=True, slots=True)
class _Row:
    """One data row: its number, its line, and where its pixel field lies in the file's bytes."""

    number: int
    line: int
    emotion: int
    usage: str
    pix_start: int
    pix_end: int

    def where(self, file: str) -> str:
        return f"{file}: row {self.number} (line {self.line})"


def _split_rows(raw: bytes, pos: int, where: str) -> list[_Row]:
    """Check every row's emotion and Usage fields and locate its pixel field.

    A loop per row, not per pixel: the 8 kB pixel field is only searched by
    ``bytes.find``/``rfind`` (C loops) for the line end and the two commas.
    """
    rows: list[_Row] = []
    line = 1
    n = len(raw)
    while pos < n:
        line += 1
        end = raw.find(b"\n", pos)
        if end < 0:
            end = n
        first, last = raw.find(b",", pos, end), raw.rfind(b",", pos, end)
        if first >= 0 or raw[pos:end].strip():  # only a comma-less line is copied to test for blankness
            row = len(rows) + 1
            here = f"{where}: row {row} (line {line})"
            if first < 0 or first == last:
                found = 1 if first < 0 else 2
                raise DataError(f"{here}: expected 3 fields emotion,pixels,Usage, found {found} (truncated file?)")
            emotion = raw[pos:first].strip()
            usage = raw[last + 1:end].strip().decode("latin-1")
            if not emotion.isdigit() or int(emotion) not in FER2013_IDS:
                raise DataError(f"{here}: emotion {emotion.decode('latin-1')!r} is not a class id 0-6")
            if usage not in USAGE_TO_SPLIT:
                raise DataError(f"{here}: unknown Usage {usage!r} (expected Training, PublicTest or PrivateTest)")
            rows.append(_Row(row, line, FER2013_IDS[int(emotion)], usage, first + 1, last))
        pos = end + 1
    return rows


def _parse_pixels(raw: bytes, rows: list[_Row], where: str) -> np.ndarray:
    """(len(rows), 2304) uint8 from the rows' pixel fields, which lie in one stretch of ``raw``."""
    base = rows[0].pix_start - 1  # the comma before the first field: a separator
    text = bytearray(raw[base:rows[-1].pix_end + 1])
    starts = np.array([r.pix_start - base for r in rows])
    ends = np.array([r.pix_end - base for r in rows])
    # Blank out what lies between pixel fields (",Usage\nemotion,") so only digits and spaces remain.
    for end, nxt in zip(ends[:-1], starts[1:]):
        text[end:nxt] = b" " * (nxt - end)
    text[0:1] = text[-1:] = b" "  # the commas around the stretch
    buf = np.frombuffer(text, dtype=np.uint8)

    kind = _BYTE_CLASS[buf]
    if (bad := np.flatnonzero(kind == 2)).size:
        r = rows[np.searchsorted(starts, bad[0], side="right") - 1]
        raise DataError(f"{r.where(where)}: unexpected character {chr(buf[bad[0]])!r} in pixels")
    digit = kind.view(bool)
    edges = np.flatnonzero(digit[1:] != digit[:-1]) + 1  # text starts and ends with a space
    token_start, token_end = edges[0::2], edges[1::2]  # token i is text[token_start[i]:token_end[i]]

    counts = np.diff(np.searchsorted(token_start, np.append(starts, len(text))))
    if (wrong := np.flatnonzero(counts != N_PIXELS)).size:
        r = rows[wrong[0]]
        raise DataError(f"{r.where(where)}: {counts[wrong[0]]} pixel values, expected {N_PIXELS} (truncated row?)")

    length = token_end - token_start
    digits = _DIGIT[buf]
    values = (digits[token_end - 1] + 10 * digits[token_end - 2].astype(np.int16)
              + 100 * (digits[token_end - 3] * (length >= 3)).astype(np.int16))
    if (bad := np.flatnonzero((length > 3) | (values > 255))).size:
        i = bad[0]
        token = text[token_start[i]:token_end[i]].decode()
        raise DataError(f"{rows[i // N_PIXELS].where(where)}: pixel value {token} outside 0-255")
    return values.astype(np.uint8).reshape(len(rows), N_PIXELS)
