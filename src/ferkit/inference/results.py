"""Typed results: a ``Face`` per detected face, an ``ImageResult`` per image or video frame.

Views: ``to_dict()``/``to_json()`` for APIs, ``rows()``/``to_pandas()`` (one row
per face, the ``ferkit predict --csv`` columns) for tables, ``plot()`` for an
annotated picture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferkit.inference.detectors import FaceBox
from ferkit.labels import EMOTIONS

# One row per face; a video frame's rows add VIDEO_COLUMNS.
COLUMNS: tuple[str, ...] = ("source", "face", "x", "y", "w", "h", "label", "confidence", *EMOTIONS)
VIDEO_COLUMNS: tuple[str, ...] = ("frame", "time_s", "track")

# BGR, one per class in EMOTIONS order: red, green, purple, yellow, blue, orange, grey.
_PALETTE = ((40, 40, 220), (60, 160, 60), (160, 60, 160), (0, 200, 255), (200, 120, 40), (0, 140, 255), (170, 170, 170))
COLOURS: dict[str, tuple[int, int, int]] = dict(zip(EMOTIONS, _PALETTE, strict=True))


@dataclass(frozen=True)
class Face:
    """One face and what the model thinks it shows.

    Attributes:
        box: where it is in the image, with the detector's score.
        probs: (7,) float32 calibrated probabilities in ``ferkit.labels.EMOTIONS`` order.
        track: in a video, the id of the track the face belongs to; None for still images.
    """

    box: FaceBox
    probs: np.ndarray
    track: int | None = None

    @property
    def index(self) -> int:
        """Index of the most likely class."""
        return int(np.argmax(self.probs))

    @property
    def label(self) -> str:
        return EMOTIONS[self.index]

    @property
    def confidence(self) -> float:
        """Probability of the most likely class."""
        return float(self.probs[self.index])

    @property
    def probabilities(self) -> dict[str, float]:
        return {name: float(p) for name, p in zip(EMOTIONS, self.probs, strict=True)}

    def to_dict(self) -> dict:
        d = {"box": self.box.to_dict(), "label": self.label, "confidence": self.confidence,
             "probabilities": self.probabilities}
        if self.track is not None:
            d["track"] = self.track
        return d


@dataclass
class ImageResult:
    """The faces of one image or one video frame.

    Attributes:
        source: the file (or ``webcam:N``) it came from.
        faces: the faces found, the detector's best first.
        image: the decoded BGR image, kept for ``plot()``; None once dropped.
        frame: index of the frame in its video; None for still images.
        time_s: the frame's time in the video, in seconds.
    """

    source: str
    faces: list[Face]
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    frame: int | None = None
    time_s: float | None = None

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self):
        return iter(self.faces)

    def __getitem__(self, i: int) -> Face:
        return self.faces[i]

    @property
    def is_frame(self) -> bool:
        return self.frame is not None

    def rows(self) -> list[dict]:
        """One flat dict per face with the ``COLUMNS`` (and ``VIDEO_COLUMNS`` for a frame).

        ``pandas.DataFrame(result.rows())`` gives a table; so does ``to_pandas()``.
        """
        out = []
        for i, face in enumerate(self.faces):
            b = face.box
            row = {"source": self.source, "face": i, "x": b.x, "y": b.y, "w": b.w, "h": b.h,
                   "label": face.label, "confidence": face.confidence, **face.probabilities}
            if self.is_frame:
                row.update(frame=self.frame, time_s=self.time_s, track=face.track)
            out.append(row)
        return out

    def to_pandas(self):
        """The ``rows()`` as a ``pandas.DataFrame`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(COLUMNS + (VIDEO_COLUMNS if self.is_frame else ())))

    def to_dict(self) -> dict:
        d = {"source": self.source}
        if self.is_frame:
            d.update(frame=self.frame, time_s=self.time_s)
        d["faces"] = [f.to_dict() for f in self.faces]
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def plot(self, probabilities: bool = True) -> np.ndarray:
        """A copy of the image with each face's box, label and confidence drawn on it.

        Args:
            probabilities: also draw a small bar chart of the 7 probabilities beside each face.

        Returns:
            (H, W, 3) BGR uint8, ready for ``cv2.imwrite``.

        Raises:
            ValueError: the image was not kept.
        """
        import cv2

        if self.image is None:
            raise ValueError(f"{self.source}: the image was not kept, nothing to plot")
        canvas = cv2.cvtColor(self.image, cv2.COLOR_GRAY2BGR) if self.image.ndim == 2 else self.image.copy()
        for face in self.faces:
            _draw_face(canvas, face, probabilities)
        return canvas

    def save(self, path: str | Path, probabilities: bool = True) -> Path:
        """Write ``plot()`` to an image file (format from the suffix)."""
        import cv2

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.plot(probabilities)):
            raise OSError(f"{path}: could not write the annotated image")
        return path


def _draw_face(canvas: np.ndarray, face: Face, probabilities: bool) -> None:
    import cv2

    b, colour = face.box, COLOURS[face.label]
    height, width = canvas.shape[:2]
    thick = max(1, round(min(height, width) / 300))
    cv2.rectangle(canvas, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, thick)
    text = f"{face.label} {face.confidence:.0%}" + (f" #{face.track}" if face.track is not None else "")
    scale = max(0.35, min(1.2, b.w / 220))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    tag = th + base + 2
    if b.y - tag >= 0:
        top = b.y - tag  # above the box
    elif b.y + b.h + tag <= height:
        top = b.y + b.h  # below it
    else:
        top = min(max(0, b.y), height - tag)  # a face that fills the image: inside the box, at its top
    inside = b.y <= top < b.y + b.h
    left = max(0, min(b.x, width - tw - 2))
    cv2.rectangle(canvas, (left, top), (left + tw + 2, top + tag), colour, -1)
    cv2.putText(canvas, text, (left + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick,
                cv2.LINE_AA)
    if probabilities:
        _draw_bars(canvas, face, top + tag + 2 if inside else 0)


def _draw_bars(canvas: np.ndarray, face: Face, below: int = 0) -> None:
    """7 horizontal bars, one per class, right of the box (left when there is no room), starting no higher
    than ``below`` (under a label drawn inside the box)."""
    import cv2

    b = face.box
    row = int(np.clip(b.h / 9, 9, 18))  # pixels per class row
    label_w, bar_w = 3 * row, 4 * row
    panel_w = label_w + bar_w + 4
    x0 = b.x + b.w + 4 if b.x + b.w + 4 + panel_w <= canvas.shape[1] else max(0, b.x - panel_w - 4)
    y0 = min(max(below, b.y), max(0, canvas.shape[0] - row * len(EMOTIONS)))
    scale = row / 30
    for i, (name, p) in enumerate(zip(EMOTIONS, face.probs, strict=True)):
        y = y0 + i * row
        cv2.rectangle(canvas, (x0, y), (x0 + panel_w, y + row), (255, 255, 255), -1)
        cv2.putText(canvas, name[:3], (x0 + 2, y + row - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
        length = max(1, round(float(p) * bar_w))
        cv2.rectangle(canvas, (x0 + label_w, y + 2), (x0 + label_w + length, y + row - 2), COLOURS[name], -1)
