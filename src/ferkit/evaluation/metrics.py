"""Classification metrics of logits against labels: the numbers of the evaluation report.

Per-class figures and AUROC come from torchmetrics; calibration from
``ferkit.evaluation.calibration``. Everything is computed on the CPU from
(N, C) logits, so a test can check it against values worked out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ferkit.evaluation.calibration import ece_floor, reliability_bins
from ferkit.labels import EMOTIONS

ECE_BINS = 15


def rounded(x: float | None, digits: int = 5) -> float | None:
    """A figure for JSON: rounded, with None for a missing or undefined (NaN) value."""
    return None if x is None or x != x else round(float(x), digits)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose top-1 class is the label (NaN without rows)."""
    return float((logits.argmax(1) == labels).double().mean()) if len(labels) else float("nan")


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int = 2) -> float:
    """Share of rows whose label is among the ``k`` highest logits (NaN without rows)."""
    if not len(labels):
        return float("nan")
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices  # (N, k)
    return float((top == labels[:, None]).any(dim=1).double().mean())


@dataclass(frozen=True)
class PairedDifference:
    """How much more often model A is right than model B on the same faces, with a bootstrap interval.

    Attributes:
        delta: A's accuracy minus B's, in points (percent).
        low, high: the 2.5th and 97.5th percentiles of that difference over faces resampled with
            replacement (both models scored on each resample), in points.
        only_a, only_b: faces that only A, or only B, gets right; the rest do not move the difference.
    """

    delta: float
    low: float
    high: float
    only_a: int
    only_b: int

    def to_dict(self) -> dict:
        return {"delta": round(self.delta, 2), "ci95": [round(self.low, 2), round(self.high, 2)],
                "only_a": self.only_a, "only_b": self.only_b}


def paired_difference(right_a: torch.Tensor, right_b: torch.Tensor, resamples: int = 10_000,
                      seed: int = 0) -> PairedDifference:
    """Accuracy of A minus B on the same faces (``right_*``: one bool per face), with a 95% paired bootstrap.

    Two models scored on the same 3,589 faces are far more alike than two independent samples, so
    the interval comes from resampling faces, not from each accuracy's own error. An interval that
    holds zero means the test set cannot tell the two apart.
    """
    if right_a.shape != right_b.shape or right_a.ndim != 1 or not len(right_a):
        raise ValueError(f"paired_difference needs two equal, non-empty 1-D vectors, got {tuple(right_a.shape)} "
                         f"and {tuple(right_b.shape)}")
    diff = right_a.double() - right_b.double()
    gen = torch.Generator().manual_seed(seed)
    means = torch.empty(resamples, dtype=torch.float64)
    for start in range(0, resamples, 1000):  # 1,000 resamples at a time keeps memory at 8 bytes x 1,000 x N
        rows = torch.randint(len(diff), (min(1000, resamples - start), len(diff)), generator=gen)
        means[start:start + len(rows)] = diff[rows].mean(1)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return PairedDifference(delta=float(diff.mean()) * 100, low=low * 100, high=high * 100,
                            only_a=int((diff > 0).sum()), only_b=int((diff < 0).sum()))


