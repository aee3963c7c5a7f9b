"""The one typed dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS, NUM_CLASSES

SPLITS: tuple[str, ...] = ("train", "val", "test")
FACE_SIZE = 48


class DataError(FerkitError, ValueError):
    """A dataset file or folder that cannot be read; the message names it and the problem."""


@dataclass
class FaceDataset:
    """Faces with labels, in ferkit's label order.

    Attributes:
        faces: (N, 48, 48) uint8 grey faces.
        labels: (N,) int64 class indices into ``ferkit.labels.EMOTIONS``.
        split: (N,) str, one of ``SPLITS``.
        source: (N,) str, a stable id per row (file and row or image path).
        soft_labels: optional (N, 7) float32 label distributions (rows sum to 1).
        weight: per-row sampling weight, (N,) float32 (a combined dataset sets it per source).
        name: what the data came from, for reports.
    """

    faces: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    source: np.ndarray
    soft_labels: np.ndarray | None = None
    weight: np.ndarray | None = None
    name: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.faces)
        if self.faces.dtype != np.uint8 or self.faces.shape[1:] != (FACE_SIZE, FACE_SIZE):
            raise ValueError(f"faces must be (N, 48, 48) uint8, got {self.faces.shape} {self.faces.dtype}")
        for attr in ("labels", "split", "source"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"{attr} has {len(getattr(self, attr))} rows, faces has {n}")
        if self.soft_labels is not None and self.soft_labels.shape != (n, NUM_CLASSES):
            raise ValueError(f"soft_labels must be ({n}, {NUM_CLASSES}), got {self.soft_labels.shape}")
        if self.weight is None:
            self.weight = np.ones(n, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.faces)

    def subset(self, index: np.ndarray) -> FaceDataset:
        """Rows selected by a boolean mask or an index array."""
        return FaceDataset(
            faces=self.faces[index],
            labels=self.labels[index],
            split=self.split[index],
            source=self.source[index],
            soft_labels=None if self.soft_labels is None else self.soft_labels[index],
            weight=self.weight[index],
            name=self.name,
            extra=dict(self.extra),  # notes about the load (e.g. skipped files) still hold
        )

    def by_split(self, split: str) -> FaceDataset:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return self.subset(self.split == split)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {name: int(c) for name, c in zip(EMOTIONS, counts)}


def concat(parts: list[FaceDataset], name: str = "") -> FaceDataset:
    """Stack datasets; soft labels are kept only if every part has them."""
    soft = None
    if all(p.soft_labels is not None for p in parts):
        soft = np.concatenate([p.soft_labels for p in parts])
    return FaceDataset(
        faces=np.concatenate([p.faces for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        split=np.concatenate([p.split for p in parts]),
        source=np.concatenate([p.source for p in parts]),
        soft_labels=soft,
        weight=np.concatenate([p.weight for p in parts]),
        name=name or "+".join(p.name for p in parts),
    )
