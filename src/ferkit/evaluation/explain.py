"""Grad-CAM on a photo: where the model looked in each face the detector found (``ferkit explain``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError
from ferkit.inference.crop import DEFAULT_MARGIN, square_around
from ferkit.inference.detectors import DEFAULT_DETECTOR
from ferkit.inference.results import ImageResult


# (top, right) white border around a face crop: room for the label and the 7 probability bars.
CROP_PAD = (40, 140)


class ExplainError(FerkitError, ValueError):
    """A model that cannot be explained (an ONNX export) or a photo without a face."""


@dataclass
class Explanation:
    """The faces of one image with the Grad-CAM map of each face's predicted class.

    Attributes:
        result: the recognizer's faces, best first, with the image.
        faces: (N, 48, 48) uint8 model inputs, one per face.
        cams: (N, 48, 48) float32 maps in [0, 1], one per face.
        margin: the crop margin the faces were cut with (to place each map back on the image).
        crops: the whole image was the face (resized, not cropped).
    """

    result: ImageResult
    faces: np.ndarray
    cams: np.ndarray
    margin: float = DEFAULT_MARGIN
    crops: bool = False

    def plot(self, alpha: float = 0.45) -> np.ndarray:
        """The image with each face's map blended over its crop, then its box, label and probabilities.

        Returns:
            (H, W, 3) BGR uint8.
        """
        import cv2

        from ferkit.evaluation.gradcam import overlay
        from ferkit.inference.crop import to_grey

        image = self.result.image
        canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, :3].copy()
        grey = to_grey(canvas)
        height, width = grey.shape
        if self.crops:  # the face is the whole image: add room above and right for the label and the bars
            canvas = cv2.copyMakeBorder(overlay(grey, self.cams[0], alpha), CROP_PAD[0], 0, 0, CROP_PAD[1],
                                        cv2.BORDER_CONSTANT, value=(255, 255, 255))
            face = self.result.faces[0]
            moved = replace(face, box=replace(face.box, y=face.box.y + CROP_PAD[0]))
            return ImageResult(self.result.source, [moved], canvas).plot(probabilities=True)
        for face, cam in zip(self.result.faces, self.cams):
            x0, y0, side = square_around(face.box, self.margin)
            cam_full = cv2.resize(cam, (side, side), interpolation=cv2.INTER_LINEAR)
            # The crop's square may reach past the image's edges: blend only the part inside.
            xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
            if xa >= xb or ya >= yb:
                continue
            canvas[ya:yb, xa:xb] = overlay(grey[ya:yb, xa:xb], cam_full[ya - y0:yb - y0, xa - x0:xb - x0], alpha)
        return ImageResult(self.result.source, self.result.faces, canvas).plot(probabilities=True)

    def save(self, path: str | Path) -> Path:
        """Write ``plot()`` to an image file (format from the suffix)."""
        import cv2

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.plot()):
            raise OSError(f"{path}: could not write the image (unknown suffix?)")
        return path


def explain(image: np.ndarray | str | Path, model: str | Path | None = None, *,
            detector: str = DEFAULT_DETECTOR, margin: float = DEFAULT_MARGIN, crops: bool = False) -> Explanation:
    """Detect the faces of an image, classify them, and compute Grad-CAM of each predicted class.

    Args:
        image: a BGR/grey uint8 array or an image file.
        model: a ferkit checkpoint (``.pt``); None: the model shipped with ferkit.
        detector: the face detector's name.
        margin: crop margin, as for ``Recognizer``.
        crops: the image is already one face (no detection).

    Raises:
        ExplainError: an ONNX model, or no face found.
        MediaError: an image file that cannot be read.
    """
    from ferkit.evaluation.gradcam import grad_cam
    from ferkit.inference.backends import resolve_model
    from ferkit.inference.crop import resize_face, to_grey
    from ferkit.inference.recognizer import Recognizer
    from ferkit.training.checkpoint import load_checkpoint

    path = resolve_model(model)
    if path.suffix.lower() == ".onnx":
        raise ExplainError(f"{path}: Grad-CAM needs the model's gradients: give the ferkit checkpoint (.pt)")
    recognizer = Recognizer(path, backend="torch", detector=detector, margin=margin)
    result = recognizer.predict(image, crops=crops)
    if not result.faces:
        raise ExplainError(f"{result.source or 'the image'}: no face found (a face crop? use --crops)")
    if crops:
        faces = resize_face(to_grey(result.image), tuple(recognizer.info.input_size))[None]
    else:
        faces = recognizer.crop(result.image, [f.box for f in result.faces])
    ckpt = load_checkpoint(path)
    cams = grad_cam(ckpt.build_model(), faces, ckpt.normalization, classes=[f.index for f in result.faces])
    return Explanation(result, faces, cams, margin, crops)
