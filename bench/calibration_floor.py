"""How far a model's calibration error on PrivateTest is from what chance alone gives. JSON.

    python bench/calibration_floor.py [--model src/ferkit/assets/default_model.pt] [--sims 500]

ECE (15 equal-width bins) on 3,589 faces is noisy even for a perfect model: with finitely many faces per bin,
a bin's accuracy differs from its mean confidence by chance. This measures, for one model:

- ``ece``: its ECE on PrivateTest after the temperature stored in the checkpoint (fitted on PublicTest), and
  a bootstrap interval of it (faces resampled);
- ``floor``: the ECE that a perfectly calibrated model with the same confidences would show: each face's
  prediction right with probability equal to its confidence, ``--sims`` times (``ferkit.evaluation.calibration.
  simulated_ece``; its mean, as the report's ``ece_floor``, 5th/50th/95th percentiles, and how often it is <= 2%);
- ``oracle_temperature``: the temperature fitted on PrivateTest itself, the lowest ECE temperature
  scaling can reach there;
- ``calibrators``: temperature, temperature plus a per-class bias, and per-class scales plus biases
  (vector scaling), each fitted by NLL on PublicTest: their ECE in 2-fold cross-validation on PublicTest
  (the figure that may choose one) and on PrivateTest;
- ``accuracy``: on both splits, as PrivateTest is easier than PublicTest for every model here, which leaves
  a model calibrated on PublicTest underconfident on PrivateTest.

Each without and with flip TTA. CPU, ``--threads`` (default: all cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
DATA = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def _fit_affine(logits, labels, per_class_scale: bool, bias: bool):
    """Calibrated logits ``z * s + b`` with s (one or per class) and b (per class, or none) fitted by NLL."""
    import torch
    import torch.nn.functional as F

    from ferkit.evaluation.calibration import fit_temperature

    if not per_class_scale and not bias:
        t = fit_temperature(logits, labels)
        return lambda z: z.double() / t
    n_classes = logits.shape[1]
    log_s = torch.zeros(n_classes if per_class_scale else (), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=bias)

    def apply(z):
        return z.double() * log_s.exp() + b

    opt = torch.optim.LBFGS([log_s, b] if bias else [log_s], lr=0.1, max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(apply(logits), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return lambda z: apply(z).detach()


CALIBRATORS = {"temperature": (False, False), "temperature + per-class bias": (False, True),
               "vector scaling (per-class scale + bias)": (True, True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "src" / "ferkit" / "assets" / "default_model.pt"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--sims", type=int, default=500)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from ferkit.data import load_dataset
    from ferkit.evaluation.calibration import expected_calibration_error as ece
    from ferkit.evaluation.calibration import fit_temperature, simulated_ece
    from ferkit.evaluation.logits import face_logits
    from ferkit.evaluation.metrics import ECE_BINS
    from ferkit.training.checkpoint import load_checkpoint

    if not Path(args.data).is_file():
        sys.exit(f"error: {args.data}: no such file (FER2013 is read from ../shared/data)")
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.model)
    model = ckpt.build_model().eval()
    data = load_dataset(args.data)
    val, test = data.by_split("val"), data.by_split("test")
    yv, yt = torch.as_tensor(val.labels), torch.as_tensor(test.labels)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    def pct(values, qs=(5, 50, 95)):
        return [round(float(v), 4) for v in np.percentile(values, qs)]

    model_path = Path(args.model).resolve()
    shown = str(model_path.relative_to(REPO)) if model_path.is_relative_to(REPO) else args.model
    report = {"bench": "calibration_floor", "model": shown, "stored_temperature": round(ckpt.temperature, 4),
              "faces": {"PublicTest": len(yv), "PrivateTest": len(yt)}, "bins": ECE_BINS, "sims": args.sims,
              "threads": args.threads, "tta": {}}
    for tta in ("none", "flip"):
        zv = face_logits(model, val.faces, ckpt.normalization, tta=tta).double()
        zt = face_logits(model, test.faces, ckpt.normalization, tta=tta).double()
        p = (zt / ckpt.temperature).softmax(1)
        floor = simulated_ece(p, ECE_BINS, args.sims)
        boot = [ece(p[i], yt[i]) for i in (torch.randint(0, len(yt), (len(yt),), generator=gen)
                                            for _ in range(args.sims))]
        t_oracle = fit_temperature(zt, yt)
        entry = {
            "accuracy": {"PublicTest": round(float((zv.argmax(1) == yv).double().mean()), 4),
                         "PrivateTest": round(float((zt.argmax(1) == yt).double().mean()), 4)},
            "mean_confidence_PrivateTest": round(float(p.max(1).values.mean()), 4),
            "ece": round(ece(p, yt), 4), "ece_before_temperature": round(ece(zt.softmax(1), yt), 4),
            "ece_bootstrap_p5_p50_p95": pct(boot),
            "floor": {"mean": round(float(floor.mean()), 4), "p5_p50_p95": pct(floor),
                      "share_at_most_2pct": round(float((floor <= 0.02).mean()), 3)},
            "oracle_temperature": {"T": round(t_oracle, 4), "ece": round(ece((zt / t_oracle).softmax(1), yt), 4)},
            "calibrators": {},
        }
        for name, (per_class, bias) in CALIBRATORS.items():
            cv = []
            for _ in range(5):  # five random halvings of PublicTest, each half fitted and scored on the other
                perm = torch.from_numpy(rng.permutation(len(yv)))
                halves = perm[: len(yv) // 2], perm[len(yv) // 2:]
                for fit_on, score_on in (halves, halves[::-1]):
                    calibrate = _fit_affine(zv[fit_on], yv[fit_on], per_class, bias)
                    cv.append(ece(calibrate(zv[score_on]).softmax(1), yv[score_on]))
            pt = _fit_affine(zv, yv, per_class, bias)(zt).softmax(1)
            entry["calibrators"][name] = {
                "ece_cv_PublicTest": round(float(np.mean(cv)), 4), "ece_PrivateTest": round(ece(pt, yt), 4),
                "accuracy_PrivateTest": round(float((pt.argmax(1) == yt).double().mean()), 4),
                "nll_PrivateTest": round(float(F.nll_loss(pt.clamp_min(1e-12).log(), yt)), 4)}
        report["tta"][tta] = entry
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
