"""FER2013 PrivateTest figures of trained models, and of every ensemble of them.

For models trained where the test split was not carried (``bench/gpu_train.py`` packs Training and
PublicTest only), this is where their test figures come from. Per model: accuracy, flip-TTA accuracy,
accuracy on the de-duplicated test subset, ECE (15 bins) after and before the model's temperature;
with ``--ferplus``, also accuracy against FER+ majority labels on PublicTest and PrivateTest (the faces
that have one), which can tell apart models that FER2013's one-annotator labels rank the other way,
and ECE against them on PrivateTest (``ece_ferplus``, after the model's temperature); with ``--ferplus``,
``--select`` or ``--against``, its accuracy on PublicTest against FER2013's labels (``accuracy_val``);
with ``--tencrop``, accuracy with ten-crop TTA too (``ferkit.evaluation.logits.ten_crop_views``; ten
forward passes a face, so about 20 minutes for ``resnet_swish_l`` on 2 cores).
Per ensemble of two or more (probabilities averaged after each model's temperature): accuracy without
and with flip TTA (and ten-crop), and each on the de-duplicated subset; with ``--ferplus`` or ``--select``
also its accuracy on PublicTest, and with ``--ferplus`` against FER+'s labels on both splits. ``--select N``
also picks an ensemble without looking at the test split: N steps of greedy forward selection with replacement
(Caruana et al., 2004) of the model that most lowers the PublicTest NLL of the averaged probabilities, so a
model picked k times weighs k/N; it is then scored like the others. ``--against NAME`` also gives each
other model's accuracy minus that model's, face by face on the same faces, with a 95% paired bootstrap
interval (``ferkit.evaluation.metrics.paired_difference``), on PublicTest and PrivateTest and, with
``--ferplus``, against FER+'s labels on both: whether a margin that decides which model ships is larger
than the test faces can resolve. Prints JSON.

``--write`` also stores the test figures in each checkpoint's metrics (``metrics["test"]``, as
training writes them when the test split is present) and in the ``summary.json`` beside it, so
that a model trained without the test split describes itself like any other:

    python bench/score_runs.py --threads 2 runs/gpu1/runs/gpu-l-seed0/model.pt runs/gpu1/runs/gpu-l-seed1/model.pt

Every combination of the models is scored unless ``--ensemble`` names the ones to score (member run
folders' names, comma-separated; repeat it for more). ``--cache DIR`` keeps each model's test logits,
keyed by the checkpoint's SHA-256, so that a later call with more models does not score the large
ones again on the CPU (about 4 minutes each for ``resnet_swish_l`` on 2 cores).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import itertools
import json
import platform
import time
from pathlib import Path

import torch

from ferkit.data import dedup_test_mask, load_dataset
from ferkit.data.ferplus import NO_LABEL, load_ferplus, majority_labels
from ferkit.evaluation.calibration import expected_calibration_error
from ferkit.evaluation.logits import face_logits
from ferkit.evaluation.metrics import paired_difference
from ferkit.training.checkpoint import load_checkpoint
from ferkit.training.finalize import figures_from_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="ferkit checkpoints (model.pt)")
    parser.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true",
                        help="store the test figures in each checkpoint and its run's summary.json")
    parser.add_argument("--ensemble", action="append", default=[], metavar="RUN,RUN,...",
                        help="score only these ensembles (members by run folder name); default: every combination")
    parser.add_argument("--cache", help="folder for each model's test logits, reused by later calls")
    parser.add_argument("--ferplus", help="fer2013new.csv: also score against FER+ majority labels")
    parser.add_argument("--tencrop", action="store_true", help="also score with ten-crop TTA")
    parser.add_argument("--select", type=int, default=0, metavar="N",
                        help="also pick an ensemble on PublicTest by N steps of greedy selection (see above)")
    parser.add_argument("--against", metavar="RUN",
                        help="also give every other model's paired accuracy difference from this one (see above)")
    args = parser.parse_args()
    folders = [Path(p).parent.name for p in args.models]
    # A model is named by its run folder, or by the path given where two runs share a folder name.
    label = {p: f if folders.count(f) == 1 else p for p, f in zip(args.models, folders)}
    by_label = {name: p for p, name in label.items()}
    for spec in args.ensemble:
        if unknown := set(spec.split(",")) - set(by_label):
            parser.error(f"--ensemble {spec}: no model given as {', '.join(sorted(unknown))}")
    if args.against and args.against not in by_label:
        parser.error(f"--against {args.against}: no model given as that (name one of {', '.join(by_label)})")
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    test, val_split = data.by_split("test"), data.by_split("val")
    y, y_val = torch.as_tensor(test.labels), torch.as_tensor(val_split.labels)
    dedup = torch.as_tensor(dedup_test_mask(data)[data.split == "test"])
    if args.ferplus:  # FER+'s majority label of each PublicTest and PrivateTest face (NO_LABEL where none)
        votes = load_ferplus(args.ferplus)
        ferplus = {"val": torch.as_tensor(majority_labels(val_split, votes)),
                   "test": torch.as_tensor(majority_labels(test, votes))}

    def pct(logits: torch.Tensor, mask=slice(None)) -> float:
        return percent_right(logits[mask], y[mask])

    def ferplus_figures(val: torch.Tensor, test_scores: torch.Tensor, temperature: float | None = None) -> dict:
        """Accuracy against FER+'s majority labels on PublicTest and PrivateTest, where a face has one; given a
        model's temperature, also its ECE against them on PrivateTest."""
        figures = {}
        for split, scored, key in (("val", val, "accuracy_ferplus_val"), ("test", test_scores, "accuracy_ferplus")):
            has = ferplus[split] != NO_LABEL
            figures[key] = percent_right(scored[has], ferplus[split][has])
        if temperature is not None:
            has = ferplus["test"] != NO_LABEL
            probs = (test_scores[has] / temperature).softmax(1)
            figures["ece_ferplus"] = round(expected_calibration_error(probs, ferplus["test"][has]) * 100, 2)
        return figures

    out: dict = {"bench": "score_runs", "split": "FER2013 PrivateTest", "n": len(y), "n_dedup": int(dedup.sum()),
                 "cpu": platform.machine(), "threads": args.threads, "models": {}, "ensembles": []}
    calibrated, val_calibrated = {}, {}
    for path in args.models:
        started = time.time()
        ckpt = load_checkpoint(path)
        model = ckpt.build_model().eval()
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]

        def logits(kind: str, compute):  # kind: a suffix of the cache file; "" for the plain and flip pair
            return cached_logits(Path(args.cache) / f"{digest}{kind}.pt" if args.cache else None, compute)

        plain, flip = logits("", lambda: (face_logits(model, test.faces, ckpt.normalization),
                                          face_logits(model, test.faces, ckpt.normalization, tta=True)))
        t = ckpt.temperature
        calibrated[path] = (plain / t, flip / t)
        if args.tencrop:
            tencrop = logits(".tencrop", lambda: face_logits(model, test.faces, ckpt.normalization, tta="tencrop"))
            calibrated[path] += (tencrop / t,)
        out["models"][path] = {
            "arch": ckpt.arch, "accuracy": pct(plain), "accuracy_flip": pct(flip), "accuracy_dedup": pct(plain, dedup),
            "ece": round(expected_calibration_error((plain / t).softmax(1), y) * 100, 2),
            "ece_uncalibrated": round(expected_calibration_error(plain.softmax(1), y) * 100, 2),
            "temperature": round(t, 4), "val_accuracy": ckpt.metrics.get("val_accuracy"),
            "epochs_run": ckpt.metrics.get("epochs_run")}
        if args.tencrop:
            out["models"][path] |= {"accuracy_tencrop": pct(tencrop), "accuracy_tencrop_dedup": pct(tencrop, dedup)}
        if args.ferplus or args.select or args.against:
            val = logits(".val", lambda: face_logits(model, val_split.faces, ckpt.normalization))
            val_calibrated[path] = val / t
            # FER2013's labels; val_accuracy above is the run's own, on FER+'s for a run that selected on them
            out["models"][path]["accuracy_val"] = percent_right(val, y_val)
        if args.ferplus:
            out["models"][path] |= ferplus_figures(val, plain, t)
        out["models"][path]["score_s"] = round(time.time() - started, 1)
        print(json.dumps({path: out["models"][path]}), flush=True)
        if args.write:
            # The same logits, scored as training scores a test split (fractions, NLL too).
            write_test_figures(path, ckpt, figures_from_logits(plain, flip, data, t, dedup))
    combos = [[by_label[n] for n in spec.split(",")] for spec in args.ensemble] or [
        combo for r in range(2, len(args.models) + 1) for combo in itertools.combinations(args.models, r)]
    for combo in combos:
        plain = sum(calibrated[p][0].softmax(1) for p in combo) / len(combo)
        flip = sum(calibrated[p][1].softmax(1) for p in combo) / len(combo)
        out["ensembles"].append({"members": [label[p] for p in combo],
                                 "accuracy": pct(plain), "accuracy_flip": pct(flip),
                                 "accuracy_dedup": pct(plain, dedup), "accuracy_flip_dedup": pct(flip, dedup)})
        if args.tencrop:
            tencrop = sum(calibrated[p][2].softmax(1) for p in combo) / len(combo)
            out["ensembles"][-1] |= {"accuracy_tencrop": pct(tencrop), "accuracy_tencrop_dedup": pct(tencrop, dedup)}
        if val_calibrated:  # PublicTest too, where a member set may be chosen without the test split
            val = sum(val_calibrated[p].softmax(1) for p in combo) / len(combo)
            out["ensembles"][-1]["val_accuracy"] = percent_right(val, y_val)
            if args.ferplus:
                out["ensembles"][-1] |= ferplus_figures(val, plain)
    if args.select:
        out["selected"] = select_on_val(args.select, args.models, val_calibrated, val_split.labels,
                                        calibrated, label, pct, dedup)
    if args.against:
        out["against"] = against(by_label[args.against], args.models, label, calibrated, val_calibrated,
                                 {"val": y_val, "test": y}, ferplus if args.ferplus else None)
    print(json.dumps(out, indent=2))


def against(base: str, models: list[str], label: dict, calibrated: dict, val_calibrated: dict, labels: dict,
            ferplus: dict | None) -> dict:
    """Each model's accuracy minus ``base``'s on the same faces, with paired 95% bootstrap intervals."""
    scores = {p: {"val": val_calibrated[p], "test": calibrated[p][0]} for p in models}
    label_sets = [("", labels)] + ([("_ferplus", ferplus)] if ferplus else [])
    result: dict = {"model": label[base], "resamples": 10_000, "differences": {}}
    for path in models:
        if path == base:
            continue
        entry = result["differences"][label[path]] = {}
        for suffix, truth in label_sets:
            for split, name in (("val", "PublicTest"), ("test", "PrivateTest")):
                has = truth[split] != NO_LABEL
                right = {p: scores[p][split][has].argmax(1) == truth[split][has] for p in (path, base)}
                entry[name + suffix] = paired_difference(right[path], right[base]).to_dict()
    return result


def percent_right(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy in percent, to two decimals, of the top class of each row of ``scores``."""
    return round(float((scores.argmax(1) == labels).double().mean()) * 100, 2)


def cached_logits(file: Path | None, compute):
    """What ``compute()`` returns, kept in ``file`` (when given) and read from there by later calls."""
    if file and file.is_file():
        return torch.load(file, weights_only=True)
    result = compute()
    if file:
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(result, file)
    return result


def select_on_val(steps: int, models: list[str], val_calibrated: dict, val_labels, calibrated: dict, label: dict,
                  pct, dedup) -> dict:
    """Greedy forward selection with replacement on PublicTest NLL; the bag's figures on PrivateTest."""
    y_val = torch.as_tensor(val_labels)
    probs = {p: val_calibrated[p].softmax(1) for p in models}

    def nll(p: torch.Tensor) -> float:
        return float(torch.nn.functional.nll_loss(p.clamp_min(1e-12).log(), y_val))

    bag: list[str] = []
    total = torch.zeros_like(next(iter(probs.values())))
    for _ in range(steps):
        best = min(models, key=lambda p: nll((total + probs[p]) / (len(bag) + 1)))
        bag.append(best)
        total = total + probs[best]
    weights = collections.Counter(bag)

    def mix(view: int) -> torch.Tensor:
        return sum(k * calibrated[p][view].softmax(1) for p, k in weights.items()) / len(bag)

    mean_val = total / len(bag)
    result = {"steps": steps, "members": {label[p]: k for p, k in weights.most_common()},
              "val_nll": round(nll(mean_val), 4),
              "val_accuracy": percent_right(mean_val, y_val)}
    for view, name in enumerate(("", "_flip", "_tencrop")[:len(next(iter(calibrated.values())))]):
        result[f"accuracy{name}"] = pct(mix(view))
        result[f"accuracy{name}_dedup"] = pct(mix(view), dedup)
    return result


def write_test_figures(path: str, ckpt, figures: dict) -> None:
    ckpt.metrics["test"] = {**figures, "scored_by": "bench/score_runs.py --write"}
    ckpt.save(path)
    summary = Path(path).with_name("summary.json")
    if summary.is_file():
        run = json.loads(summary.read_text())
        run["test"] = ckpt.metrics["test"]
        summary.write_text(json.dumps(run, indent=2))


if __name__ == "__main__":
    main()
