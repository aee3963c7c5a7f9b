"""ONNX Runtime vs PyTorch on every FER2013 PrivateTest face: same top-1? largest probability gap? JSON.

    python bench/onnx_agreement.py [--data ../shared/data/fer2013/fer2013.csv.gz] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import ferkit
from ferkit.data import load_dataset

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--model", help="checkpoint (default: the shipped one)")
    args = parser.parse_args()
    test = load_dataset(args.data).by_split("test")
    probs = {name: ferkit.Recognizer(args.model, backend=name).classify(test.faces) for name in ("torch", "onnx")}
    torch_p, onnx_p = probs["torch"], probs["onnx"]
    print(json.dumps({
        "faces": len(test),
        "same_top1": bool((torch_p.argmax(1) == onnx_p.argmax(1)).all()),
        "max_abs_prob_diff": float(np.abs(torch_p - onnx_p).max()),
        "accuracy": {name: round(float((p.argmax(1) == test.labels).mean()), 5) for name, p in probs.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
