"""Write the teachers' probabilities on a dataset's training faces, for ``ferkit train ... teacher_outputs=FILE``.

Offline distillation needs the teachers only for one pass over the training faces. This runs that pass
where the teachers are (large ones take minutes per model on a CPU: ``l`` classifies about 32 faces/s on
2 cores) and writes a small file (28,709 x 7 floats, under 1 MB for FER2013) that a run elsewhere (a lent
GPU, which is carried the data but not four 23 MB teachers) trains against:

    python bench/teacher_outputs.py --teacher a.pt,b.pt --data fer2013.csv.gz --out carry/teachers.pt
    ferkit train configs/s_gpu80_teachers.yaml data=carry/fer2013_trainval.npz.xz teacher_outputs=carry/teachers.pt

The file records the teachers' SHA-256, the temperature and a checksum of the faces; a run refuses it on
other faces (another dataset, split, ``train_limit``), and re-tempers it exactly for another
``distill_temperature`` (softmax(z/T) is proportional to softmax(z/T0) ** (T0/T)). The faces are
the training split exactly as ``ferkit train`` loads it from ``--data`` (a CSV and the packed file of
the same CSV give the same faces). Prints JSON, with how far the outputs go beyond the labels: how often
their top class is the label, and their mean top probability. ``--inspect FILE`` prints the same for a
file written before, without the teachers:

    python bench/teacher_outputs.py --inspect carry/teachers.pt --data fer2013.csv.gz

``--ferplus fer2013new.csv`` (with the FER2013 CSV as ``--data``) adds how the outputs stand against FER+'s
ten-annotator majority labels: how often the top class is FER+'s label, and, on the faces where it is not
FER2013's label, whether FER+ sides with the teachers or with FER2013.

A teacher reproduces the labels of the faces it was trained on (the two 80-epoch ``l`` agree with the label
on 95% of theirs), so its outputs there carry little beyond the label. ``--crossfit`` takes teachers trained
with ``holdout_fold=K/N`` (every fold K covered) and gives each face only the outputs of the teachers trained
without it, as ``distill_mode=crossfit`` does in a run:

    ferkit train configs/default.yaml zero_init_residual=true model=resnet_swish_l holdout_fold=0/2 \
        name=l-fold0   # and 1/2
    python bench/teacher_outputs.py --crossfit --teacher runs/l-fold0/model.pt,runs/l-fold1/model.pt \
        --data fer2013.csv.gz --out carry/teachers_crossfit.pt

``--insample`` is the control for that comparison: the same fold teachers, but each face gets the outputs
of the teachers that were trained on it, so a student taught by each file sees teachers of the same strength
and only where their outputs come from differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--teacher", help="ferkit checkpoint(s), comma-separated (averaged)")
    what.add_argument("--inspect", metavar="FILE", help="a file written before: its figures only")
    parser.add_argument("--data", required=True, help="the dataset the student trains on")
    parser.add_argument("--out", help="the file to write (with --teacher)")
    parser.add_argument("--temperature", type=float, default=2.0, help="the student's distill_temperature")
    parser.add_argument("--crossfit", action="store_true",
                        help="teachers trained with holdout_fold=K/N: each face gets those trained without it")
    parser.add_argument("--insample", action="store_true",
                        help="the control for --crossfit: the same teachers, each face gets those trained on it")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ferplus", metavar="CSV", help="fer2013new.csv: compare the outputs with FER+ labels")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="training settings that change the faces, e.g. train_limit=512")
    args = parser.parse_args()

    import torch

    from ferkit.config import load_config
    from ferkit.errors import FerkitError
    from ferkit.training.module import FaceDataModule, save_teacher_outputs
    from ferkit.training.run import load_training_data

    if args.teacher and not args.out:
        parser.error("--teacher needs --out")
    if (args.crossfit or args.insample) and not args.teacher:
        parser.error("--crossfit and --insample need --teacher")
    if args.crossfit and args.insample:
        parser.error("--crossfit or --insample, not both")
    torch.set_num_threads(args.threads)
    started = time.time()
    try:
        source = [f"teacher={args.teacher}"] if args.teacher else [f"teacher_outputs={args.inspect}"]
        if args.crossfit or args.insample:
            source.append("distill_mode=crossfit")  # checks the teachers' folds for --insample too
        config = load_config(None, [f"data={args.data}", *source, f"distill_temperature={args.temperature}",
                                    *args.overrides])
        train = FaceDataModule(load_training_data(config), config)
        if args.inspect:
            probs = train.teacher_probs  # read and checked against the faces by the data module
        elif args.insample:
            probs = _insample_outputs(config, train.train_data.faces, args.out)
        else:
            probs = save_teacher_outputs(config, train.train_data.faces, args.out,
                                         "cuda" if torch.cuda.is_available() else "cpu")
    except FerkitError as err:
        sys.exit(f"error: {err}")
    labels = torch.as_tensor(train.train_data.labels)
    report = {"bench": "teacher_outputs", "data": args.data, "faces": len(probs), "temperature": args.temperature}
    mode = "insample" if args.insample else config.distill_mode
    report |= {"teachers": args.teacher.split(","), "out": args.out, "mode": mode} if args.teacher \
        else {"file": args.inspect}
    report |= {
        "top_class_is_label": round(float((probs.argmax(1) == labels).double().mean()), 4),
        "mean_top_probability": round(float(probs.max(1).values.mean()), 4),
        "mean_label_probability": round(float(probs[torch.arange(len(probs)), labels].mean()), 4),
        "threads": args.threads}
    if args.ferplus:
        try:
            report["ferplus"] = _against_ferplus(args.ferplus, train.train_data, probs.argmax(1), labels)
        except FerkitError as err:
            sys.exit(f"error: {err}")
    report["wall_s"] = round(time.time() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


def _against_ferplus(path: str, faces, top, labels) -> dict:
    """The teachers' top class and FER2013's label, each against FER+'s majority, where FER+ has one."""
    import torch

    from ferkit.data.ferplus import NO_LABEL, majority_labels

    majority = torch.as_tensor(majority_labels(faces, path))
    has = majority != NO_LABEL
    differ = has & (top != labels)

    def share(hits, among) -> float:
        return round(float((hits & among).sum() / max(int(among.sum()), 1)), 4)

    return {"faces": int(has.sum()), "label_is_ferplus": share(labels == majority, has),
            "top_class_is_ferplus": share(top == majority, has),
            "where_top_class_is_not_label": {"faces": int(differ.sum()),
                                             "ferplus_is_top_class": share(top == majority, differ),
                                             "ferplus_is_label": share(labels == majority, differ)}}


def _insample_outputs(config, faces, out: str):
    """Each face's probabilities averaged over the fold teachers that were trained on it; written to ``out``."""
    import numpy as np
    import torch

    # The run's own fold check, teacher pass and file format, so the control differs from --crossfit in nothing else.
    from ferkit.training.module import (_crossfit_folds, _teacher_cache_key, _write_teacher_outputs,
                                        offline_teacher_probs)

    paths = config.teacher_paths()
    trained_on = [np.setdiff1d(np.arange(len(faces)), held_out)
                  for held_out in _crossfit_folds(config, paths, len(faces))]
    probs = offline_teacher_probs(config, faces, "cuda" if torch.cuda.is_available() else "cpu", index=trained_on)
    _write_teacher_outputs(Path(out), _teacher_cache_key(config, faces) | {"mode": "insample"}, probs)
    return probs


if __name__ == "__main__":
    raise SystemExit(main())
