"""What re-measuring BatchNorm on the clean training faces does to trained models' accuracy.

A run's BatchNorm statistics are running averages over augmented batches (or, after SWA, one pass over
the augmented training loader); the faces a model is scored on are not augmented. This sets every
BatchNorm layer's mean and variance to their average over the un-augmented Training faces
(``ferkit.training.soup.update_batchnorm``, the step ``ferkit soup`` takes after averaging weights) and
gives each model's accuracy on PublicTest and PrivateTest before and after, with the mean change over
the models. ``--save DIR`` also writes each re-measured model, its temperature refitted on PublicTest, to
``DIR/<run folder name>-bnrefit/model.pt`` (a file not named ``model.pt``: ``DIR/<its stem>-bnrefit/model.pt``)
for ``bench/score_runs.py``, which names a model by its folder. Prints JSON:

    python bench/batchnorm_refit.py --threads 2 runs/*/model.pt
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from ferkit.data import load_dataset
from ferkit.evaluation.calibration import fit_temperature
from ferkit.evaluation.logits import face_logits
from ferkit.training.checkpoint import Checkpoint, load_checkpoint
from ferkit.training.finalize import _accuracy
from ferkit.training.soup import update_batchnorm


def _percent(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return round(100 * _accuracy(logits, labels), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="ferkit checkpoints (model.pt)")
    parser.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", metavar="DIR",
                        help="write each re-measured model to DIR/<run folder>-bnrefit/model.pt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    train, val, test = data.by_split("train"), data.by_split("val"), data.by_split("test")
    val_y, test_y = torch.as_tensor(val.labels), torch.as_tensor(test.labels)
    rows = {}
    for path in args.models:
        checkpoint = load_checkpoint(path)
        model, norm = checkpoint.build_model(), checkpoint.normalization
        row = {"val": _percent(face_logits(model, val.faces, norm), val_y),
               "test": _percent(face_logits(model, test.faces, norm), test_y)}
        update_batchnorm(model, train.faces, norm)
        model.eval()
        val_logits = face_logits(model, val.faces, norm)
        row |= {"val_refit": _percent(val_logits, val_y),
                "test_refit": _percent(face_logits(model, test.faces, norm), test_y)}
        rows[path] = row
        if args.save:
            model.temperature.fill_(fit_temperature(val_logits, val_y))
            name = Path(path).parent.name if Path(path).stem == "model" else Path(path).stem
            out = Path(args.save) / f"{name}-bnrefit" / "model.pt"
            Checkpoint.from_model(checkpoint.arch, model, normalization=dict(norm),
                                  metrics={"batchnorm_refit_of": str(path)}).save(out)
    changes = {split: [r[f"{split}_refit"] - r[split] for r in rows.values()] for split in ("val", "test")}
    print(json.dumps({
        "bench": "batchnorm_refit",
        "split": {"val": "FER2013 PublicTest", "test": "FER2013 PrivateTest"},
        "cpu": platform.machine(), "threads": args.threads, "batchnorm_faces": len(train),
        "models": rows,
        "mean_change": {split: round(statistics.mean(c), 2) for split, c in changes.items()},
        "models_up": {split: sum(x > 0 for x in c) for split, c in changes.items()},
        "n_models": len(rows),
    }, indent=1))


if __name__ == "__main__":
    main()