def row_normalise(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall on the diagonal); rows of a class with no faces stay 0."""
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros(confusion.shape, dtype=np.float64), where=totals > 0)


@dataclass(frozen=True)
class ClassMetrics:
    """One class's figures, one-vs-rest.

    Attributes:
        precision: of the faces predicted as this class, the share that are (0 when none is predicted).
        recall: of the faces of this class, the share predicted as it.
        f1: harmonic mean of the two (0 when both are 0).
        support: faces of this class.
        auroc: area under the ROC curve of this class's probability; None when the class
            has no faces or only faces (the curve is undefined).
    """

    precision: float
    recall: float
    f1: float
    support: int
    auroc: float | None

    def to_dict(self) -> dict:
        return {"precision": rounded(self.precision), "recall": rounded(self.recall), "f1": rounded(self.f1),
                "support": self.support, "auroc": rounded(self.auroc)}


@dataclass(frozen=True)
class ClassificationMetrics:
    """What a model scores on labelled faces.

    Attributes:
        n: faces.
        accuracy: top-1 accuracy.
        top2_accuracy: share of faces whose label is one of the two most likely classes.
        loss: cross-entropy of the calibrated probabilities ``softmax(logits / temperature)``.
        loss_uncalibrated: cross-entropy of ``softmax(logits)``.
        ece: expected calibration error of the calibrated probabilities (``ECE_BINS`` bins).
        ece_uncalibrated: the same before temperature scaling.
        ece_floor: the ECE a perfectly calibrated model with the same confidences would show on these faces on
            average (``calibration.ece_floor``): how low ``ece`` can be on this many faces.
        temperature: the temperature applied.
        per_class: class name -> its figures, in ``ferkit.labels.EMOTIONS`` order.
        confusion_matrix: (C, C) counts; row = true class, column = predicted class.
    """

    n: int
    accuracy: float
    top2_accuracy: float
    loss: float
    loss_uncalibrated: float
    ece: float
    ece_uncalibrated: float
    ece_floor: float
    temperature: float
    per_class: dict[str, ClassMetrics]
    confusion_matrix: np.ndarray

    @property
    def macro_f1(self) -> float:
        return float(np.mean([c.f1 for c in self.per_class.values()]))

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes that have faces."""
        recalls = [c.recall for c in self.per_class.values() if c.support]
        return float(np.mean(recalls)) if recalls else float("nan")

    @property
    def macro_auroc(self) -> float | None:
        values = [c.auroc for c in self.per_class.values() if c.auroc is not None]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict:
        return {
            "n": self.n, "accuracy": rounded(self.accuracy), "top2_accuracy": rounded(self.top2_accuracy),
            "balanced_accuracy": rounded(self.balanced_accuracy), "macro_f1": rounded(self.macro_f1),
            "macro_auroc": rounded(self.macro_auroc), "loss": rounded(self.loss),
            "loss_uncalibrated": rounded(self.loss_uncalibrated),
            "ece": rounded(self.ece), "ece_uncalibrated": rounded(self.ece_uncalibrated), "ece_bins": ECE_BINS,
            "ece_floor": rounded(self.ece_floor),
            "temperature": rounded(self.temperature),
            "per_class": {name: c.to_dict() for name, c in self.per_class.items()},
            "confusion_matrix": self.confusion_matrix.tolist(),
        }


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0,
                           class_names: tuple[str, ...] = EMOTIONS) -> ClassificationMetrics:
    """Every figure of the report's headline and classification table.

    Args:
        logits: (N, C) raw (uncalibrated) logits.
        labels: (N,) class indices.
        temperature: the calibration temperature; ``loss`` and ``ece`` use ``logits / temperature``.
        class_names: C names in output order.

    Raises:
        ValueError: no rows, or shapes that do not match.
    """
    from torchmetrics.functional.classification import (
        multiclass_auroc, multiclass_confusion_matrix, multiclass_f1_score, multiclass_precision, multiclass_recall,
    )

    logits, labels = logits.detach().float(), labels.detach().long()
    n, c = logits.shape
    if n == 0 or len(labels) != n or len(class_names) != c:
        raise ValueError(f"need (N, {len(class_names)}) logits and N labels with N > 0, "
                         f"got {tuple(logits.shape)} and {tuple(labels.shape)}")
    probs = (logits / temperature).softmax(1)
    pred = logits.argmax(1)
    per_class_args = dict(num_classes=c, average="none", zero_division=0)
    precision = multiclass_precision(pred, labels, **per_class_args).tolist()
    recall = multiclass_recall(pred, labels, **per_class_args).tolist()
    f1 = multiclass_f1_score(pred, labels, **per_class_args).tolist()
    support = torch.bincount(labels, minlength=c).tolist()
    auroc = _auroc_per_class(multiclass_auroc, probs, labels, support)
    return ClassificationMetrics(
        n=n,
        accuracy=accuracy(logits, labels),
        top2_accuracy=top_k_accuracy(logits, labels, 2),
        loss=float(F.cross_entropy(logits / temperature, labels)),
        loss_uncalibrated=float(F.cross_entropy(logits, labels)),
        ece=reliability_bins(probs, labels, ECE_BINS).ece,
        ece_uncalibrated=reliability_bins(logits.softmax(1), labels, ECE_BINS).ece,
        ece_floor=ece_floor(probs, ECE_BINS),
        temperature=float(temperature),
        per_class={name: ClassMetrics(precision[i], recall[i], f1[i], support[i], auroc[i])
                   for i, name in enumerate(class_names)},
        confusion_matrix=multiclass_confusion_matrix(pred, labels, num_classes=c).numpy().astype(np.int64),
    )


def _auroc_per_class(multiclass_auroc, probs: torch.Tensor, labels: torch.Tensor,
                     support: list[int]) -> list[float | None]:
    """One-vs-rest AUROC per class; None where a class has no faces or only faces."""
    n = len(labels)
    defined = [0 < s < n for s in support]
    if not any(defined):
        return [None] * len(support)
    # torchmetrics warns and scores 0 for an undefined class: only its defined values are kept.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = multiclass_auroc(probs, labels, num_classes=probs.shape[1], average="none").tolist()
    return [v if ok else None for v, ok in zip(values, defined)]
