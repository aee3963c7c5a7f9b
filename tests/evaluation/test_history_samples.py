import numpy as np

from ferkit.evaluation.history import curve, train_loss_label, training_history
from ferkit.evaluation.samples import class_examples, confident_mistakes
from ferkit.training.checkpoint import load_checkpoint


def test_history_from_the_checkpoint_first(checkpoint):
    history, source = training_history(load_checkpoint(checkpoint))
    assert source == "checkpoint" and len(history) == 4
    epochs, values = curve(history, "val/acc")
    assert epochs == [0, 1, 2, 3] and values[0] < values[-1]


def test_history_falls_back_to_the_run_log(uncalibrated_checkpoint):
    history, source = training_history(load_checkpoint(uncalibrated_checkpoint))
    assert source.endswith("logs/metrics.csv") and len(history) == 3
    # train and val rows of one epoch are merged
    assert curve(history, "train/acc") == ([0, 1, 2], [0.5, 0.6, 0.7])
    assert curve(history, "val/loss")[1] == [1.5, 1.4, 1.3]
    assert curve(history, "train/auroc") == ([], [])


def test_no_history_anywhere(uncalibrated_checkpoint, tmp_path):
    ckpt = load_checkpoint(uncalibrated_checkpoint)
    ckpt.run_dir = str(tmp_path / "gone")
    assert training_history(ckpt) == ([], "")


def probs_of(pred, conf, c=3):
    """(N, c) probabilities whose top class is ``pred`` with probability ``conf``."""
    p = np.tile((1 - np.asarray(conf))[:, None] / (c - 1), (1, c))
    p[np.arange(len(pred)), pred] = conf
    return p


def test_the_training_loss_legend_says_what_was_minimised():
    assert train_loss_label(None) == train_loss_label({"teacher": "", "mixup": 0.0}) == "training"
    assert train_loss_label({"teacher": "t.pt", "distill_weight": 0.5}) == "training (0.5 x CE + 0.5 x distillation)"
    assert train_loss_label({"cutmix": 1.0, "label_smoothing": 0.1}) == (
        "training (mixed faces and targets; labels smoothed by 0.1)")


def test_confident_mistakes_are_the_surest_wrong_faces_per_class():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    pred = np.array([1, 2, 0, 1, 1, 1, 0])
    conf = np.array([0.6, 0.9, 0.99, 0.7, 0.8, 0.8, 0.5])
    out = confident_mistakes(labels, probs_of(pred, conf), per_class=2)
    assert out[0].tolist() == [1, 3]  # wrong faces of class 0: 1 (0.9), 3 (0.7), 0 (0.6); 2 is right
    assert out[1].tolist() == []  # class 1 is always right
    assert out[2].tolist() == [6]


def test_class_examples_spread_over_the_right_faces_and_fill_with_others():
    labels = np.array([0] * 6 + [1, 1])
    pred = np.array([0, 0, 0, 0, 0, 1, 1, 0])
    conf = np.array([0.5, 0.9, 0.7, 0.6, 0.8, 0.95, 0.4, 0.3])
    out = class_examples(labels, probs_of(pred, conf), per_class=3)
    # right faces of class 0 by confidence: 1 (.9), 4 (.8), 2 (.7), 3 (.6), 0 (.5) -> first, middle, last
    assert out[0].tolist() == [1, 2, 0]
    # class 1 has one right face (6), filled with its wrong one (7)
    assert out[1].tolist() == [6, 7]
    assert out[2].tolist() == []
