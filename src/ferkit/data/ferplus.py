"""FER+ labels (``fer2013new.csv``): 10 annotators' votes per FER2013 row, joined by row position.

The majority label follows the FER+ paper's majority-vote scheme, in the
7-class setting: contempt votes count as disgust, then the row keeps the label
with strictly the most votes among the 7 emotions, ``unknown`` and ``NF``. Rows
are dropped where that maximum is tied, where it is ``unknown`` or ``NF``, or
where FER+ left the image name empty (not a face). Soft labels are the
distribution of the 7 emotion votes (``unknown`` and ``NF`` votes left out).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ferkit.data.dataset import DataError, FaceDataset
from ferkit.data.fer2013_csv import USAGE_TO_SPLIT
from ferkit.labels import FERPLUS_DROPPED_COLUMNS, FERPLUS_VOTE_COLUMNS, NUM_CLASSES, label_index

HEADER = ("Usage", "Image name", *FERPLUS_VOTE_COLUMNS, *FERPLUS_DROPPED_COLUMNS)
NO_LABEL = -1

# (8, 7): FER+ emotion vote columns -> ferkit classes; contempt lands on disgust.
_MERGE = np.zeros((len(FERPLUS_VOTE_COLUMNS), NUM_CLASSES), dtype=np.int64)
_MERGE[np.arange(len(FERPLUS_VOTE_COLUMNS)), [label_index(c) for c in FERPLUS_VOTE_COLUMNS]] = 1


@dataclass(frozen=True)
class FerPlusVotes:
    """The votes of ``fer2013new.csv``, one row per FER2013 CSV row.

    Attributes:
        split: (N,) str, ``train``/``val``/``test`` from FER+'s Usage column.
        votes: (N, 7) int64 emotion votes in ferkit's class order, contempt merged into disgust.
        unknown: (N,) int64 ``unknown`` votes.
        not_face: (N,) int64 ``NF`` votes.
        named: (N,) bool, False where the image name is empty (FER+ judged it not a face).
    """

    split: np.ndarray
    votes: np.ndarray
    unknown: np.ndarray
    not_face: np.ndarray
    named: np.ndarray

    def __len__(self) -> int:
        return len(self.split)

    def majority(self) -> np.ndarray:
        """(N,) int64 majority class, ``NO_LABEL`` (-1) where the row is dropped."""
        return ferplus_majority(self.votes, self.unknown, self.not_face, self.named)

    def distribution(self) -> np.ndarray:
        """(N, 7) float32 share of each emotion among the emotion votes; zeros where there are none."""
        total = self.votes.sum(axis=1, keepdims=True)
        return (self.votes / np.maximum(total, 1)).astype(np.float32)


def ferplus_majority(votes: np.ndarray, unknown: np.ndarray, not_face: np.ndarray,
                     named: np.ndarray) -> np.ndarray:
    """The FER+ majority label per row, or ``NO_LABEL``.

    Args:
        votes: (N, 7) emotion votes in ferkit order.
        unknown: (N,) ``unknown`` votes.
        not_face: (N,) ``NF`` votes.
        named: (N,) False for rows FER+ marks as not a face (empty image name).
    """
    every = np.column_stack([votes, unknown, not_face])  # (N, 9)
    top = every.max(axis=1, keepdims=True)
    unique_top = (every == top).sum(axis=1) == 1
    winner = every.argmax(axis=1)
    keep = unique_top & (winner < NUM_CLASSES) & named & (top[:, 0] > 0)
    return np.where(keep, winner, NO_LABEL).astype(np.int64)


def load_ferplus(path: str | Path) -> FerPlusVotes:
    """Read ``fer2013new.csv``.

    Args:
        path: the FER+ vote file.

    Raises:
        DataError: a missing file, other columns, or a row that is not Usage, name and 10 counts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read as the FER+ vote file ({e})") from None
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        found = ",".join(rows[0])[:100] if rows else "nothing"
        raise DataError(f"{path}: expected FER+ columns {','.join(HEADER)}, found {found!r}")
    rows = [r for r in rows[1:] if r]
    counts = np.empty((len(rows), len(HEADER) - 2), dtype=np.int64)
    for i, row in enumerate(rows):
        here = f"{path}: row {i + 1} (line {i + 2})"
        if len(row) != len(HEADER):
            raise DataError(f"{here}: expected {len(HEADER)} fields, found {len(row)} (truncated file?)")
        if row[0] not in USAGE_TO_SPLIT:
            raise DataError(f"{here}: unknown Usage {row[0]!r}")
        try:
            counts[i] = [int(c) for c in row[2:]]
        except ValueError:
            raise DataError(f"{here}: vote counts must be integers, found {','.join(row[2:])!r}") from None
    n_emotions = len(FERPLUS_VOTE_COLUMNS)
    return FerPlusVotes(
        split=np.array([USAGE_TO_SPLIT[r[0]] for r in rows]),
        votes=counts[:, :n_emotions] @ _MERGE,
        unknown=counts[:, n_emotions],
        not_face=counts[:, n_emotions + 1],
        named=np.array([bool(r[1].strip()) for r in rows]),
    )


