"""The accuracy study of issue 8: one training run per change to the default recipe, then a table.

Every row is ``ferkit train configs/default.yaml`` with the study's shortened schedule plus the
row's overrides, in its own run folder under ``runs/study/``. The table is written from those
folders' ``summary.json`` (nothing is typed in by hand); runs that are missing are listed as such.

    python bench/accuracy_study.py train            # every row not yet done, in order (resumes a stopped one)
    python bench/accuracy_study.py train distill    # just the named rows
    python bench/accuracy_study.py table --markdown docs/ACCURACY.md   # JSON on stdout; the table into the doc

On 2 CPU cores one 10-epoch row of resnet_swish_s takes about 12 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FER2013 = DATA / "fer2013" / "fer2013.csv.gz"
FERPLUS = DATA / "ferplus" / "fer2013new.csv"
OUT = REPO / "runs" / "study"
SCHEDULE = ["epochs=10"]

# name, what changes, overrides on top of configs/default.yaml + SCHEDULE. Order = priority on a small budget.
ROWS: list[tuple[str, str, list[str]]] = [
    ("base-seed0", "baseline: the default recipe, 10 epochs", []),
    ("distill", "distillation from the shipped default (T=2, weight 0.5)", ["teacher=default"]),
    ("base-seed1", "baseline, second seed", ["seed=1"]),
    ("ferplus-soft", "FER+ soft labels as training targets", ["labels=ferplus_soft", f"ferplus={FERPLUS}"]),
    ("label-smoothing", "label smoothing 0.1", ["label_smoothing=0.1"]),
    ("mixup", "mixup, alpha 0.2", ["mixup=0.2"]),
    ("erasing", "random erasing, p 0.5", ["erasing=0.5"]),
    ("sgd", "SGD + Nesterov, lr 0.1, wd 5e-4", ["optimizer=sgd", "lr=0.1", "weight_decay=0.0005"]),
    ("cutmix", "CutMix, alpha 1.0", ["cutmix=1.0"]),
    ("size-xs", "model resnet_swish_xs (a quarter of s's compute)", ["model=resnet_swish_xs"]),
    ("no-dropout", "no dropout (dropout2d 0, head_dropout 0 instead of 0.1, 0.4)", ["dropout2d=0", "head_dropout=0"]),
    ("weight-decay", "weight decay 0.01 instead of 0.05", ["weight_decay=0.01"]),
    ("no-dropout-seed1", "no dropout, second seed", ["dropout2d=0", "head_dropout=0", "seed=1"]),
]
BASELINES = ("base-seed0", "base-seed1")
# Full 50-epoch runs of the default config, read beside the study (run folder, what it is).
FULL = [
    ("default-s", "runs/default", "the shipped default: resnet_swish_s, 50 epochs (`configs/default.yaml`)"),
    ("default-fast", "runs/default-fast",
     "resnet_swish_s_fast distilled from the shipped default, 50 epochs (`configs/s_fast_distilled.yaml`)"),
    ("fast-ens", "runs/fast-ens",
     "resnet_swish_s_fast distilled from the two models above as an ensemble, 50 epochs "
     "(`configs/s_fast_ensemble_distilled.yaml`)"),
]
MARK_BEGIN, MARK_END = "<!-- study-table: written by bench/accuracy_study.py -->", "<!-- /study-table -->"


def train(names: list[str]) -> int:
    rows = [r for r in ROWS if not names or r[0] in names]
    unknown = set(names) - {r[0] for r in ROWS}
    if unknown:
        sys.exit(f"unknown row(s): {', '.join(sorted(unknown))}; known: {', '.join(r[0] for r in ROWS)}")
    for name, _, overrides in rows:
        run = OUT / name
        if (run / "summary.json").is_file():
            print(f"{name}: done", flush=True)
            continue
        resume = ["--resume"] if (run / "checkpoints" / "last.ckpt").is_file() else []
        cmd = [sys.executable, "-m", "ferkit", "train", "configs/default.yaml", f"data={FER2013}", *SCHEDULE,
               *overrides, f"name={name}", f"out_dir={OUT}", "progress=false", *resume]
        print(f"{name}: {' '.join(cmd[2:])}", flush=True)
        with open(OUT / f"{name}.log", "a") as log:
            rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        if rc:
            print(f"{name}: failed (exit {rc}), see {OUT / name}.log", flush=True)
            return rc
    return 0


def _row(name: str, change: str, run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    test = summary["test"]
    return {
        "name": name, "change": change, "run": str(run.relative_to(REPO)),
        "epochs": summary["epochs_run"], "selected": summary["selected"],
        "public_test": summary["val_accuracy"][summary["selected"]],
        "private_test": test["accuracy"], "private_test_flip_tta": test["accuracy_tta"],
        "private_test_dedup": test["accuracy_dedup"], "ece": test["ece"],
        "private_test_candidates": test.get("accuracy_candidates", {}),
        "public_test_candidates": summary["val_accuracy"],
        "wall_min": round(summary["wall_s"] / 60, 1),
    }


def _test_faces():
    from ferkit.data import dedup_test_mask, load_dataset

    data = load_dataset(FER2013)
    return data.by_split("test"), dedup_test_mask(data)[data.split == "test"]


def _tta_and_ensembles(rows: list[dict], members: set[str]) -> list[dict]:
    """Ten-crop TTA accuracy on PrivateTest for these rows' models (flip TTA is in every summary), and
    every ensemble of two or more of the full-schedule models (``members``): their calibrated
    probabilities averaged, per TTA mode."""
    import itertools

    import torch

    from ferkit.evaluation.logits import face_logits
    from ferkit.training.checkpoint import load_checkpoint

    if not rows:
        return []
    torch.set_num_threads(os.cpu_count() or 1)
    test, dedup = _test_faces()
    labels, dedup = torch.as_tensor(test.labels), torch.as_tensor(dedup)
    probs: dict[str, dict[str, torch.Tensor]] = {}
    for r in rows:
        ckpt = load_checkpoint(REPO / r["run"] / "model.pt")
        model = ckpt.build_model()
        for mode in ("none", "flip", "tencrop"):
            if mode != "tencrop" and r["name"] not in members:
                continue
            logits = face_logits(model, test.faces, ckpt.normalization, tta=mode)
            if mode == "tencrop":
                r["private_test_tencrop"] = round(float((logits.argmax(1) == labels).double().mean()), 5)
            if r["name"] in members:
                probs.setdefault(r["name"], {})[mode] = (logits / ckpt.temperature).softmax(1)
    out = []
    for size in range(2, len(probs) + 1):
        for names in itertools.combinations(probs, size):
            entry: dict = {"members": list(names)}
            for mode in ("none", "flip", "tencrop"):
                hit = sum(probs[n][mode] for n in names).argmax(1) == labels
                entry[mode] = {"private_test": round(float(hit.double().mean()), 5),
                               "private_test_dedup": round(float(hit[dedup].double().mean()), 5)}
            out.append(entry)
    return out


def table() -> dict:
    rows, missing = [], []
    for name, change, _ in ROWS:
        run = OUT / name
        if (run / "summary.json").is_file():
            rows.append(_row(name, change, run))
        else:
            missing.append(name)
    base = [r for r in rows if r["name"] in BASELINES]
    ref = {}
    if base:
        for key in ("public_test", "private_test"):
            values = [r[key] for r in base]
            ref[key] = {"mean": round(statistics.mean(values), 5),
                        "spread": round(max(values) - min(values), 5), "n": len(values)}
        for r in rows:
            r["delta_public"] = round(r["public_test"] - ref["public_test"]["mean"], 5)
            r["delta_private"] = round(r["private_test"] - ref["private_test"]["mean"], 5)
    full = [_row(name, change, REPO / run) for name, run, change in FULL if (REPO / run / "summary.json").is_file()]
    ensembles = _tta_and_ensembles([r for r in rows if r["name"] in BASELINES] + full, {r["name"] for r in full})
    return {"schedule": SCHEDULE, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
            "baseline": ref, "rows": rows, "missing": missing, "full_schedule": full,
            "ensembles_of_full_schedule": ensembles}


def _pct(x: float | None, signed: bool = False) -> str:
    return "" if x is None else (f"{100 * x:+.2f}" if signed else f"{100 * x:.2f}")


def markdown(result: dict) -> str:
    ref = result["baseline"]
    lines = [
        "| change | run | PublicTest % | Δ | PrivateTest % | Δ | flip TTA % | ten-crop % | dedup % | ECE % "
        "| SWA / best on PrivateTest % | min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        cand = r["private_test_candidates"]
        swa_best = " / ".join(_pct(cand.get(k)) for k in ("swa", "best") if k in cand)
        lines.append(f"| {r['change']} | `{r['run']}` | {_pct(r['public_test'])} | {_pct(r.get('delta_public'), True)} "
                     f"| {_pct(r['private_test'])} | {_pct(r.get('delta_private'), True)} "
                     f"| {_pct(r['private_test_flip_tta'])} | {_pct(r.get('private_test_tencrop'))} "
                     f"| {_pct(r['private_test_dedup'])} | {_pct(r['ece'])} "
                     f"| {swa_best} | {r['wall_min']} |")
    for full in result["full_schedule"]:
        lines.append(f"| {full['change']} | `{full['run']}` | {_pct(full['public_test'])} | | "
                     f"{_pct(full['private_test'])} | | {_pct(full['private_test_flip_tta'])} "
                     f"| {_pct(full.get('private_test_tencrop'))} "
                     f"| {_pct(full['private_test_dedup'])} | {_pct(full['ece'])} | | {full['wall_min']} |")
    ensembles = result.get("ensembles_of_full_schedule")
    if ensembles:
        lines += ["", "Ensembles of the full-schedule models (calibrated probabilities averaged), PrivateTest % "
                  "(de-duplicated subset in brackets):", "",
                  "| members | no TTA | flip TTA | ten-crop |", "|---|---|---|---|"]
        for ens in ensembles:
            cells = " | ".join(f"{_pct(ens[m]['private_test'])} ({_pct(ens[m]['private_test_dedup'])})"
                               for m in ("none", "flip", "tencrop"))
            lines.append(f"| {' + '.join(ens['members'])} | {cells} |")
    notes = []
    if ref:
        notes.append(f"Δ is against the mean of {ref['private_test']['n']} baseline seed(s); the baselines' spread "
                     f"(max - min) is {_pct(ref['public_test']['spread'])} points on PublicTest and "
                     f"{_pct(ref['private_test']['spread'])} on PrivateTest: a smaller Δ is noise.")
    if result["missing"]:
        notes.append(f"Not run yet: {', '.join(result['missing'])}.")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def _write_table(path: Path, table_md: str) -> None:
    """Put the table between the markers of an existing document, or write it alone."""
    block = f"{MARK_BEGIN}\n{table_md}{MARK_END}"
    text = path.read_text() if path.is_file() else ""
    if MARK_BEGIN in text and MARK_END in text:
        before, rest = text.split(MARK_BEGIN, 1)
        text = before + block + rest.split(MARK_END, 1)[1]
    else:
        text = block + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("rows", nargs="*")
    tb = sub.add_parser("table")
    tb.add_argument("--markdown", metavar="FILE", help="also write the markdown table to FILE")
    args = parser.parse_args()
    if args.cmd == "train":
        OUT.mkdir(parents=True, exist_ok=True)
        return train(args.rows)
    result = table()
    print(json.dumps(result, indent=2))
    if args.markdown:
        _write_table(Path(args.markdown), markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
