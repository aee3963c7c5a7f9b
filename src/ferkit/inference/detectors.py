"""Face detectors behind one interface: ``detect(image) -> list[FaceBox]``, chosen by name.

Adding a detector means adding one class here with ``@register_detector("name")``;
nothing else in ferkit branches on detector names. Every detector works offline
from the install: its weights ship inside a package from the registry.

Measured on the 270 shared in-the-wild photos (``bench/inference.py``, 2 CPU cores):
yuface finds a face in 268 (99.3%) in 11 ms (median), the Haar cascade in 195
(72.2%) in 26 ms; Haar misses nearly every small, tight webcam crop. So yuface
is the default.

Every detector takes ``min_face``, the smallest face to look for in pixels of the
image; each works on a copy scaled so that such a face is the size it finds well
(``working_side``), which keeps video frames cheap and still finds the faces of a
large group photo.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ferkit.errors import FerkitError

DEFAULT_DETECTOR = "yuface"


class DetectorError(FerkitError, ValueError):
    """An unknown detector name or a detector that cannot start."""


@dataclass(frozen=True)
class FaceBox:
    """A face found in an image, in the image's pixel coordinates.

    Attributes:
        x: left edge.
        y: top edge.
        w: width.
        h: height.
        score: the detector's confidence in [0, 1]; compare scores of one detector only.
        landmarks: (x, y) points where the detector gives them (yuface: the two eyes, the nose
            tip and the two mouth corners, in the image's pixels); empty otherwise.
    """

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0
    landmarks: tuple[tuple[float, float], ...] = field(default=(), compare=False, repr=False)

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: FaceBox) -> float:
        """Intersection over union of the two boxes (0 when they do not overlap)."""
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict:
        """The box and score: the fields of the CSV/JSON outputs (landmarks stay out of them)."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": self.score}


class FaceDetector(Protocol):
    """What every detector implements."""

    name: str

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR (H, W, 3) or grey (H, W) uint8 image, best score first."""
        ...


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        cls.name = name
        _DETECTORS[name] = cls
        return cls

    return add


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def create_detector(name: str = DEFAULT_DETECTOR, **options) -> FaceDetector:
    """Build a registered detector.

    Args:
        name: one of ``list_detectors()``.
        **options: the detector's own options (``max_side``, ``min_score``, ...).

    Raises:
        DetectorError: an unknown name.
    """
    check_detector(name)
    return _DETECTORS[name](**options)


def check_detector(name: str) -> None:
    """Raise ``DetectorError`` naming the available detectors unless ``name`` is one."""
    if name not in _DETECTORS:
        raise DetectorError(f"unknown face detector {name!r}; available: {', '.join(list_detectors())}")


def _downscaled(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk so its longer side is at most ``max_side``, and the factor to map boxes back."""
    import cv2

    longest = max(image.shape[:2])
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    h, w = image.shape[:2]
    # At least one pixel a side: a 20000x8 strip must shrink to a thin image, not to none.
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, 1.0 / scale


def check_min_face(min_face: int) -> int:
    """``min_face`` itself, or a ``DetectorError`` when it is not a positive number of pixels."""
    if min_face < 1:
        raise DetectorError(f"min_face must be at least 1 pixel, got {min_face}")
    return min_face


