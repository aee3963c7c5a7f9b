"""Several sources in one dataset, each with its own per-row sampling weight."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ferkit.data.dataset import DataError, FaceDataset, concat
from ferkit.labels import NUM_CLASSES


def combine(parts: Sequence[tuple[FaceDataset, float]], name: str = "") -> FaceDataset:
    """Stack datasets, multiplying each source's row weights by its weight.

    A sampler that draws rows in proportion to ``weight`` then draws a face of a
    source with weight 0.5 half as often as a face of a source with weight 1
    (``TrainConfig.affectnet_weight``'s meaning). When only some sources have
    soft labels, the others get one-hot soft labels so that none are lost.

    Args:
        parts: ``(dataset, weight)`` pairs; weights must be >= 0.
        name: the combined dataset's name; by default the sources' names joined by ``+``.

    Raises:
        DataError: no parts, or a negative weight.
    """
    if not parts:
        raise DataError("combine() needs at least one (dataset, weight) pair")
    weighted = []
    any_soft = any(ds.soft_labels is not None for ds, _ in parts)
    for ds, w in parts:
        if not w >= 0:
            raise DataError(f"weight of {ds.name or 'a dataset'} must be >= 0, got {w}")
        soft = ds.soft_labels
        if any_soft and soft is None:
            soft = np.eye(NUM_CLASSES, dtype=np.float32)[ds.labels]
        weighted.append(replace(ds, weight=(ds.weight * w).astype(np.float32), soft_labels=soft))
    return concat(weighted, name=name)
