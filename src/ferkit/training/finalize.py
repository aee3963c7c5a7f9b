"""After fitting: choose SWA or the best checkpoint on val, calibrate, measure on test, export."""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ferkit.config import TrainConfig
from ferkit.data.dataset import FaceDataset
from ferkit.evaluation.calibration import ece_floor, expected_calibration_error, fit_temperature
from ferkit.evaluation.logits import face_logits
from ferkit.training.checkpoint import Checkpoint


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).double().mean()) if len(labels) else float("nan")


def _best_weights(module, best_ckpt: Path, device: torch.device):
    """The model as saved in the best-val-accuracy Lightning checkpoint, or None without one."""
    if not best_ckpt.is_file():
        return None
    state = torch.load(best_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    model = copy.deepcopy(module.model).cpu()
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    return model.to(device).eval()


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """Per-epoch train and val metrics from the run's CSV logs, one dict per epoch.

    Lightning writes train and val figures of one epoch on separate rows; they are merged
    here. A resumed run's earlier logs (``metrics.part*.csv``) come first; where a resumed run
    repeated an epoch, its later figures win.
    """
    logs = run_dir / "logs"
    files = sorted(logs.glob("metrics.part*.csv"), key=lambda p: int(p.stem.removeprefix("metrics.part")))
    files += [logs / "metrics.csv"] if (logs / "metrics.csv").is_file() else []
    epochs: dict[int, dict[str, float]] = {}
    for log in files:
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                epoch = int(row["epoch"])
                merged = epochs.setdefault(epoch, {"epoch": epoch})
                for key, value in row.items():
                    if key not in ("epoch", "step", "val_acc") and value not in ("", None):
                        number = float(value)
                        if math.isfinite(number):
                            merged[key] = round(number, 6)
    return [epochs[e] for e in sorted(epochs)]


def test_figures(model, data: FaceDataset, norm: dict[str, float], temperature: float,
                 ferplus: str | Path = "") -> dict:
    """The test split's figures of a selected, calibrated model (see ``figures_from_logits``); with ``ferplus``
    (``fer2013new.csv``) also against FER+'s majority labels, under ``ferplus``."""
    from ferkit.data import dedup_test_mask

    faces = data.by_split("test").faces
    logits, logits_tta = face_logits(model, faces, norm), face_logits(model, faces, norm, tta=True)
    dedup = torch.as_tensor(dedup_test_mask(data)[data.split == "test"])
    figures = figures_from_logits(logits, logits_tta, data, temperature, dedup)
    if ferplus:
        figures["ferplus"] = ferplus_figures(logits, logits_tta, data, temperature, ferplus, dedup)
    return figures


def ferplus_figures(logits: torch.Tensor, logits_tta: torch.Tensor, data: FaceDataset, temperature: float,
                    ferplus: str | Path, dedup: torch.Tensor) -> dict:
    """``figures_from_logits`` against FER+'s majority labels, on the test faces that have one (3,378 of
    PrivateTest's 3,589). ``data`` holds FER2013 CSV rows (its test split with FER2013's labels); ``dedup``
    marks its test rows with no copy in Training."""
    from ferkit.data.ferplus import NO_LABEL, majority_labels

    test = data.by_split("test")
    labels = majority_labels(test, ferplus)
    has = labels != NO_LABEL
    relabelled = replace(test.subset(has), labels=labels[has])
    figures = figures_from_logits(logits[has], logits_tta[has], relabelled, temperature, dedup[has])
    figures["split"] = "test (FER2013 PrivateTest, FER+ majority labels)"
    return figures


def figures_from_logits(logits: torch.Tensor, logits_tta: torch.Tensor, data: FaceDataset, temperature: float,
                        dedup: torch.Tensor | None = None) -> dict:
    """Plain, flip-TTA and de-duplicated accuracy, NLL and ECE after and before ``temperature``, from a
    model's raw logits on ``data``'s test split. ``dedup`` marks the test rows with no copy in Training
    (computed from ``data`` when not given). Also used for models trained without the test split
    (``bench/score_runs.py``)."""
    from ferkit.data import dedup_test_mask

    test_y = torch.as_tensor(data.by_split("test").labels)
    if dedup is None:
        dedup = torch.as_tensor(dedup_test_mask(data)[data.split == "test"])
    return {
        "split": "test (FER2013 PrivateTest)" if data.name.startswith("fer2013") else "test",
        "n": len(test_y),
        "accuracy": round(_accuracy(logits, test_y), 5),
        "accuracy_tta": round(_accuracy(logits_tta, test_y), 5),
        "accuracy_dedup": round(_accuracy(logits[dedup], test_y[dedup]), 5),
        "n_dedup": int(dedup.sum()),
        "nll": round(float(F.cross_entropy(logits / temperature, test_y)), 5),
        "nll_uncalibrated": round(float(F.cross_entropy(logits, test_y)), 5),
        "ece": round(expected_calibration_error((logits / temperature).softmax(1), test_y), 5),
        "ece_uncalibrated": round(expected_calibration_error(logits.softmax(1), test_y), 5),
        "ece_floor": round(ece_floor((logits / temperature).softmax(1)), 5),
    }


def swa_outcome(scheduled: bool, epochs: int, current_epoch: int) -> str:
    """Whether the run's final weights are the SWA average: ``averaged``, ``off``, or why not.

    SWA replaces the weights only if the run reached its BatchNorm pass, which Lightning counts as an extra
    epoch (``current_epoch == epochs + 1``); a run that early stopping ended sooner keeps its last weights.
    """
    if not scheduled:
        return "off"
    if current_epoch > epochs:
        return "averaged"
    return f"not reached: the run stopped after epoch {current_epoch} of {epochs}, before its average was complete"


def finalize(config: TrainConfig, module, data: FaceDataset, run_dir: Path, trainer) -> dict:
    """Select, calibrate, evaluate and save ``run_dir/model.pt``; returns the summary."""
    norm = module.normalization
    val, test = data.by_split("val"), data.by_split("test")
    val_y, test_y = torch.as_tensor(val.labels), torch.as_tensor(test.labels)
    # Scored where it trained (a GPU scores the large model in seconds); the saved weights go to the CPU.
    device = trainer.strategy.root_device  # Lightning has moved the module back to the CPU by now
    final = copy.deepcopy(module.model).to(device).eval().to(memory_format=torch.contiguous_format)
    swa = swa_outcome(config.swa_scheduled, config.epochs, trainer.current_epoch)
    candidates = {"swa" if swa == "averaged" else "last": final}
    best = _best_weights(module, run_dir / "checkpoints" / "best.ckpt", device)
    if best is not None:
        candidates["best"] = best.to(memory_format=torch.contiguous_format)
    val_acc = {name: _accuracy(face_logits(m, val.faces, norm), val_y) for name, m in candidates.items()}
    chosen = max(val_acc, key=val_acc.get)
    model = candidates[chosen]

    val_logits = face_logits(model, val.faces, norm)
    fixed = config.fixed_temperature()
    if config.temperature == "none":
        temperature = 1.0
    else:
        temperature = fixed if fixed is not None else fit_temperature(val_logits, val_y)
    model.temperature.fill_(temperature)

    summary: dict = {
        "selected": chosen,
        "val_labels": config.resolved_val_labels(),
        "val_n": len(val),
        "val_accuracy": {k: round(v, 5) for k, v in val_acc.items()},
        "temperature": round(temperature, 4),
        "temperature_source": "fixed" if fixed is not None else config.temperature,
        # Lightning counts SWA's extra BatchNorm pass as an epoch; report the epochs that trained.
        "epochs_run": min(trainer.current_epoch, config.epochs),
        "swa": swa,
    }
    if len(test):
        summary["test"] = test_figures(model, data, norm, temperature, config.ferplus)
        # Every candidate's test accuracy, for the record only: selection above used val alone.
        summary["test"]["accuracy_candidates"] = {
            name: summary["test"]["accuracy"] if m is model else round(
                _accuracy(face_logits(m, test.faces, norm), test_y), 5) for name, m in candidates.items()}
    ckpt = Checkpoint.from_model(config.model, model, normalization=dict(norm), run_dir=str(run_dir),
                                 metrics={**summary, "history": read_history(run_dir), "config": config.to_dict()})
    ckpt.save(run_dir / "model.pt")
    return summary
