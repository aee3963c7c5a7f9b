"""Where results go: a CSV or JSON table (one row per face, streamed as results come) or readable lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from ferkit.errors import FerkitError
from ferkit.inference.results import COLUMNS, VIDEO_COLUMNS, ImageResult
from ferkit.labels import EMOTIONS

DECIMALS = 6  # probabilities in tables; float32 carries about 7 digits


def _rounded(row: dict) -> dict:
    return {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in row.items()}


class TableWriter:
    """Writes ``ImageResult.rows()`` to a ``.csv`` or ``.json`` (a list of row objects) file.

    Args:
        path: the file; ``-`` writes to stdout.
        fmt: ``csv`` or ``json``.
        video: include the ``frame,time_s,track`` columns (empty for still images).

    Raises:
        FerkitError: the file cannot be created.
    """

    def __init__(self, path: str | Path, fmt: str, video: bool = False) -> None:
        import sys

        self.fmt, self.columns = fmt, COLUMNS + (VIDEO_COLUMNS if video else ())
        try:
            # surrogateescape: a file name that is not UTF-8 is written back as the bytes it has on disk
            self._file: TextIO = sys.stdout if str(path) == "-" else open(
                path, "w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            raise FerkitError(f"--{fmt} {path}: cannot be written ({e.strerror or e})") from None
        self._own = str(path) != "-"
        self._rows = 0
        if fmt == "csv":
            self._csv = csv.DictWriter(self._file, fieldnames=self.columns, restval="")
            self._csv.writeheader()
        else:
            self._file.write("[")

    def write(self, result: ImageResult) -> None:
        for row in result.rows():
            row = _rounded(row)
            if self.fmt == "csv":
                self._csv.writerow(row)
            else:
                full = {c: row.get(c) for c in self.columns}
                self._file.write(("," if self._rows else "") + "\n" + json.dumps(full))
            self._rows += 1
        self._file.flush()  # a long video or webcam run keeps its rows if stopped

    def close(self) -> None:
        if self.fmt == "json":
            self._file.write("\n]\n")
        if self._own:
            self._file.close()
        else:
            self._file.flush()


def face_lines(result: ImageResult) -> list[str]:
    """Readable lines for the faces of one result (one saying so when there is none)."""
    where = result.source + (f" frame {result.frame} ({result.time_s:.2f} s)" if result.is_frame else "")
    if not result.faces:
        return [] if result.is_frame else [f"{where}: no face"]
    lines = []
    for i, face in enumerate(result.faces):
        b = face.box
        track = f" track {face.track}" if face.track is not None else ""
        others = " ".join(f"{name} {p:.2f}" for name, p in zip(EMOTIONS, face.probs, strict=True))
        lines.append(f"{where} face {i}{track} at x={b.x} y={b.y} w={b.w} h={b.h}: "
                     f"{face.label} {face.confidence:.0%}  [{others}]")
    return lines
