"""From a detected box to the model's input face: a square crop with a margin, grey, 48x48.

FER2013's faces are tightly registered square crops. Run on FER2013 test faces
(enlarged, padded with their own edges), both bundled detectors return boxes whose
square is the FER2013 crop itself: median margin 0.00 (yuface; quartiles -0.07 and
+0.07) and 0.01 (haar) of the box's side, centres within 3% of the side
(``bench/inference.py``, ``crop_margin_matching_fer2013``). On the 268 faces found in
the 270 shared photos the shipped model agreed best with the photos' weak labels at
margin 0 too: 51.9%, against 48.9% at -0.05, 50.0% at 0.05, 47.8% at 0.1, 37.3% at 0.2
and 32.1% at 0.3 (``--margins``). So the default margin is 0.
Grey conversion and the shrink (``INTER_AREA``) are the ones the dataset loaders
use (``ferkit.data.image_tree.decode_face``).
"""

from __future__ import annotations

import math

import numpy as np

from ferkit.inference.detectors import FaceBox

# Each side of the square grows by this fraction of the box's longer side (0: FER2013's framing, see above).
DEFAULT_MARGIN = 0.0
MARGIN_RANGE = (-0.25, 1.0)  # tighter than a quarter of the box cuts into the face; wider is mostly background


def check_margin(margin: float) -> float:
    """``margin`` itself, or a ``ValueError`` when it is not a number in ``MARGIN_RANGE``."""
    low, high = MARGIN_RANGE
    if not low <= margin <= high:  # False for NaN too
        raise ValueError(f"margin must be between {low} and {high} (a fraction of the face box), got {margin}")
    return margin


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) grey uint8 from a BGR (H, W, 3), BGRA (H, W, 4) or grey image."""
    import cv2

    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def resize_face(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A grey crop resized to ``size`` (height, width) as the training faces were."""
    import cv2

    if grey.shape[:2] == tuple(size):
        return grey
    return cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def square_around(box: FaceBox, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square centred on the box, widened by ``margin`` on each side."""
    side = max(1, round(max(box.w, box.h) * (1 + 2 * margin)))
    x0 = round(box.x + box.w / 2 - side / 2)
    y0 = round(box.y + box.h / 2 - side / 2)
    return x0, y0, side


def eye_angle(box: FaceBox) -> float | None:
    """Degrees the face is tilted by (the eyes' line against the horizontal; positive when the eye on
    the image's right is lower), or None when the detector gave no landmarks."""
    if len(box.landmarks) < 2:
        return None
    (xa, ya), (xb, yb) = sorted(box.landmarks[:2])
    return math.degrees(math.atan2(yb - ya, xb - xa))


def crop_faces(grey: np.ndarray, boxes: list[FaceBox], size: tuple[int, int] = (48, 48),
               margin: float = DEFAULT_MARGIN, align: bool = False) -> np.ndarray:
    """Model-ready faces for the boxes of one image.

    Args:
        grey: (H, W) uint8 image (see ``to_grey``).
        boxes: faces in that image.
        size: (height, width) of the model's input.
        margin: each side of the square crop grows by this fraction of the box's longer side.
        align: rotate each square about its centre so that the eyes are level, where the box
            carries landmarks (yuface); boxes without landmarks are cropped upright.

    Returns:
        (N, height, width) uint8. Parts of a square that fall outside the image
        repeat the edge pixels rather than stretching the face.
    """
    import cv2

    out = np.empty((len(boxes), *size), dtype=np.uint8)
    height, width = grey.shape[:2]
    for i, box in enumerate(boxes):
        x0, y0, side = square_around(box, margin)
        angle = eye_angle(box) if align else None
        if angle is not None:
            # One warp: rotate the image about the square's centre, then read the square out of it.
            rotation = cv2.getRotationMatrix2D((x0 + side / 2, y0 + side / 2), angle, 1.0)
            rotation[:, 2] -= (x0, y0)
            square = cv2.warpAffine(grey, rotation, (side, side), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            out[i] = resize_face(square, size)
            continue
        x1, y1 = x0 + side, y0 + side
        inside = grey[max(0, y0):min(height, y1), max(0, x0):min(width, x1)]
        pads = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
        if any(pads):
            inside = cv2.copyMakeBorder(inside, *pads, cv2.BORDER_REPLICATE)
        out[i] = resize_face(inside, size)
    return out
