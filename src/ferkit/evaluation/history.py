"""A model's training curves: per-epoch train and val figures, from its checkpoint or its run's log."""

from __future__ import annotations

from pathlib import Path

# (metric key suffix, title) of each curve the report draws; keys are "train/<suffix>" and "val/<suffix>".
CURVES: tuple[tuple[str, str], ...] = (
    ("acc", "accuracy"),
    ("loss", "loss (cross-entropy)"),
    ("precision", "precision (macro)"),
    ("recall", "recall (macro)"),
    ("auroc", "AUC (macro one-vs-rest)"),
)


def train_loss_label(config: dict | None) -> str:
    """The legend of the training-loss curve: what that loss was, which is plain cross-entropy
    against the labels only when no teacher, mixing or smoothing changed the targets.

    Args:
        config: the run's training config (``TrainConfig.to_dict()``), or None when unknown.
    """
    config = config or {}
    parts = []
    if config.get("teacher"):
        weight = float(config.get("distill_weight", 0.5))
        parts.append(f"{1 - weight:g} x CE + {weight:g} x distillation")
    if config.get("mixup") or config.get("cutmix"):
        parts.append("mixed faces and targets")
    if config.get("label_smoothing"):
        parts.append(f"labels smoothed by {config['label_smoothing']}")
    return f"training ({'; '.join(parts)})" if parts else "training"


def training_history(checkpoint) -> tuple[list[dict[str, float]], str]:
    """Per-epoch metrics of the run that produced a checkpoint, and where they were read.

    The history saved inside the checkpoint comes first; a checkpoint without one
    falls back to ``<run_dir>/logs/metrics.csv`` when its run folder is still there.

    Args:
        checkpoint: a ``ferkit.training.checkpoint.Checkpoint``.

    Returns:
        (epochs, source): one dict per epoch with keys like ``train/acc`` and ``val/loss``,
        and ``"checkpoint"``, the log's path, or ``""`` when neither has any.
    """
    history, source = checkpoint.metrics.get("history") or [], "checkpoint"
    if not history and checkpoint.run_dir:
        from ferkit.training.finalize import read_history

        history, source = read_history(Path(checkpoint.run_dir)), str(Path(checkpoint.run_dir) / "logs" / "metrics.csv")
    # SWA's BatchNorm pass is logged as one more epoch after the last; it trained nothing.
    epochs = (checkpoint.metrics.get("config") or {}).get("epochs")
    history = [e for e in history if epochs is None or e.get("epoch", 0) < epochs]
    return (list(history), source) if history else ([], "")


def curve(history: list[dict[str, float]], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one metric, skipping epochs that did not log it."""
    points = [(int(e.get("epoch", i)), float(e[key])) for i, e in enumerate(history) if key in e]
    return [p[0] for p in points], [p[1] for p in points]
