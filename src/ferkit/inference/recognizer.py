"""The recognizer: faces in, calibrated emotion probabilities out.

``Recognizer`` = a detector (``detectors``) + the crop (``crop``) + a classifier
backend (``backends``), with batching and optional horizontal-flip test-time
augmentation. It works on decoded images; ``ferkit.inference.run`` feeds it
files, folders and videos.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferkit.inference.backends import Backend, ModelInfo, open_backend
from ferkit.inference.crop import DEFAULT_MARGIN, check_margin, crop_faces, resize_face, to_grey
from ferkit.inference.detectors import (
    DEFAULT_DETECTOR, DetectorError, FaceBox, FaceDetector, check_detector, check_min_face, create_detector)
from ferkit.inference.results import Face, ImageResult

Image = np.ndarray | str | Path


class Recognizer:
    """Detects faces and classifies their expression.

    Args:
        model: a ferkit checkpoint (``.pt``) or an exported ``.onnx`` file; None: the model shipped with ferkit.
        backend: ``torch``, ``onnx`` or None (ONNX Runtime when installed, see ``open_backend``).
        int8: run the model's int8 version on ONNX Runtime (about 1.45x the faces/s; see ``open_backend``).
        detector: a detector name (``ferkit.inference.detectors.list_detectors()``) or any object
            with ``detect(image) -> list[FaceBox]``. Created on first use, so ``crops`` runs need none.
        min_face: smallest face to look for, in pixels of the image (a named detector's option; None:
            its default, 100 px for yuface). Smaller finds more faces in group photos and wide shots, slower.
        margin: each side of a face's square crop grows by this fraction of the box's longer side.
        tta: also classify the mirrored face and average the two probability vectors.
        align: rotate each face crop so the eyes are level, where the detector gives landmarks (yuface).
        batch_size: faces per classifier call.
        threads: intra-op threads of the classifier backend; None keeps its default.

    Example:
        >>> rec = Recognizer()
        >>> result = rec.predict(ferkit.sample_image_path())
        >>> result[0].label, result[0].confidence
    """

    def __init__(self, model: str | Path | None = None, *, backend: str | None = None,
                 detector: str | FaceDetector = DEFAULT_DETECTOR, margin: float = DEFAULT_MARGIN,
                 tta: bool = False, align: bool = False, batch_size: int = 256, threads: int | None = None,
                 int8: bool = False, min_face: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_margin(margin)
        if isinstance(detector, str):
            check_detector(detector)  # fail now, not at the first image
            if min_face is not None:
                check_min_face(min_face)  # a bad min_face fails now too
        elif min_face is not None:
            raise DetectorError("min_face is an option of a named detector; set it on the detector object instead")
        self.backend: Backend = open_backend(model, backend, threads, int8=int8)
        self._detector = detector
        self.min_face = min_face
        self.margin, self.tta, self.align, self.batch_size = margin, tta, align, batch_size

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    @property
    def detector(self) -> FaceDetector:
        if isinstance(self._detector, str):
            self._detector = create_detector(self._detector, min_face=self.min_face)
        return self._detector

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities of model-ready faces.

        Args:
            faces: (N, 48, 48) uint8 grey faces (the model's ``input_size``).

        Returns:
            (N, 7) float32 calibrated probabilities in ``ferkit.labels.EMOTIONS`` order.
        """
        faces = np.asarray(faces)
        size = tuple(self.info.input_size)
        if faces.dtype != np.uint8 or faces.ndim != 3 or faces.shape[1:] != size:
            raise ValueError(f"faces must be (N, {size[0]}, {size[1]}) uint8, got {faces.shape} {faces.dtype}")
        out = np.empty((len(faces), len(self.info.labels)), dtype=np.float32)
        for start in range(0, len(faces), self.batch_size):
            batch = faces[start:start + self.batch_size]
            probs = self.backend(batch)
            if self.tta:
                probs = (probs + self.backend(batch[:, :, ::-1])) / 2
            out[start:start + len(batch)] = probs
        return out

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR or grey uint8 image, best first."""
        return self.detector.detect(image)

    def predict(self, image: Image, *, crops: bool = False, source: str | None = None) -> ImageResult:
        """Faces and their expressions in one image.

        Args:
            image: a (H, W, 3) BGR / (H, W) grey uint8 array (BGRA and (H, W, 1) are converted), or an
                image file.
            crops: the image is already one face (skip detection), as in datasets of 48x48 faces.
            source: the name to report; default: the file's path, or ``""`` for an array.

        Raises:
            MediaError: an image file that cannot be read.
            ValueError: an array that is not a uint8 image.
        """
        return self.predict_many([image], None if source is None else [source], crops=crops)[0]

    def predict_many(self, images: Sequence[Image], sources: Sequence[str] | None = None, *,
                     crops: bool = False) -> list[ImageResult]:
        """Like ``predict`` for several images, classifying all their faces in shared batches.

        Args:
            images: arrays or image files.
            sources: names to report, one per image.
            crops: every image is already one face.
        """
        from ferkit.inference.media import as_image, read_image

        if sources is None:
            sources = [str(im) if isinstance(im, (str, Path)) else "" for im in images]
        decoded = [read_image(im) if isinstance(im, (str, Path)) else as_image(im) for im in images]
        boxes, faces = [], []
        for image in decoded:
            found = self._boxes(image, crops)
            boxes.append(found)
            faces.append(self._crops(image, found, crops))
        probs = self.classify(np.concatenate(faces)) if faces else np.empty((0, len(self.info.labels)))
        results, start = [], 0
        for source, image, found in zip(sources, decoded, boxes, strict=True):
            mine = probs[start:start + len(found)]
            start += len(found)
            results.append(ImageResult(source, [Face(b, p) for b, p in zip(found, mine, strict=True)], image))
        return results

    def _boxes(self, image: np.ndarray, crops: bool) -> list[FaceBox]:
        if crops:
            return [FaceBox(0, 0, image.shape[1], image.shape[0], 1.0)]
        return self.detect(image)

    def crop(self, image: np.ndarray, boxes: list[FaceBox]) -> np.ndarray:
        """(N, 48, 48) uint8 model-ready faces for boxes found in a BGR or grey image."""
        return crop_faces(to_grey(image), boxes, tuple(self.info.input_size), self.margin, self.align)

    def _crops(self, image: np.ndarray, boxes: list[FaceBox], crops: bool) -> np.ndarray:
        if crops:  # a dataset face: already framed, only resized
            return resize_face(to_grey(image), tuple(self.info.input_size))[None]
        return self.crop(image, boxes)


def predict(source: Image, model: str | Path | None = None, **options) -> ImageResult:
    """One-call recognition of one image with a fresh ``Recognizer``.

    Args:
        source: an image file or a BGR/grey uint8 array.
        model: a checkpoint or ``.onnx`` file; None: the shipped model.
        **options: ``Recognizer`` options (``backend``, ``detector``, ``tta``, ...); ``crops=True``
            treats the image as one face.
    """
    crops = options.pop("crops", False)
    return Recognizer(model, **options).predict(source, crops=crops)
