"""How the start of the residual branches changes early training: zero BN scale (identity blocks) against one.

Trains a fresh model for a few hundred steps on FER2013 Training faces (random batches, no augmentation, fp32)
with each optimiser and each start of the residual branches' last BatchNorm scale, and prints JSON: the mean
training loss over each window of steps, and the branches' mean |scale| at the end. Each case starts from the
same weights (seed 0) and sees the same batches.

    python bench/residual_init.py --threads 2                        # s, 300 steps, four cases
    python bench/residual_init.py --model resnet_swish_m --steps 600 --case adamw:0.003:zero --case adamw:0.003:one

A case is OPTIMIZER:LR:START, START being ``zero`` (the family's default) or ``one``. Weight decay is the
recipe's for each optimiser: 0.05 for AdamW, 5e-4 for SGD (Nesterov, momentum 0.9), none on BN and biases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
FER2013 = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
CASES = ["adamw:0.003:zero", "adamw:0.003:one", "sgd:0.05:zero", "sgd:0.05:one"]


def run_case(case: str, faces: torch.Tensor, labels: torch.Tensor, model_name: str, steps: int, window: int,
             batch: int) -> dict:
    from ferkit.data.preprocess import to_input
    from ferkit.models import create_model, residual_scales_to_one
    from ferkit.models.resnet_swish import BasicBlock
    from ferkit.training.checkpoint import DEFAULT_NORMALIZATION
    from ferkit.training.module import make_optimizer

    optimizer, lr, start = case.split(":")
    if optimizer not in ("adamw", "sgd") or start not in ("zero", "one"):
        sys.exit(f"bad case {case!r}: OPTIMIZER (adamw|sgd):LR:START (zero|one)")
    torch.manual_seed(0)
    model = create_model(model_name)
    if start == "one":
        residual_scales_to_one(model)
    model = model.to(memory_format=torch.channels_last).train()
    opt = make_optimizer(model, optimizer, float(lr), weight_decay=0.05 if optimizer == "adamw" else 5e-4)
    rng = np.random.default_rng(0)
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(faces), batch))
        x = to_input(faces[idx], DEFAULT_NORMALIZATION).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    scales = [round(b.conv2[1].weight.abs().mean().item(), 4) for b in model.modules() if isinstance(b, BasicBlock)]
    return {
        "case": case,
        "optimizer": optimizer,
        "lr": float(lr),
        "residual_start": start,
        "loss_per_window": [round(float(np.mean(losses[i:i + window])), 4) for i in range(0, steps, window)],
        "final_window_loss": round(float(np.mean(losses[-window:])), 4),
        "residual_scale_at_end": scales,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(FER2013), help="FER2013 CSV (.csv or .csv.gz)")
    ap.add_argument("--model", default="resnet_swish_s")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--window", type=int, default=30, help="steps per reported mean loss")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--case", action="append", help=f"OPTIMIZER:LR:START, repeatable (default: {' '.join(CASES)})")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"no FER2013 CSV at {args.data}; give --data")
    torch.set_num_threads(args.threads)
    from ferkit.data import load_dataset

    train = load_dataset(args.data).by_split("train")
    faces, labels = torch.from_numpy(train.faces), torch.from_numpy(train.labels).long()
    # The loss of predicting the training class frequencies: what a model that has learned nothing reaches.
    freq = np.bincount(train.labels, minlength=7) / len(train.labels)
    prior_loss = float(-(freq * np.log(np.maximum(freq, 1e-12))).sum())
    results = [run_case(c, faces, labels, args.model, args.steps, args.window, args.batch) for c in args.case or CASES]
    print(json.dumps({
        "bench": "residual_init",
        "model": args.model,
        "steps": args.steps,
        "batch": args.batch,
        "window": args.window,
        "class_prior_loss": round(prior_loss, 4),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__},
        "cases": results,
    }, indent=2))


if __name__ == "__main__":
    main()