def working_side(longest: int, min_face: int, found_from: int, floor: int = 0, cap: int = 0) -> int:
    """The longer side of the copy a detector works on, so that a face of ``min_face`` pixels in the
    image spans ``found_from`` pixels there (the size the detector finds reliably).

    Detection cost grows with pixel count, so the copy is as small as the smallest wanted face allows:
    at least ``floor`` (cheap anyway), at most ``cap`` (0: no cap; bounds the cost on huge photos),
    never larger than the image (upscaling finds faces too small to read an expression from).
    """
    side = max(floor, -(-longest * found_from // check_min_face(min_face)))
    if cap > 0:
        side = min(side, cap)
    return min(side, longest)


def _to_boxes(rows: list[tuple], back: float, shape: tuple[int, ...]) -> list[FaceBox]:
    """(x, y, w, h, score[, landmarks]) rows on the small copy -> boxes clipped to the full image, best first."""
    height, width = shape[:2]
    boxes = []
    for x, y, w, h, score, *points in rows:
        x0, y0 = max(0, round(x * back)), max(0, round(y * back))
        x1, y1 = min(width, round((x + w) * back)), min(height, round((y + h) * back))
        marks = tuple((px * back, py * back) for px, py in points[0]) if points else ()
        if x1 > x0 and y1 > y0:
            boxes.append(FaceBox(x0, y0, x1 - x0, y1 - y0, float(score), marks))
    return sorted(boxes, key=lambda b: -b.score)


@register_detector("yuface")
class YuFaceDetector:
    """libfacedetection's CNN (the ``yuface`` wheel, BSD-3, weights compiled in).

    It finds about 90% of faces whose box spans ``FOUND_FROM`` (40) pixels of the copy it works on
    and few below 24, so the copy's size follows the smallest face wanted. Faces pasted into a
    640x480 frame (``bench/inference.py --only face_size_recall``, 60 shared photos): with the
    default, 87% of 100-px faces are found, 47% of 64-px and 7% of 48-px ones, in 8.7 ms; with
    ``min_face=64``, 90% of 64-px faces in 22.4 ms; with ``min_face=48``, 90% of 48-px faces in
    37.9 ms.

    Args:
        min_score: drop faces the network scores below this (0-1).
        min_face: smallest face to look for, as the width in pixels of the given image; the copy is
            at least ``MIN_SIDE`` (256) px and never upscaled. None: 100 px, searched on a copy of at
            most ``DEFAULT_CAP`` (1024) px: a 640x480 frame is searched at 256 px as it always was,
            a 12-megapixel photo at 1024 px for faces from about 160 px (194 ms with the resize).
            Given, faces of that size are looked for in any image, whatever it costs.
        max_side: the copy's longer side is at most this (0: no cap). None: ``DEFAULT_CAP`` with the
            default ``min_face``, no cap with a given one.
        threads: OpenMP threads of the network. One is fastest on small images and does
            not fight other work for the cores (two threads on 2 busy cores: 20x slower).
    """

    name = "yuface"
    FOUND_FROM = 40
    MIN_SIDE = 256
    DEFAULT_MIN_FACE = 100
    DEFAULT_CAP = 1024

    def __init__(self, min_score: float = 0.5, min_face: int | None = None, max_side: int | None = None,
                 threads: int = 1) -> None:
        try:
            import yuface
        except ImportError:
            raise DetectorError("the yuface detector needs the yuface package: pip install yuface") from None
        if max_side is None:
            max_side = self.DEFAULT_CAP if min_face is None else 0
        min_face = self.DEFAULT_MIN_FACE if min_face is None else check_min_face(min_face)  # now, not at an image
        self._detect = yuface.c_detect
        self._openmp = _OpenMPThreads(yuface.__file__)
        self.min_score, self.min_face, self.max_side, self.threads = min_score, min_face, max_side, threads

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        import cv2

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        side = working_side(max(image.shape[:2]), self.min_face, self.FOUND_FROM, self.MIN_SIDE, self.max_side)
        small, back = _downscaled(image, side)
        with self._openmp.limit(self.threads):
            # (N, 16) int16: score 0-100, x, y, w, h, 5 landmarks (x, y), one unused column
            found = self._detect(np.ascontiguousarray(small))
        rows = [(x, y, w, h, s / 100.0, tuple(zip(marks[0:10:2], marks[1:10:2], strict=True)))
                for s, x, y, w, h, *marks in found[:, :15].tolist() if s / 100.0 >= self.min_score]
        return _to_boxes(rows, back, image.shape)


class _OpenMPThreads:
    """Sets how many OpenMP threads yuface's network uses, around each call.

    yuface ships its own libgomp, but once torch is imported its calls bind to
    torch's libgomp (loaded into the global symbol scope), whose thread count is
    torch's. So both runtimes are set, and restored afterwards so that torch keeps
    its own setting.
    """

    def __init__(self, module_file: str) -> None:
        self._libs = [ctypes.CDLL(None)]  # the global scope: torch's libgomp when torch is loaded
        bundled = Path(module_file).resolve().parent.parent / "yuface.libs"
        for lib in sorted(bundled.glob("libgomp*.so*"))[:1]:
            try:
                self._libs.append(ctypes.CDLL(str(lib)))
            except OSError:
                pass

    def _runtimes(self) -> list:
        found = []
        for lib in self._libs:
            try:  # looked up on every call: torch may have been imported since
                found.append((lib.omp_get_max_threads, lib.omp_set_num_threads))
            except AttributeError:
                continue
        return found

    @contextmanager
    def limit(self, threads: int):
        runtimes = self._runtimes()
        saved = [get() for get, _ in runtimes]
        for _, set_threads in runtimes:
            set_threads(threads)
        try:
            yield
        finally:
            for (_, set_threads), value in zip(runtimes, saved, strict=True):
                set_threads(value)


@register_detector("haar")
class HaarDetector:
    """OpenCV's bundled frontal-face Haar cascade (``haarcascade_frontalface_default.xml``).

    Args:
        min_neighbors: overlapping detections needed to accept a face; fewer finds more and errs more.
        scale_factor: step between the pyramid's scales.
        min_size: smallest face, as a fraction of the shorter side of the (downscaled) image.
        max_side: detect on a copy whose longer side is at most this many pixels (0: full size).
        min_face: smallest face to look for, as the width in pixels of the given image; when given it
            replaces ``min_size`` and ``max_side``: the copy is scaled so that such a face spans the
            cascade's 24-pixel window (never upscaled). None: the relative rule above.

    The score is ``n / (n + min_neighbors)`` for a face backed by ``n`` neighbours.
    """

    name = "haar"
    CASCADE = "haarcascade_frontalface_default.xml"
    WINDOW = 24  # the cascade's training size: the smallest face it can find

    def __init__(self, min_neighbors: int = 5, scale_factor: float = 1.1, min_size: float = 0.08,
                 max_side: int = 320, min_face: int | None = None) -> None:
        import cv2

        if min_face is not None:
            check_min_face(min_face)  # now, not at the first image

        path = Path(cv2.data.haarcascades) / self.CASCADE
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DetectorError(f"{path}: OpenCV's Haar cascade is missing from the opencv install")
        self.min_neighbors, self.scale_factor = min_neighbors, scale_factor
        self.min_size, self.max_side, self.min_face = min_size, max_side, min_face

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        import cv2

        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.min_face is None:
            small, back = _downscaled(grey, self.max_side)
            side = max(12, round(self.min_size * min(small.shape)))
        else:
            small, back = _downscaled(grey, working_side(max(grey.shape), self.min_face, self.WINDOW))
            side = self.WINDOW
        boxes, neighbours = self._cascade.detectMultiScale2(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side))
        found = zip(np.asarray(boxes).reshape(-1, 4).tolist(), np.ravel(neighbours).tolist(), strict=True)
        rows = [(x, y, w, h, n / (n + self.min_neighbors)) for (x, y, w, h), n in found]
        return _to_boxes(rows, back, image.shape)


def detect_faces(image: np.ndarray, detector: str = DEFAULT_DETECTOR, **options) -> list[FaceBox]:
    """Faces in one BGR or grey uint8 image with the named detector, best score first.

    Args:
        image: (H, W, 3) BGR or (H, W) grey uint8, as ``cv2.imread`` gives.
        detector: one of ``list_detectors()``.
        **options: the detector's options.
    """
    return create_detector(detector, **options).detect(image)
