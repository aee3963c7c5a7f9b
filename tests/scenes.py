"""Test scenes made from the bundled portrait (nothing read from outside the repository)."""

from __future__ import annotations

import cv2
import numpy as np

SAMPLE_FACE = (174, 112, 175, 210)  # (x, y, w, h) of the face in the bundled portrait, by eye and yuface


def group_photo(portrait: np.ndarray, face_width: int, size: tuple[int, int] = (1200, 1800)) -> np.ndarray:
    """Six copies of the portrait, scaled so each face is ``face_width`` pixels wide, on a
    (height, width) grey canvas: a group shot whose faces are small next to the image."""
    scale = face_width / SAMPLE_FACE[2]
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    height, width = size
    canvas = np.full((height, width, 3), 120, np.uint8)
    for i in range(6):
        y, x = height // 6 + (i // 3) * height // 2, width // 12 + (i % 3) * width // 3
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas
