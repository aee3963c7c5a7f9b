"""Temperature scaling and calibration error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 200) -> float:
    """The temperature T > 0 minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    Args:
        logits: (N, C) raw logits on held-out data.
        labels: (N,) class indices.
    """
    logits, labels = logits.detach().double(), labels.detach()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # T = exp(log_t) stays positive
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


@dataclass(frozen=True)
class ReliabilityBins:
    """Accuracy against confidence in equal-width confidence bins: the data of a reliability diagram.

    Attributes:
        edges: (n_bins + 1,) bin edges from 0 to 1; bin i holds confidences in (edges[i], edges[i + 1]].
        count: (n_bins,) predictions per bin.
        accuracy: (n_bins,) share of correct predictions per bin (NaN for an empty bin).
        confidence: (n_bins,) mean top-1 probability per bin (NaN for an empty bin).
    """

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        """Sum over bins of |accuracy - confidence| weighted by the bin's share of predictions."""
        full = self.count > 0
        if not full.any():
            return 0.0
        weight = self.count[full] / self.count.sum()
        return float((weight * np.abs(self.accuracy[full] - self.confidence[full])).sum())


def _confidence_bins(conf: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Each confidence's bin: bin i holds (i/n, (i+1)/n]; a confidence of exactly 0 cannot occur with softmax."""
    return torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> ReliabilityBins:
    """Bin predictions by their top-1 probability.

    Args:
        probs: (N, C) probabilities.
        labels: (N,) class indices.
        n_bins: equal-width bins over [0, 1].
    """
    conf, pred = probs.detach().max(dim=1)
    conf, correct = conf.double(), (pred == labels).double()
    bins = _confidence_bins(conf, n_bins)
    count = torch.bincount(bins, minlength=n_bins).double()
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (torch.bincount(bins, correct, minlength=n_bins) / count).numpy()
        confidence = (torch.bincount(bins, conf, minlength=n_bins) / count).numpy()
    return ReliabilityBins(np.linspace(0, 1, n_bins + 1), count.long().numpy(), accuracy, confidence)


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| * share of samples.

    Args:
        probs: (N, C) probabilities.
        labels: (N,) class indices.
    """
    return reliability_bins(probs, labels, n_bins).ece


def simulated_ece(probs: torch.Tensor, n_bins: int = 15, draws: int = 500, seed: int = 0) -> np.ndarray:
    """The ECE of ``draws`` test sets on which a model with these confidences is perfectly calibrated.

    Right probabilities still give an ECE above 0 on a finite test set: each bin's accuracy is a sample. Here
    each face's top-1 prediction is right with probability equal to its confidence, in each of ``draws``
    simulated test sets (a fixed seed, so the figures are reproducible).

    Args:
        probs: (N, C) probabilities.
        n_bins: equal-width bins over [0, 1], as ``expected_calibration_error``.
        draws: simulated test sets.
        seed: of the draws.
    """
    conf = probs.detach().double().max(dim=1).values
    bins = _confidence_bins(conf, n_bins)
    gen = torch.Generator().manual_seed(seed)
    correct = (torch.rand(len(conf), draws, generator=gen, dtype=torch.float64) < conf[:, None]).double()
    right = torch.zeros(n_bins, draws, dtype=torch.float64).index_add_(0, bins, correct)
    expected = torch.bincount(bins, conf, minlength=n_bins).double()
    # sum over bins of share * |accuracy - confidence| = sum over bins of |right - expected| / N
    return ((right - expected[:, None]).abs().sum(0) / len(conf)).numpy()


def ece_floor(probs: torch.Tensor, n_bins: int = 15, draws: int = 500, seed: int = 0) -> float:
    """The ECE that a perfectly calibrated model with these confidences would show on average, on this many faces:
    the mean of ``simulated_ece``. An ECE near it is as calibrated as the faces can show."""
    return float(simulated_ece(probs, n_bins, draws, seed).mean())
