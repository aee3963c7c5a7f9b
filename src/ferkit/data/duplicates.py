"""Pixel-identical faces within and across splits, and the de-duplicated test subset.

FER2013 has 1,514 groups of identical faces (3,365 rows); 288 test and 280 val
faces equal a training face, so a model can score them from memory. Every
evaluation reports accuracy on the full test split and on the test faces with
no copy in training (``dedup_test_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferkit.data.dataset import FaceDataset


def face_groups(faces: np.ndarray) -> np.ndarray:
    """(N,) int64 id per face; pixel-identical faces share an id.

    Args:
        faces: (N, H, W) uint8.
    """
    flat = np.ascontiguousarray(faces.reshape(len(faces), -1))
    # One opaque item per face, so np.unique compares whole faces byte for byte.
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, group = np.unique(rows, return_inverse=True)
    return group.ravel().astype(np.int64)


def copies_in(dataset: FaceDataset, split: str, group: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the row's face also occurs in a *different* row of ``split``.

    Args:
        dataset: any dataset.
        split: the split searched for copies.
        group: ``face_groups(dataset.faces)`` when already computed.
    """
    group = face_groups(dataset.faces) if group is None else group
    per_group = np.bincount(group[dataset.split == split], minlength=group.max() + 1)
    # A row of `split` itself counts once in its own group: it needs a second member.
    return per_group[group] > (dataset.split == split)


def dedup_test_mask(dataset: FaceDataset) -> np.ndarray:
    """(N,) bool: test rows whose face has no pixel-identical copy in train.

    Evaluate on ``dataset.subset(dedup_test_mask(dataset))`` for the de-duplicated
    test figure (3,301 of FER2013's 3,589 test faces).
    """
    return (dataset.split == "test") & ~copies_in(dataset, "train")


@dataclass(frozen=True)
class DuplicateReport:
    """Counts of identical faces.

    Attributes:
        groups: sets of two or more pixel-identical rows.
        rows: rows in those sets.
        val_in_train: val rows whose face is also in train.
        test_in_train: test rows whose face is also in train (the leak).
        test_in_val: test rows whose face is also in val.
        dedup_test: test rows with no copy in train.
    """

    groups: int
    rows: int
    val_in_train: int
    test_in_train: int
    test_in_val: int
    dedup_test: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def find_duplicates(dataset: FaceDataset) -> DuplicateReport:
    """Count identical faces within and across splits."""
    group = face_groups(dataset.faces)
    sizes = np.bincount(group)
    is_val, is_test = dataset.split == "val", dataset.split == "test"
    in_train = copies_in(dataset, "train", group)
    return DuplicateReport(
        groups=int((sizes > 1).sum()),
        rows=int(sizes[sizes > 1].sum()),
        val_in_train=int((is_val & in_train).sum()),
        test_in_train=int((is_test & in_train).sum()),
        test_in_val=int((is_test & copies_in(dataset, "val", group)).sum()),
        dedup_test=int((is_test & ~in_train).sum()),
    )
