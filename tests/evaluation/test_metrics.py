"""The metric code against values worked out by hand on tiny examples."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferkit.evaluation.calibration import ece_floor, expected_calibration_error, fit_temperature, reliability_bins
from ferkit.evaluation.metrics import (accuracy, classification_metrics, paired_difference, row_normalise,
                                     top_k_accuracy)
from ferkit.labels import EMOTIONS, NUM_CLASSES

# 8 faces: true class, predicted class (logit 3), runner-up (logit 2); every other logit is 0.
#   face:        0  1  2  3  4  5  6  7
LABELS = [0, 0, 1, 2, 3, 3, 3, 6]
PREDS = [0, 1, 1, 2, 3, 3, 0, 5]
SECOND = [1, 0, 3, 4, 5, 6, 3, 4]


def hand_logits() -> torch.Tensor:
    logits = torch.zeros(len(LABELS), NUM_CLASSES)
    for i, (p, s) in enumerate(zip(PREDS, SECOND)):
        logits[i, p], logits[i, s] = 3.0, 2.0
    return logits


@pytest.fixture
def metrics():
    return classification_metrics(hand_logits(), torch.tensor(LABELS))


def test_accuracy_and_top2_by_hand(metrics):
    # Right: faces 0, 2, 3, 4, 5. In the top 2 as well: face 1 (runner-up 0) and face 6 (runner-up 3).
    assert metrics.n == 8
    assert metrics.accuracy == pytest.approx(5 / 8)
    assert metrics.top2_accuracy == pytest.approx(7 / 8)
    assert accuracy(hand_logits(), torch.tensor(LABELS)) == pytest.approx(5 / 8)
    assert top_k_accuracy(hand_logits(), torch.tensor(LABELS), k=1) == pytest.approx(5 / 8)
    assert top_k_accuracy(hand_logits(), torch.tensor(LABELS), k=NUM_CLASSES) == 1.0
    assert math.isnan(accuracy(torch.zeros(0, NUM_CLASSES), torch.zeros(0, dtype=torch.long)))


def test_confusion_matrix_by_hand(metrics):
    expected = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for true, pred in [(0, 0), (0, 1), (1, 1), (2, 2), (3, 3), (3, 3), (3, 0), (6, 5)]:
        expected[true, pred] += 1
    np.testing.assert_array_equal(metrics.confusion_matrix, expected)
    normalised = row_normalise(expected)
    assert normalised[3].tolist() == pytest.approx([1 / 3, 0, 0, 2 / 3, 0, 0, 0])
    assert normalised[4].tolist() == [0.0] * NUM_CLASSES  # no faces of class 4: a zero row, not NaN


@pytest.mark.parametrize("name, precision, recall, f1, support", [
    ("angry", 1 / 2, 1 / 2, 1 / 2, 2),  # predicted for faces 0 and 6; one of its two faces found
    ("disgust", 1 / 2, 1.0, 2 / 3, 1),  # predicted for faces 1 and 2; its one face found
    ("fear", 1.0, 1.0, 1.0, 1),
    ("happy", 1.0, 2 / 3, 0.8, 3),  # faces 4, 5 found, 6 missed
    ("sad", 0.0, 0.0, 0.0, 0),  # never predicted, no faces
    ("surprise", 0.0, 0.0, 0.0, 0),  # predicted once, wrongly
    ("neutral", 0.0, 0.0, 0.0, 1),  # its one face missed
])
def test_per_class_precision_recall_f1_by_hand(metrics, name, precision, recall, f1, support):
    c = metrics.per_class[name]
    assert (c.precision, c.recall, c.f1, c.support) == pytest.approx((precision, recall, f1, support))


def test_auroc_per_class_by_hand():
    # 4 faces, only the angry logit varies: P(angry) rises with it, every other class's probability falls.
    logits = torch.zeros(4, NUM_CLASSES)
    logits[:, 0] = torch.tensor([4.0, 1.0, 3.0, 0.0])
    m = classification_metrics(logits, torch.tensor([0, 0, 1, 2]))
    # angry: faces 0 (4) and 1 (1) against 2 (3) and 3 (0): 4>3, 4>0, 1<3, 1>0 -> 3 of 4 pairs
    assert m.per_class["angry"].auroc == pytest.approx(3 / 4)
    # disgust: face 2 (angry logit 3) ranks above face 0 (4), below faces 1 (1) and 3 (0) -> 1 of 3
    assert m.per_class["disgust"].auroc == pytest.approx(1 / 3)
    # fear: face 3 has the lowest angry logit, so the highest P(fear) -> 1
    assert m.per_class["fear"].auroc == pytest.approx(1.0)
    # no faces of the class: undefined, not 0
    assert all(m.per_class[name].auroc is None for name in EMOTIONS[3:])
    assert m.macro_auroc == pytest.approx((3 / 4 + 1 / 3 + 1) / 3)


def test_macro_figures_and_dict(metrics):
    assert metrics.macro_f1 == pytest.approx((1 / 2 + 2 / 3 + 1 + 0.8) / 7)
    # mean recall over the 5 classes that have faces
    assert metrics.balanced_accuracy == pytest.approx((1 / 2 + 1 + 1 + 2 / 3 + 0) / 5)
    d = metrics.to_dict()
    assert d["accuracy"] == 0.625 and d["per_class"]["sad"]["auroc"] is None
    assert d["confusion_matrix"][3] == [1, 0, 0, 2, 0, 0, 0]


def test_loss_is_cross_entropy_of_the_calibrated_probabilities():
    logits, labels = hand_logits(), torch.tensor(LABELS)
    m = classification_metrics(logits, labels, temperature=2.0)
    by_hand = -np.mean([np.log(np.exp(row / 2)[y] / np.exp(row / 2).sum()) for row, y in zip(logits.numpy(), LABELS)])
    assert m.loss == pytest.approx(by_hand, rel=1e-5)
    assert m.loss_uncalibrated == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
    assert m.temperature == 2.0
    assert m.accuracy == classification_metrics(logits, labels).accuracy  # T never changes the ranking


def test_ece_by_hand():
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 0, 1])
    # bins of width 1/15: {0.9, 0.9} acc 1/2 -> |0.5 - 0.9| * 2/4; {0.6} acc 1 -> 0.4 * 1/4; {0.7} -> 0.3 * 1/4
    assert expected_calibration_error(probs, labels, n_bins=15) == pytest.approx(0.2 + 0.1 + 0.075)
    # one bin: |accuracy 3/4 - mean confidence 0.775|
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.025)
    bins = reliability_bins(probs, labels, n_bins=15)
    assert bins.count.sum() == 4 and sorted(bins.count[bins.count > 0].tolist()) == [1, 1, 2]
    full = bins.count == 2
    assert bins.accuracy[full][0] == pytest.approx(0.5) and bins.confidence[full][0] == pytest.approx(0.9)
    assert np.isnan(bins.accuracy[bins.count == 0]).all()
    assert bins.ece == pytest.approx(0.375)


def test_perfectly_calibrated_predictions_have_zero_ece():
    # confidence 1 and always right
    probs = torch.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(probs, torch.tensor([0, 1, 2, 0])) == pytest.approx(0.0)


def _seventy_percent_logits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    logits = torch.randn(n, NUM_CLASSES, generator=g)
    logits[torch.arange(n), labels] += 1.8
    return logits, labels


def test_ece_floor_is_what_chance_gives_a_calibrated_model_and_shrinks_with_the_faces():
    logits, _ = _seventy_percent_logits(4000)
    probs = logits.softmax(1)
    floor = ece_floor(probs)
    assert floor == ece_floor(probs)  # a fixed seed: the report's figure is reproducible
    # Test sets whose labels follow the probabilities exactly: their ECE scatters around the floor.
    g = torch.Generator().manual_seed(1)
    calibrated = [expected_calibration_error(probs, torch.multinomial(probs, 1, generator=g)[:, 0]) for _ in range(40)]
    assert 0.8 * floor < np.mean(calibrated) < 1.2 * floor
    # The same labels against sharpened probabilities: over-confidence stands far above it.
    labels = torch.multinomial(probs, 1, generator=g)[:, 0]
    assert expected_calibration_error((logits * 3).softmax(1), labels) > 5 * floor
    # Sampling noise: a quarter of the faces, about twice the floor (1 / sqrt(n)).
    assert 1.6 < ece_floor(probs[:1000]) / floor < 2.4
    # Sure and right is nothing to draw: confidence 1 gives a floor of 0.
    assert ece_floor(torch.eye(NUM_CLASSES)[[0, 1, 2]]) == 0.0


def test_metrics_report_the_floor_beside_the_ece():
    logits, labels = _seventy_percent_logits(500)
    m = classification_metrics(logits, labels)
    assert m.ece_floor == pytest.approx(ece_floor(logits.softmax(1)))
    assert m.to_dict()["ece_floor"] == pytest.approx(m.ece_floor, abs=1e-5) and 0 < m.ece_floor < 0.1


@pytest.mark.parametrize("scale, direction", [(4.0, "over"), (0.4, "under")])
def test_temperature_fit_lowers_nll(scale, direction):
    # Logits of a model right about 70% of the time, scaled to be over- or under-confident.
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, NUM_CLASSES, (600,), generator=g)
    logits = torch.randn(600, NUM_CLASSES, generator=g)
    logits[torch.arange(600), labels] += 1.8
    logits *= scale
    t = fit_temperature(logits, labels)
    assert (t > 1) if direction == "over" else (t < 1)
    before, after = F.cross_entropy(logits, labels), F.cross_entropy(logits / t, labels)
    assert after < before - 0.01
    # and it is the minimum: a nearby temperature does no better
    for other in (t * 0.9, t * 1.1):
        assert F.cross_entropy(logits / other, labels) >= after
    assert expected_calibration_error((logits / t).softmax(1), labels) < expected_calibration_error(
        logits.softmax(1), labels)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="logits"):
        classification_metrics(torch.zeros(0, NUM_CLASSES), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError):
        classification_metrics(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))


def test_paired_difference_by_hand():
    # 100 faces: both right on 40, only A on 30, only B on 10, neither on 20 -> A is 20 points ahead.
    a = torch.tensor([1] * 40 + [1] * 30 + [0] * 10 + [0] * 20, dtype=torch.bool)
    b = torch.tensor([1] * 40 + [0] * 30 + [1] * 10 + [0] * 20, dtype=torch.bool)
    d = paired_difference(a, b)
    assert d.delta == pytest.approx(20.0) and (d.only_a, d.only_b) == (30, 10)
    # per-face differences have variance 0.40 - 0.2^2 = 0.36, so the mean's standard error is 6 points
    assert d.low == pytest.approx(20 - 1.96 * 6, abs=1.5) and d.high == pytest.approx(20 + 1.96 * 6, abs=1.5)
    assert d.to_dict() == {"delta": 20.0, "ci95": [round(d.low, 2), round(d.high, 2)], "only_a": 30, "only_b": 10}
    assert paired_difference(a, b) == d  # seeded: the same interval every time
    same = paired_difference(a, a)
    assert (same.delta, same.low, same.high, same.only_a, same.only_b) == (0, 0, 0, 0, 0)
    flipped = paired_difference(b, a)
    assert flipped.delta == pytest.approx(-20.0)


def test_paired_difference_refuses_unequal_or_empty_inputs():
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_difference(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_difference(torch.ones(0, dtype=torch.bool), torch.ones(0, dtype=torch.bool))
