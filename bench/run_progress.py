"""How far runs got, from their logged metrics alone: for runs stopped before they wrote a model file.

A run the budget of a lent GPU stopped has no model.pt to score, but its per-epoch metrics say where it
stood. For each run folder: the epochs finished, PublicTest accuracy at the last one and the best so far
(as logged during training, bf16 where the run was), and training accuracy at the last one (on augmented
faces; on mixed targets where the run used mixup or cutmix):

    python bench/run_progress.py runs/gpu5-regularise/runs/gpu-l-*

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferkit.training.finalize import read_history


def progress(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run folder")
    history = [h for h in read_history(run_dir) if "val/acc" in h]
    if not history:
        raise ValueError(f"{run_dir}: no finished epoch in logs/metrics*.csv")
    last = history[-1]
    best = max(history, key=lambda h: h["val/acc"])
    return {"epochs_finished": len(history), "last_epoch": int(last["epoch"]),
            "val_acc_last": round(100 * last["val/acc"], 2),
            "val_acc_best": round(100 * best["val/acc"], 2), "best_epoch": int(best["epoch"]),
            "train_acc_last": round(100 * last["train/acc"], 2) if "train/acc" in last else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with logs/metrics*.csv)")
    args = parser.parse_args()
    report: dict = {"bench": "run_progress", "split": "FER2013 PublicTest (val)", "runs": {}}
    for run in args.runs:
        try:
            report["runs"][run.name] = progress(run)
        except (OSError, ValueError) as err:
            sys.exit(f"error: {err}")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
