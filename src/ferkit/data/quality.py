"""Faces that carry no picture: blank or near-blank images.

Criterion: the standard deviation of a face's grey levels is below
``NEAR_BLANK_STD`` (2 of 255). On FER2013 this flags 13 faces: 12 of one
uniform grey and one with a range of 3 grey levels; the next-flattest face
already has a std of 4.1 and shows a face, so the count is stable between 1 and 4.
"""

from __future__ import annotations

import numpy as np

NEAR_BLANK_STD = 2.0


def near_blank_mask(faces: np.ndarray, max_std: float = NEAR_BLANK_STD) -> np.ndarray:
    """(N,) bool: faces whose grey-level standard deviation is below ``max_std``.

    Args:
        faces: (N, H, W) uint8.
        max_std: the threshold, in grey levels.
    """
    flat = faces.reshape(len(faces), -1).astype(np.float32)
    return flat.std(axis=1) < max_std
