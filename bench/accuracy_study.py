"""The accuracy study of issue 8: one training run per change to the default recipe, then a table.

Every row is ``ferkit train configs/default.yaml`` with the study's shortened schedule plus the
row's overrides, in its own run folder under ``runs/study/``. The table is written from those
folders' ``summary.json`` (nothing is typed in by hand); a row trained on an earlier machine, whose
folder is gone, comes from the JSON the table command wrote then; runs not made yet are listed as such.

    python bench/accuracy_study.py train            # every row not yet done, in order (resumes a stopped one)
    python bench/accuracy_study.py train distill    # just the named rows
    python bench/accuracy_study.py table --markdown docs/ACCURACY.md > new.json   # the table into the doc
    mv new.json docs/bench/accuracy_study.json   # (it reads the old JSON for rows trained on other machines)

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
SCHEDULE = ["epochs=10", "zero_init_residual=true"]  # the study's recipe: branches start at 0, as default.yaml did
# The default model shipped when the first rows ran (resnet_swish_s, 50 epochs on CPU), the first distill
# row's teacher: taken out of git history by train() when a row names it.
TEACHER_CPU50 = REPO / "runs" / "teachers" / "default-cpu50.pt"
TEACHER_CPU50_COMMIT = "4777f6f"
# The two 80-epoch `l` of the second GPU loan (runs/gpu4), as their averaged probabilities on the training faces:
#   python bench/teacher_outputs.py --teacher runs/gpu4/runs/gpu-l-seed2/model.pt,runs/gpu4/runs/gpu-l-seed3/model.pt \
#       --data ../shared/data/fer2013/fer2013.csv.gz --out carry/teachers_l80x2.pt
TEACHERS_L80X2 = REPO / "carry" / "teachers_l80x2.pt"

# name, what changes, overrides on top of configs/default.yaml + SCHEDULE. Order = priority on a small budget.
ROWS: list[tuple[str, str, list[str]]] = [
    ("base-seed0", "baseline: the default recipe, 10 epochs", []),
    # The teacher: the 50-epoch CPU model, the default shipped when this row first ran (teacher=default then).
    ("distill", "distillation from the 50-epoch CPU `s`, the default shipped then (T=2, weight 0.5)",
     ["teacher={TEACHER_CPU50}"]),
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
    # Second seeds of the earlier rows.
    ("label-smoothing-seed1", "label smoothing 0.1, second seed", ["label_smoothing=0.1", "seed=1"]),
    ("weight-decay-seed1", "weight decay 0.01, second seed", ["weight_decay=0.01", "seed=1"]),
    ("distill-seed1", "distillation from the 50-epoch CPU `s`, second seed", ["teacher={TEACHER_CPU50}", "seed=1"]),
    ("mixup-seed1", "mixup, alpha 0.2, second seed", ["mixup=0.2", "seed=1"]),
    ("ferplus-soft-seed1", "FER+ soft labels as training targets, second seed",
     ["labels=ferplus_soft", f"ferplus={FERPLUS}", "seed=1"]),
    ("erasing-seed1", "random erasing, p 0.5, second seed", ["erasing=0.5", "seed=1"]),
    ("size-xs-seed1", "model resnet_swish_xs, second seed", ["model=resnet_swish_xs", "seed=1"]),
    ("cutmix-seed1", "CutMix, alpha 1.0, second seed", ["cutmix=1.0", "seed=1"]),
    ("sgd-seed1", "SGD + Nesterov, lr 0.1, wd 5e-4, second seed",
     ["optimizer=sgd", "lr=0.1", "weight_decay=0.0005", "seed=1"]),
    # Which teacher: the `l` pair's outputs on the faces they were trained on, against the CPU `s` the same way
    # (one output per face, not per augmented view: distill_mode=offline).
    ("distill-l80x2", "distillation from the two 80-epoch GPU `l` (71.41% together), their outputs per face (T=2)",
     ["teacher_outputs={TEACHERS_L80X2}"]),
    ("distill-offline", "distillation from the 50-epoch CPU `s`, its outputs per face (T=2)",
     ["teacher={TEACHER_CPU50}", "distill_mode=offline"]),
    ("distill-l80x2-t4", "distillation from the two 80-epoch GPU `l`, their outputs per face, T=4",
     ["teacher_outputs={TEACHERS_L80X2}", "distill_temperature=4"]),
    ("distill-l80x2-seed1", "distillation from the two 80-epoch GPU `l`, their outputs per face, second seed",
     ["teacher_outputs={TEACHERS_L80X2}", "seed=1"]),
    ("distill-offline-seed1", "distillation from the 50-epoch CPU `s`, its outputs per face, second seed",
     ["teacher={TEACHER_CPU50}", "distill_mode=offline", "seed=1"]),
    # Cross-fitting on CPU: two teachers of equal strength, each trained on half the faces (without dropout, which
    # lets them fit their half), and students that get each face's outputs from the teacher that did not see it
    # (crossfit) or, as the control, from the one that did (in-sample). Only where the outputs come from differs.
    ("fold-teacher-0", "`s` without dropout, 20 epochs on half the training faces (`holdout_fold=0/2`): a fold teacher",
     ["holdout_fold=0/2", "epochs=20", "dropout2d=0", "head_dropout=0"]),
    ("fold-teacher-1", "`s` without dropout, 20 epochs on the other half (`holdout_fold=1/2`): a fold teacher",
     ["holdout_fold=1/2", "epochs=20", "dropout2d=0", "head_dropout=0"]),
    ("distill-crossfit", "distillation from the two fold teachers, each face from the one that did not train on it",
     ["teacher={FOLD_TEACHERS}", "distill_mode=crossfit"]),
    ("distill-insample", "distillation from the two fold teachers, each face from the one that trained on it "
     "(the control)", ["teacher_outputs={INSAMPLE_FOLDS}"]),
    ("distill-crossfit-seed1", "distillation from the fold teachers, out of fold, second seed",
     ["teacher={FOLD_TEACHERS}", "distill_mode=crossfit", "seed=1"]),
    ("distill-insample-seed1", "distillation from the fold teachers, in-sample (the control), second seed",
     ["teacher_outputs={INSAMPLE_FOLDS}", "seed=1"]),
    # Residual branches that start at full scale: with the family's zero start, the branches' convs get no gradient
    # until their last BN scale has grown, and SGD at lr 0.05 had not left the class prior's loss after 300 steps
    # (bench/residual_init.py). Trained on a CPU with AMX, so fp32 is forced to keep the arithmetic of the rows above.
    ("residual-one", "residual branches start at full scale (`zero_init_residual=false`)",
     ["zero_init_residual=false", "precision=32"]),
    ("sgd-residual-one", "SGD + Nesterov, lr 0.05, wd 5e-4, residual branches at full scale",
     ["optimizer=sgd", "lr=0.05", "weight_decay=0.0005", "zero_init_residual=false", "precision=32"]),
    ("residual-one-seed1", "residual branches at full scale, second seed",
     ["zero_init_residual=false", "precision=32", "seed=1"]),
]
FOLD_TEACHERS = [OUT / f"fold-teacher-{k}" / "model.pt" for k in (0, 1)]
# The fold teachers' outputs on the faces each was trained on, made by train() before the first row that needs it.
INSAMPLE_FOLDS = OUT / "teachers_insample_folds.pt"
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
        names_used = {key for o in overrides for key in ("{FOLD_TEACHERS}", "{INSAMPLE_FOLDS}") if key in o}
        fold_teachers = ",".join(map(str, FOLD_TEACHERS))
        places = {"{TEACHER_CPU50}": str(TEACHER_CPU50), "{TEACHERS_L80X2}": str(TEACHERS_L80X2),
                  "{FOLD_TEACHERS}": fold_teachers, "{INSAMPLE_FOLDS}": str(INSAMPLE_FOLDS)}
        for key, value in places.items():
            overrides = [o.replace(key, value) for o in overrides]
        absent = [str(t) for t in FOLD_TEACHERS if not t.is_file()]
        if names_used and absent:
            print(f"{name}: skipped, fold teacher(s) missing: {', '.join(absent)} (rows fold-teacher-0/1)", flush=True)
            continue
        if "{INSAMPLE_FOLDS}" in names_used and not INSAMPLE_FOLDS.is_file():
            subprocess.run([sys.executable, str(REPO / "bench" / "teacher_outputs.py"), "--insample",
                            "--teacher", fold_teachers, "--data", str(FER2013), "--out", str(INSAMPLE_FOLDS)],
                           cwd=REPO, check=True)
        if any(str(TEACHERS_L80X2) in o for o in overrides) and not TEACHERS_L80X2.is_file():
            print(f"{name}: skipped, {TEACHERS_L80X2} is missing (the command that writes it is in this script)",
                  flush=True)
            continue
        if any(str(TEACHER_CPU50) in o for o in overrides) and not TEACHER_CPU50.is_file():
            TEACHER_CPU50.parent.mkdir(parents=True, exist_ok=True)
            TEACHER_CPU50.write_bytes(subprocess.run(
                ["git", "show", f"{TEACHER_CPU50_COMMIT}:src/ferkit/assets/default_model.pt"],
                cwd=REPO, check=True, capture_output=True).stdout)
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
        "public_test_labels": summary.get("val_labels", "fer2013"),  # FER+'s for a run that selected on them
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


def _change_of(name: str) -> str:
    """The change a row measures: its name without the seed (``mixup-seed1`` and ``mixup`` are one change)."""
    return "base" if name in BASELINES else name.removesuffix("-seed1")


def _mean_spread(values: list[float]) -> dict:
    return {"mean": round(statistics.mean(values), 5), "spread": round(max(values) - min(values), 5)}


def _by_change(rows: list[dict], ref: dict) -> list[dict]:
    """Per change: the mean and spread (max - min) over its seeds, and the mean's Δ against the baselines'."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_change_of(r["name"]), []).append(r)
    out = []
    for change, members in groups.items():
        entry: dict = {"change": change, "label": members[0]["change"], "runs": [r["name"] for r in members],
                       "seeds": len(members)}
        for key in ("public_test", "private_test", "private_test_flip_tta", "private_test_dedup", "ece"):
            entry[key] = _mean_spread([r[key] for r in members])
        if ref:
            entry["delta_public"] = round(entry["public_test"]["mean"] - ref["public_test"]["mean"], 5)
            entry["delta_private"] = round(entry["private_test"]["mean"] - ref["private_test"]["mean"], 5)
        out.append(entry)
    return out