def fer2013_rows(dataset: FaceDataset) -> np.ndarray:
    """(N,) int64 FER2013 CSV row of each face, read from its ``fer2013:<row>`` source id.

    Raises:
        DataError: when a face did not come from the FER2013 CSV (the folder tree's
            file names do not give the row, so FER+ cannot be joined to it).
    """
    prefix = "fer2013:"
    if not np.char.startswith(dataset.source.astype(str), prefix).all():
        other = next(str(s) for s in dataset.source if not str(s).startswith(prefix))
        raise DataError(f"FER+ labels join FER2013 by CSV row, but {dataset.name or 'the dataset'} has faces "
                        f"from elsewhere (e.g. {other!r}); load fer2013.csv(.gz) for FER+ labels")
    return np.array([int(s[len(prefix):]) for s in dataset.source.tolist()], dtype=np.int64)


def ferplus_rows(dataset: FaceDataset, votes: FerPlusVotes) -> np.ndarray:
    """(N,) FER+ row of each face, checked: every face from the FER2013 CSV, in a FER+ row of its own split.

    Raises:
        DataError: rows not from the FER2013 CSV, more rows than FER+ has, or a
            split that disagrees with FER+'s Usage (the files are not row-aligned).
    """
    rows = fer2013_rows(dataset)
    if len(rows) and rows.max() >= len(votes):
        raise DataError(f"FER+ has {len(votes)} rows but the dataset has FER2013 row {rows.max() + 1}: "
                        "not the FER+ file of this FER2013 CSV")
    if (wrong := np.flatnonzero(votes.split[rows] != dataset.split)).size:
        r = rows[wrong[0]]
        raise DataError(f"FER2013 row {r + 1} is {dataset.split[wrong[0]]} but FER+ row {r + 1} is "
                        f"{votes.split[r]}: the two files are not row-aligned")
    return rows


def majority_labels(dataset: FaceDataset, ferplus: str | Path | FerPlusVotes) -> np.ndarray:
    """(N,) int64 FER+ majority label of each face, ``NO_LABEL`` where FER+ has none; errors as ``ferplus_rows``."""
    votes = ferplus if isinstance(ferplus, FerPlusVotes) else load_ferplus(ferplus)
    return votes.majority()[ferplus_rows(dataset, votes)]


def apply_ferplus(dataset: FaceDataset, ferplus: str | Path | FerPlusVotes, soft: bool = False) -> FaceDataset:
    """Relabel FER2013 rows with FER+ majority labels, dropping rows without one.

    Args:
        dataset: loaded from the FER2013 CSV (any subset of its rows).
        ferplus: ``fer2013new.csv`` or its loaded votes.
        soft: also set ``soft_labels`` to the FER+ vote distribution.

    Raises:
        DataError: rows not from the FER2013 CSV, more rows than FER+ has, or a
            split that disagrees with FER+'s Usage (the files are not row-aligned).
    """
    votes = ferplus if isinstance(ferplus, FerPlusVotes) else load_ferplus(ferplus)
    rows = ferplus_rows(dataset, votes)
    label = votes.majority()[rows]
    keep = label != NO_LABEL
    return replace(dataset.subset(keep), labels=label[keep], name=f"{dataset.name}+ferplus",
                   soft_labels=votes.distribution()[rows[keep]] if soft else None)


def blend_ferplus(dataset: FaceDataset, ferplus: str | Path | FerPlusVotes, weight: float) -> FaceDataset:
    """Keep FER2013's labels and set ``soft_labels`` to ``(1 - weight)`` of each face's one-hot label plus
    ``weight`` of its FER+ vote distribution; faces without a FER+ majority keep the one-hot label alone.

    The FER+ votes enter as a share of the target rather than replacing it (``apply_ferplus``), so that a model
    trained on the blend still learns FER2013's labels, which its test figures are scored against.

    Raises:
        DataError: as ``ferplus_rows``, or a weight outside [0, 1].
    """
    if not 0 <= weight <= 1:
        raise DataError(f"the FER+ weight must be in [0, 1], got {weight}")
    votes = ferplus if isinstance(ferplus, FerPlusVotes) else load_ferplus(ferplus)
    rows = ferplus_rows(dataset, votes)
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)[dataset.labels]
    has_votes = (votes.majority()[rows] != NO_LABEL)[:, None]
    soft = np.where(has_votes, (1 - weight) * one_hot + weight * votes.distribution()[rows], one_hot)
    return replace(dataset, soft_labels=soft.astype(np.float32))
