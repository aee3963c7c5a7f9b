""""In the wild": the recognizer on real photos, scored against their weak labels.

A photo set is a zip or folder of images, optionally with a ``legend.csv``
anywhere inside (``user.id,image,emotion``, as in the shared
``facial_expressions_sample.zip``). Its labels are crowd-sourced and noisy, in
no consistent case: they map through ``ferkit.labels.label_index``, and a label
no mapping knows is counted and skipped. The accuracy against them is a weak
check of the whole pipeline (detection, crop, classification), not a benchmark.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np

from ferkit.data.image_tree import ImageTree
from ferkit.errors import FerkitError
from ferkit.evaluation.metrics import rounded
from ferkit.inference.results import ImageResult
from ferkit.labels import EMOTIONS, UnknownLabelError, label_index

LEGEND = "legend.csv"
# Photos decoded and classified together: bounds memory on a large folder.
CHUNK = 32


class PhotoSetError(FerkitError, ValueError):
    """A photo set without images, or a legend that cannot be read."""


@dataclass(frozen=True)
class WildPhoto:
    """One photo, what the recognizer found in it, and its weak label.

    Attributes:
        name: the image's path inside the set.
        result: the faces found, best first, with the decoded image kept for plotting.
        weak_label: the legend's label as written, or None when the legend has none.
        weak_index: that label mapped onto ``EMOTIONS``, or None when it does not map.
    """

    name: str
    result: ImageResult
    weak_label: str | None = None
    weak_index: int | None = None

    @property
    def predicted(self) -> int | None:
        """Class of the detector's best face, or None when no face was found."""
        return self.result.faces[0].index if self.result.faces else None

    @property
    def scored(self) -> bool:
        """Counts towards the weak accuracy: a face was found and the label maps."""
        return self.predicted is not None and self.weak_index is not None

    @property
    def correct(self) -> bool:
        return self.scored and self.predicted == self.weak_index


@dataclass
class WildEvaluation:
    """The recognizer over one photo set.

    Attributes:
        source: the zip or folder.
        photos: every photo that could be decoded, in sorted order.
        unreadable: images that could not be decoded.
        unmapped_labels: weak labels no mapping knows -> how many photos carry them.
        has_legend: whether the set came with weak labels.
    """

    source: str
    photos: list[WildPhoto]
    unreadable: list[str] = field(default_factory=list)
    unmapped_labels: dict[str, int] = field(default_factory=dict)
    has_legend: bool = False

    @property
    def with_face(self) -> int:
        return sum(1 for p in self.photos if p.result.faces)

    @property
    def scored(self) -> int:
        return sum(1 for p in self.photos if p.scored)

    @property
    def weak_accuracy(self) -> float | None:
        """Share of scored photos whose best face's class is the weak label; None when none is scored."""
        scored = self.scored
        return sum(1 for p in self.photos if p.correct) / scored if scored else None

    def to_dict(self) -> dict:
        faces = sum(len(p.result.faces) for p in self.photos)
        predicted = Counter(EMOTIONS[p.predicted] for p in self.photos if p.predicted is not None)
        return {
            "source": self.source,
            "photos": len(self.photos),
            "unreadable": len(self.unreadable),
            "photos_with_face": self.with_face,
            "faces": faces,
            "has_weak_labels": self.has_legend,
            "weakly_labelled_scored": self.scored,
            "unmapped_weak_labels": dict(self.unmapped_labels),
            "weak_accuracy": rounded(self.weak_accuracy),
            "predicted_counts": {name: predicted.get(name, 0) for name in EMOTIONS},
        }


def read_legend(tree: ImageTree) -> dict[str, str] | None:
    """Image file name -> weak label from the first ``legend.csv`` in the set; None without one.

    Raises:
        PhotoSetError: a legend without ``image`` and ``emotion`` columns.
    """
    found = next((f for f in tree.files if PurePosixPath(f).name.lower() == LEGEND), None)
    if found is None:
        return None
    rows = csv.reader(io.StringIO(tree.read(found).decode("utf-8-sig", errors="replace")))
    header = [h.strip().lower() for h in next(rows, [])]
    if "image" not in header or "emotion" not in header:
        raise PhotoSetError(f"{tree.path}/{found}: expected columns 'image' and 'emotion', found {header}")
    image, emotion = header.index("image"), header.index("emotion")
    return {row[image].strip(): row[emotion].strip() for row in rows if len(row) > max(image, emotion)}


def _map_label(label: str | None, unmapped: Counter) -> int | None:
    if label is None:
        return None
    try:
        return label_index(label)
    except UnknownLabelError:
        unmapped[label] += 1
        return None


def evaluate_photos(recognizer, path: str | Path, keep_images: int = 12,
                    on_photo: Callable[[int], None] | None = None) -> WildEvaluation:
    """Detect and classify the faces of every photo in a zip or folder.

    Args:
        recognizer: a ``ferkit.inference.Recognizer``.
        path: a zip or folder of images, optionally with a ``legend.csv`` of weak labels.
        keep_images: keep the decoded image (for plotting) of this many photos, spread evenly
            over the sorted names; the others are dropped to bound memory.
        on_photo: called with the number of photos done after each chunk (for a progress bar).

    Raises:
        PhotoSetError: the set has no images.
        DataError: the path is missing or not a zip or folder.
    """
    import cv2

    unmapped: Counter = Counter()
    photos, unreadable = [], []
    with ImageTree(path) as tree:
        names = tree.images()
        if not names:
            raise PhotoSetError(f"{path}: no images found")
        legend = read_legend(tree)
        kept = {names[i] for i in np.linspace(0, len(names) - 1, min(keep_images, len(names))).round().astype(int)}
        for start in range(0, len(names), CHUNK):
            chunk, images = [], []
            for name in names[start:start + CHUNK]:
                image = cv2.imdecode(np.frombuffer(tree.read(name), np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    unreadable.append(name)
                else:
                    chunk.append(name)
                    images.append(image)
            for name, result in zip(chunk, recognizer.predict_many(images, chunk)):
                label = None if legend is None else legend.get(PurePosixPath(name).name)
                if name not in kept:
                    result = replace(result, image=None)
                photos.append(WildPhoto(name, result, label, _map_label(label, unmapped)))
            if on_photo is not None:
                on_photo(len(names[start:start + CHUNK]))
    return WildEvaluation(str(path), photos, unreadable, dict(unmapped), legend is not None)
