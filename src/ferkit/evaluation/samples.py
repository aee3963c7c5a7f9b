"""Which faces the report shows: pure choices over labels and probabilities."""

from __future__ import annotations

import numpy as np


def confident_mistakes(labels: np.ndarray, probs: np.ndarray, per_class: int) -> list[np.ndarray]:
    """For each true class, the wrongly classified faces the model was surest of.

    Args:
        labels: (N,) true classes.
        probs: (N, C) calibrated probabilities.
        per_class: at most this many faces per class.

    Returns:
        C index arrays, each sorted by the wrong prediction's probability, highest first.
    """
    pred, conf = probs.argmax(1), probs.max(1)
    out = []
    for c in range(probs.shape[1]):
        wrong = np.flatnonzero((labels == c) & (pred != c))
        out.append(wrong[np.argsort(-conf[wrong], kind="stable")][:per_class])
    return out


def class_examples(labels: np.ndarray, probs: np.ndarray, per_class: int) -> list[np.ndarray]:
    """For each true class, faces to explain: correct ones spread over their range of confidence.

    Spreading (rather than taking the surest) shows typical faces, not only caricatures. A class
    with too few correct faces is filled with its other faces, the surest first.

    Args:
        labels: (N,) true classes.
        probs: (N, C) calibrated probabilities.
        per_class: at most this many faces per class.

    Returns:
        C index arrays.
    """
    pred, conf = probs.argmax(1), probs.max(1)
    out = []
    for c in range(probs.shape[1]):
        right, wrong = (np.flatnonzero((labels == c) & ok) for ok in (pred == c, pred != c))
        right, wrong = (i[np.argsort(-conf[i], kind="stable")] for i in (right, wrong))
        if len(right) >= per_class:
            out.append(right[np.linspace(0, len(right) - 1, per_class).round().astype(int)])
        else:  # too few right: the class's other faces fill in
            out.append(np.concatenate([right, wrong[:per_class - len(right)]]))
    return out