def table(previous: Path | None = None) -> dict:
    """The study's JSON. A row whose run folder is gone (trained on an earlier machine) is taken from
    ``previous``, the JSON this command wrote then, and marked ``recorded``; its figures are that run's."""
    old = json.loads(previous.read_text()) if previous is not None and previous.is_file() else {}
    old_rows = {r["name"]: r for r in old.get("rows", []) + old.get("full_schedule", [])}

    def found(name: str, change: str, run: Path) -> dict | None:
        if (run / "summary.json").is_file():
            return _row(name, change, run)
        return dict(old_rows[name], change=change, recorded=True) if name in old_rows else None

    rows, missing = [], []
    for name, change, _ in ROWS:
        row = found(name, change, OUT / name)
        if row:
            rows.append(row)
        else:
            missing.append(name)
    base = [r for r in rows if r["name"] in BASELINES]
    ref = {}
    if base:
        for key in ("public_test", "private_test"):
            ref[key] = _mean_spread([r[key] for r in base]) | {"n": len(base)}
        for r in rows:
            r["delta_public"] = round(r["public_test"] - ref["public_test"]["mean"], 5)
            r["delta_private"] = round(r["private_test"] - ref["private_test"]["mean"], 5)
    full = [row for name, run, change in FULL if (row := found(name, change, REPO / run))]
    live = [r for r in [*base, *full] if not r.get("recorded")]
    ensembles = _tta_and_ensembles(live, {r["name"] for r in full if not r.get("recorded")})
    if any(r.get("recorded") for r in full):  # a member's model file is gone: keep the ensembles scored then
        ensembles = old.get("ensembles_of_full_schedule", [])
    return {"schedule": SCHEDULE, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
            "baseline": ref, "rows": rows, "by_change": _by_change(rows, ref), "missing": missing,
            "full_schedule": full, "ensembles_of_full_schedule": ensembles}


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
    by_change = [c for c in result.get("by_change", []) if c["seeds"] > 1]
    if by_change:
        lines += ["", "The changes run on two seeds: mean over the seeds, and in brackets the spread (max - min), "
                  "in points; Δ is the mean's:", "",
                  "| change | runs | PublicTest % | Δ | PrivateTest % | Δ | flip TTA % | dedup % | ECE % |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in by_change:
            def cell(key: str) -> str:
                return f"{_pct(c[key]['mean'])} ({100 * c[key]['spread']:.2f})"
            label = "baseline: the default recipe, 10 epochs" if c["change"] == "base" else c["label"]
            lines.append(f"| {label} | {', '.join(f'`{n}`' for n in c['runs'])} | {cell('public_test')} "
                         f"| {_pct(c.get('delta_public'), True)} | {cell('private_test')} "
                         f"| {_pct(c.get('delta_private'), True)} | {cell('private_test_flip_tta')} "
                         f"| {cell('private_test_dedup')} | {cell('ece')} |")
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
        if by_change:
            worst = {k: max(c[k]["spread"] for c in by_change) for k in ("public_test", "private_test")}
            notes[-1] += (f" Two seeds of one change differ by up to {_pct(worst['public_test'])} points on PublicTest "
                          f"and {_pct(worst['private_test'])} on PrivateTest: a one-seed Δ below that is not an effect.")
    if any(r.get("recorded") for r in [*result["rows"], *result["full_schedule"]]):
        notes.append("Rows whose run folder is no longer on the machine that wrote this table are taken from the "
                     "JSON this command wrote when they were trained (`--previous`).")
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
    tb.add_argument("--previous", metavar="JSON", type=Path, default=REPO / "docs" / "bench" / "accuracy_study.json",
                    help="the table's last JSON: rows whose run folder is gone are taken from it "
                         "(default: %(default)s)")
    args = parser.parse_args()
    if args.cmd == "train":
        OUT.mkdir(parents=True, exist_ok=True)
        return train(args.rows)
    result = table(args.previous)
    print(json.dumps(result, indent=2))
    if args.markdown:
        _write_table(Path(args.markdown), markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
