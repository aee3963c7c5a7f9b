"""ONNX Runtime vs PyTorch on every FER2013 PrivateTest face: same top-1? largest probability gap? JSON.

    python bench/onnx_agreement.py [--data ../shared/data/fer2013/fer2013.csv.gz] [--model PATH] [--int8]

With ``--int8`` the model's int8 version (``ferkit export --int8``; for the shipped model the
file shipped beside it) is measured too: its accuracy, ECE (15 bins) and NLL beside PyTorch's,
and how often it picks the same class.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import ferkit
from ferkit.data import load_dataset
from ferkit.evaluation.metrics import classification_metrics

REPO = Path(__file__).resolve().parent.parent


def figures(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, ECE and NLL of calibrated probabilities (their logs serve as logits)."""
    m = classification_metrics(torch.from_numpy(probs).clamp_min(1e-12).log(), torch.as_tensor(labels))
    return {"accuracy": round(m.accuracy, 5), "ece_15_bins": round(m.ece, 5), "nll": round(m.loss, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--model", help="checkpoint (default: the shipped one)")
    parser.add_argument("--int8", nargs="?", const="", metavar="ONNX",
                        help="also measure an int8 model: this file, or with no value the shipped model's")
    args = parser.parse_args()
    test = load_dataset(args.data).by_split("test")
    probs = {name: ferkit.Recognizer(args.model, backend=name).classify(test.faces) for name in ("torch", "onnx")}
    torch_p, onnx_p = probs["torch"], probs["onnx"]
    out = {
        "faces": len(test),
        "same_top1": bool((torch_p.argmax(1) == onnx_p.argmax(1)).all()),
        "max_abs_prob_diff": float(np.abs(torch_p - onnx_p).max()),
        "accuracy": {name: round(float((p.argmax(1) == test.labels).mean()), 5) for name, p in probs.items()},
    }
    if args.int8 is not None:
        int8 = ferkit.Recognizer(args.int8 or args.model, int8=True)
        int8_p = int8.classify(test.faces)
        out["int8"] = {
            "model": Path(int8.info.path).name,
            "same_top1_as_torch": round(float((int8_p.argmax(1) == torch_p.argmax(1)).mean()), 5),
            "max_abs_prob_diff_vs_torch": round(float(np.abs(int8_p - torch_p).max()), 5),
            "int8": figures(int8_p, test.labels),
            "torch": figures(torch_p, test.labels),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
