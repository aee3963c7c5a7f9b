"""The ``ferkit`` command line: parses, calls the Python API, prints.

Each sub-command is a pair ``_add_<name>(subparsers)`` / ``_run_<name>(args) -> int``
registered in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ferkit.errors import FerkitError, output_path

if TYPE_CHECKING:  # the commands import their modules when they run
    from ferkit.inference.quantize import QuantCheck

COMMANDS: list = []  # filled by @command below, in help order


def command(add):
    COMMANDS.append(add)
    return add


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferkit", description="Facial expression recognition toolkit.")
    if argv is None:
        _fast_allocator_reexec(sys.argv[1:])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    args, extra = parser.parse_known_args(argv)
    # key=value after a flag (`ferkit train CONFIG --resume threads=2`): argparse ends the overrides at the flag.
    if extra and isinstance(getattr(args, "overrides", None), list) and all(
            "=" in e and not e.startswith("-") for e in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        from ferkit import __version__

        print(__version__)
        return 0
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("ferkit: interrupted", file=sys.stderr)
        return 130
    except FerkitError as e:  # a problem the user can fix: one line, no traceback
        print(f"ferkit: error: {e}", file=sys.stderr)
        return 1


@command
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="inspect datasets", description="Inspect datasets.")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    s = data_sub.add_parser(
        "summary", help="counts per split and class, duplicates, leaks, near-blank faces",
        description="Counts per split and class, identical faces and train/test leaks, near-blank faces. "
                    "PATH: FER2013 .csv/.csv.gz, FER2013 images .zip or folder, AffectNet folder.")
    s.add_argument("path", metavar="PATH", help="the dataset")
    s.add_argument("--ferplus", metavar="PATH", help="fer2013new.csv: also count FER+ majority labels")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--no-cache", action="store_true", help="decode the source even if a cached copy exists")
    s.set_defaults(run=_run_data)
    a = data_sub.add_parser(
        "augment", help="save a picture of the training augmentation applied to faces of PATH",
        description="Save a grid of training faces, one per emotion, each with several random augmentations "
                    "drawn exactly as training draws them (settings from a config and key=value overrides).")
    a.add_argument("path", metavar="PATH", help="the dataset")
    a.add_argument("--save", metavar="FILE", required=True, help="PNG to write")
    a.add_argument("--config", metavar="YAML", help="take the augmentation settings from this training preset")
    a.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. rotation=20 fill=reflection")
    a.set_defaults(run=_run_data_augment)
    k = data_sub.add_parser(
        "pack", help="write a dataset's decoded faces to one compact .npz.xz file",
        description="Write the faces, labels and splits of PATH to OUT (.npz.xz, LZMA): a file that "
                    "data=OUT trains from, small enough to carry to another machine.")
    k.add_argument("path", metavar="PATH", help="the dataset")
    k.add_argument("out", metavar="OUT", help="file to write, ending in .npz.xz")
    k.add_argument("--splits", default="train,val,test", metavar="S,S",
                   help="comma-separated splits to keep (default: train,val,test)")
    k.set_defaults(run=_run_data_pack)


def _run_data(args) -> int:
    import json

    from ferkit.data import load_dataset
    from ferkit.data.summary import summarize

    summary = summarize(load_dataset(args.path, use_cache=not args.no_cache), ferplus=args.ferplus)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
    return 0


def _run_data_pack(args) -> int:
    from ferkit.data import load_dataset, save_packed

    output_path(args.out, "OUT")
    dataset = load_dataset(args.path)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits:
        raise FerkitError(f"--splits {args.splits!r} names no split; e.g. train,val")
    out = save_packed(dataset, args.out, splits, progress=sys.stderr.isatty())
    kept = int(sum(dataset.split == s for s in splits).sum())
    print(f"{out}: {kept} faces ({', '.join(splits)}), {out.stat().st_size / 1e6:.1f} MB")
    return 0


def _run_data_augment(args) -> int:
    from ferkit.config import TrainConfig, apply_overrides, load_config, parse_overrides
    from ferkit.data import load_dataset
    from ferkit.training.augment import AugmentConfig
    from ferkit.training.preview import augmentation_figure

    config = load_config(args.config, [f"data={args.path}", *args.overrides]) if args.config else \
        apply_overrides(TrainConfig(data=args.path), parse_overrides(args.overrides)).validate()
    print(augmentation_figure(load_dataset(args.path), args.save, AugmentConfig.from_config(config)))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _margin(text: str) -> float:
    from ferkit.inference.crop import check_margin

    try:
        return check_margin(float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("margin ")) from None


# argparse names a type in its "invalid <type> value" message by the function's name.
_positive_int.__name__, _fraction.__name__, _margin.__name__ = "whole number", "fraction", "margin"


@command
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML preset with key=value overrides",
                       description="Train a model: dataclass defaults, then the CONFIG preset, then key=value "
                                   "overrides (e.g. epochs=10 model=resnet_swish_xs data=PATH).")
    p.add_argument("config", help="YAML preset, e.g. configs/default.yaml")
    # A default keeps argparse from listing key=value as required when CONFIG is missing.
    p.add_argument("overrides", nargs="*", default=[], metavar="key=value", help="override any TrainConfig field")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from ferkit.config import load_config
    from ferkit.training.run import train

    config = load_config(args.config, args.overrides)
    try:
        result = train(config, resume=args.resume)
    except KeyboardInterrupt:
        print("ferkit: interrupted; the same command with --resume continues from the last finished epoch",
              file=sys.stderr)
        return 130
    if result.summary:
        test = result.summary.get("test", {})
        print(f"run folder: {result.run_dir}")
        on = " on FER+'s PublicTest labels" if result.summary.get("val_labels") == "ferplus" else ""
        print(f"model: {result.model_path} (selected {result.summary['selected']}, "
              f"T={result.summary['temperature']}{on})")
        if result.summary.get("swa", "").startswith("not reached"):
            print(f"SWA {result.summary['swa']} (early_stopping_patience=0 lets it finish)")
        for figures in (test, test.get("ferplus")):
            if figures:
                print(f"test accuracy {figures['accuracy']:.4f} (flip TTA {figures['accuracy_tta']:.4f}, "
                      f"de-duplicated {figures['accuracy_dedup']:.4f}), ECE {figures['ece']:.4f} "
                      f"(uncalibrated {figures['ece_uncalibrated']:.4f}"
                      + (f", floor {figures['ece_floor']:.4f}" if "ece_floor" in figures else "")
                      + f") on {figures['split']}")
    return 0


def _fast_allocator_reexec(argv: list[str]) -> None:
    """Restart ``ferkit train`` once with glibc's mmap threshold raised.

    glibc's default malloc returns large tensor buffers to the OS after every
    step and faults them in again: a ResNet training step ran ~1.7x slower here.
    The tunable only takes effect at process start, hence the re-exec.
    """
    if (argv[:1] != ["train"] or not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ
            or os.environ.get("FERKIT_NO_REEXEC")):
        return
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=4294967296", FERKIT_NO_REEXEC="1")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "ferkit", *argv], env)


@command
def _add_predict(sub) -> None:
    # Defaults are None here so the Recognizer's own defaults apply: they live in one place.
    p = sub.add_parser(
        "predict", help="recognise facial expressions in images, folders, videos or a webcam",
        description="Find faces and recognise their expression. Without --csv/--json, prints one line per face. "
                    "Exit status 1 when any input could not be used (the others are still processed).")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="an image, a folder (searched recursively), a glob ('shots/*.jpg'), a video file, "
                        "or a webcam index (0)")
    p.add_argument("--model", metavar="PATH",
                   help="ferkit checkpoint (.pt) or exported .onnx model (default: the model shipped with ferkit); "
                        "several, comma-separated, are averaged as an ensemble")
    p.add_argument("--backend", choices=("torch", "onnx"),
                   help="classifier runtime (default: onnx when onnxruntime is installed, with the export "
                        "made once and cached by the checkpoint's hash; else torch)")
    p.add_argument("--int8", action="store_true", default=None,
                   help="run the int8 version of the model on ONNX Runtime: about 2.5x the faces/s, "
                        "its accuracy beside the fp32 model's in docs/MODEL_CARD.md (see ferkit export --int8)")
    p.add_argument("--detector", metavar="NAME",
                   help="face detector by name, e.g. haar (default: the best one bundled; "
                        "see ferkit.inference.detectors)")
    p.add_argument("--min-face", type=_positive_int, metavar="PX",
                   help="smallest face to look for, in pixels of the image (default: 100 with yuface; "
                        "smaller finds more faces in group photos and wide shots, and is slower)")
    p.add_argument("--margin", type=_margin,
                   help="grow each side of the face crop by this fraction of the box, -0.25 to 1 (default: 0)")
    p.add_argument("--tta", action="store_true", default=None, help="average with the mirrored face")
    p.add_argument("--align", action="store_true", default=None,
                   help="rotate each face so its eyes are level (needs a detector with landmarks: yuface)")
    p.add_argument("--crops", action="store_true", help="the inputs are already face crops: skip detection")
    p.add_argument("--csv", metavar="FILE", help="write one row per face to FILE ('-': stdout)")
    p.add_argument("--json", metavar="FILE", help="write one object per face to FILE ('-': stdout)")
    p.add_argument("--save", metavar="DIR", help="write annotated images and videos (.mp4) to DIR")
    p.add_argument("--every", type=_positive_int, metavar="N", help="in videos, process every Nth frame")
    p.add_argument("--smooth", type=_fraction, metavar="ALPHA",
                   help="in videos, average each tracked face's probabilities over time with this weight "
                        "of the past, e.g. 0.7 (default: off)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N", help="faces per classifier call")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="classifier threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_predict)


def _run_predict(args) -> int:
    from ferkit.inference.recognizer import Recognizer
    from ferkit.inference.run import PredictRun
    from ferkit.inference.writers import TableWriter, face_lines

    if args.csv and args.json and (args.csv == args.json or Path(args.csv).resolve() == Path(args.json).resolve()):
        raise FerkitError(f"--csv and --json both write to {args.csv!r}; give them different files")
    given = {"backend": args.backend, "int8": args.int8, "detector": args.detector, "min_face": args.min_face,
             "margin": args.margin, "tta": args.tta, "align": args.align, "batch_size": args.batch_size,
             "threads": args.threads}
    recognizer = Recognizer(args.model, **{k: v for k, v in given.items() if v is not None})
    streams = {"every": args.every, "smooth": args.smooth}
    run = PredictRun(recognizer, crops=args.crops, save_dir=args.save,
                     progress=not args.no_progress and sys.stderr.isatty(),
                     **{k: v for k, v in streams.items() if v is not None})
    inputs = run.expand(args.sources)
    video = any(s.is_stream for s in inputs)
    writers = [TableWriter(path, fmt, video) for fmt, path in (("csv", args.csv), ("json", args.json)) if path]
    stopped = False
    try:
        for result in run.run(inputs):
            for writer in writers:
                writer.write(result)
            if not writers:
                for line in face_lines(result):
                    print(line, flush=True)
    except KeyboardInterrupt:  # how a webcam run ends: keep what was written, print the summary
        stopped = True
    finally:
        for writer in writers:
            writer.close()
        for line in run.summary.lines():
            print(f"ferkit: {line}", file=sys.stderr)
    if stopped and not any(s.kind == "webcam" for s in inputs):
        return 130
    return 0 if run.summary.ok else 1


@command
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic batch, temperature included, one file)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="only onnx")
    p.add_argument("--model", metavar="PATH", help="ferkit checkpoint (default: the model shipped with ferkit)")
    p.add_argument("--out", metavar="FILE", help="file to write (default: the checkpoint's name with .onnx, here)")
    p.add_argument("--int8", action="store_true",
                   help="quantize weights and activations to int8 (ONNX Runtime static quantization); "
                        "needs --calibration")
    p.add_argument("--calibration", metavar="DATA",
                   help="with --int8: a dataset ferkit reads (e.g. fer2013.csv.gz) whose faces set the "
                        "activation ranges; the same faces then measure the int8 model against PyTorch")
    p.add_argument("--calibration-split", choices=("val", "train"), default="val",
                   help="the split of --calibration to use (default: val, FER2013 PublicTest)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from ferkit.inference.onnx_export import check_export, export_onnx

    if args.int8:
        return _export_int8(args)
    if args.calibration:
        print("ferkit: error: --calibration goes with --int8", file=sys.stderr)
        return 2
    path = export_onnx(args.model, args.out and output_path(args.out, "--out"))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.no_check:
        return 0
    check = check_export(args.model, path)
    print(f"checked against PyTorch on {check.faces} crops of a real face: max |difference| of probabilities "
          f"{check.max_abs_diff:.1e}, same top-1 class: {'yes' if check.same_top1 else 'NO'}")
    if not check.max_abs_diff <= 1e-4 or not check.same_top1:  # NaN fails too
        print("ferkit: error: the export does not reproduce PyTorch within 1e-4", file=sys.stderr)
        return 1
    return 0


@command
def _add_soup(sub) -> None:
    p = sub.add_parser("soup", help="average the weights of models fine-tuned from one checkpoint into one model",
                       description="Average the weights of models fine-tuned from the same checkpoint (a model "
                                   "soup), measure BatchNorm again on the training split of --data and fit the "
                                   "temperature on its validation split.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="ferkit checkpoints of one architecture, two or more")
    p.add_argument("--data", required=True, metavar="PATH", help="the dataset they were trained on")
    p.add_argument("--out", required=True, metavar="FILE", help="the checkpoint to write")
    p.add_argument("--batchnorm", choices=("measure", "average"), default="measure",
                   help="measure BatchNorm's statistics again on the training faces (default), or average the "
                        "models' statistics")
    p.add_argument("--threads", type=_positive_int, help="CPU threads (default: all cores)")
    p.set_defaults(run=_run_soup)


def _run_soup(args) -> int:
    import torch

    from ferkit.training.soup import make_soup

    out = output_path(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint, summary = make_soup(args.models, args.data, batchnorm=args.batchnorm)
    checkpoint.save(out)
    ingredients = ", ".join(f"{a:.4f}" for a in summary["val_accuracy_ingredients"])
    print(f"wrote {out}: {len(args.models)} models averaged, T={summary['temperature']}")
    print(f"validation accuracy {summary['val_accuracy']:.4f} (the models alone: {ingredients})")
    if test := summary.get("test"):
        print(f"test accuracy {test['accuracy']:.4f} (flip TTA {test['accuracy_tta']:.4f}, de-duplicated "
              f"{test['accuracy_dedup']:.4f}), ECE {test['ece']:.4f} on {test['split']}")
    return 0


# An int8 model may disagree with PyTorch on a few faces; it may not lose more accuracy than this, nor more than
# one face where the faces are too few for 1% to be one (on 54 faces one face is 1.85%).
INT8_MAX_ACCURACY_LOSS = 0.01


def int8_loses_too_much(check: QuantCheck) -> bool:
    """Whether the check shows the int8 model losing more than the allowed accuracy."""
    lost = round((check.accuracy_fp32 - check.accuracy_int8) * check.faces)
    return lost > max(1.0, INT8_MAX_ACCURACY_LOSS * check.faces)


def _export_int8(args) -> int:
    from ferkit.inference.backends import resolve_model
    from ferkit.inference.quantize import calibration_faces, calibration_split, check_quantized, quantize_onnx

    if not args.calibration:
        print("ferkit: error: --int8 needs --calibration DATA: faces to measure the activation ranges on",
              file=sys.stderr)
        return 2
    split = calibration_split(args.calibration, args.calibration_split)
    faces = calibration_faces(split)
    out = output_path(args.out or resolve_model(args.model).stem + ".int8.onnx", "--out")
    path = quantize_onnx(args.model, out, faces)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB), calibrated on {len(faces)} "
          f"{args.calibration_split} faces")
    if args.no_check:
        return 0
    check = check_quantized(args.model, path, split.faces, split.labels)
    print(f"checked against PyTorch on the {check.faces} {args.calibration_split} faces: same top-1 class "
          f"{check.same_top1:.2%}, max |difference| of probabilities {check.max_abs_diff:.3f}, "
          f"accuracy {check.accuracy_int8:.2%} (PyTorch {check.accuracy_fp32:.2%})")
    if int8_loses_too_much(check):
        print(f"ferkit: error: the int8 model loses more than {INT8_MAX_ACCURACY_LOSS:.0%} accuracy "
              f"(or more than one face, on fewer than {1 / INT8_MAX_ACCURACY_LOSS:.0f} faces)", file=sys.stderr)
        return 1
    return 0


@command
def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="measure a model on a dataset split and write a report folder (JSON, Markdown, HTML)",
        description="Measure a model on one split and write OUT/metrics.json, OUT/figures/*.png, OUT/report.md and "
                    "a self-contained OUT/report.html: accuracy (plain, flip TTA, de-duplicated, FER+), loss, "
                    "top-2, calibration, per-class table, confusion matrix, training curves, reliability, "
                    "confident mistakes, Grad-CAM and, with --photos, real photos.")
    p.add_argument("--model", metavar="PATH", help="ferkit checkpoint (.pt) (default: the model shipped with ferkit)")
    p.add_argument("--data", metavar="PATH", required=True,
                   help="dataset: FER2013 .csv/.csv.gz (needed for --ferplus), images .zip or folder, AffectNet")
    p.add_argument("--ferplus", metavar="PATH", help="fer2013new.csv: also score against FER+ majority labels")
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="split to measure (default: test, FER2013's PrivateTest)")
    p.add_argument("--photos", metavar="ZIP_OR_DIR",
                   help="real photos (zip or folder, optionally with a legend.csv of weak labels) for 'in the wild'")
    p.add_argument("--out", metavar="DIR", help="report folder (default: reports/<model name>-<split>)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="quick look: only the split's first N faces (numbers not comparable with full runs)")
    p.add_argument("--model-card", nargs="?", const="docs/MODEL_CARD.md", metavar="PATH",
                   help="also write the model card from the report's metrics.json (default PATH: docs/MODEL_CARD.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_evaluate)


def _evaluate_command(args, out: str) -> str:
    """The command line that reproduces this report, options in a fixed order."""
    import shlex

    words = ["ferkit", "evaluate"]
    for flag, value in (("--model", args.model), ("--data", args.data), ("--ferplus", args.ferplus),
                        ("--split", args.split), ("--photos", args.photos), ("--out", out), ("--limit", args.limit),
                        ("--model-card", args.model_card)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def _run_evaluate(args) -> int:
    from ferkit.evaluation.model_card import write_model_card
    from ferkit.evaluation.report import default_report_dir, evaluate, write_report

    out = args.out or str(default_report_dir(args.model, args.split))
    output_path(out, "--out", folder=True)  # both checked before the evaluation, not after it
    if args.model_card:
        output_path(args.model_card, "--model-card")
    progress = not args.no_progress and sys.stderr.isatty()
    evaluation = evaluate(args.model, args.data, ferplus=args.ferplus, split=args.split, photos=args.photos,
                          limit=args.limit or 0, progress=progress, command=_evaluate_command(args, out))
    out = Path(out)
    write_report(evaluation, out, progress=progress)
    m = evaluation.to_dict()
    print(f"{m['model']['file']} on {m['n']} {args.split} faces{' (--limit: a quick look)' if args.limit else ''}: "
          f"accuracy {m['accuracy']:.4f} (flip TTA {m['accuracy_tta']:.4f}"
          + (f", de-duplicated {m['accuracy_dedup']:.4f}" if m["accuracy_dedup"] is not None else "")
          + (f", FER+ {m['accuracy_ferplus']:.4f}" if m["accuracy_ferplus"] is not None else "")
          + f"), top-2 {m['top2_accuracy']:.4f}, ECE {m['ece']:.4f} (uncalibrated {m['ece_uncalibrated']:.4f}, "
            f"floor {m['ece_floor']:.4f})")
    if m["wild"] is not None:
        w = m["wild"]
        weak = "n/a" if w["weak_accuracy"] is None else f"{w['weak_accuracy']:.4f}"
        print(f"in the wild: faces in {w['photos_with_face']} of {w['photos']} photos; agreement with weak labels "
              f"{weak} on {w['weakly_labelled_scored']}")
    print(f"report: {out / 'report.html'} ({evaluation.seconds:.0f} s)")
    if args.model_card:
        print(f"model card: {write_model_card(out, args.model_card)}")
    return 0


@command
def _add_explain(sub) -> None:
    p = sub.add_parser("explain", help="Grad-CAM: where the model looks in each face of an image",
                       description="Detect the faces of IMAGE, classify them, and draw the Grad-CAM map of each "
                                   "face's predicted class (last conv stage) over the image.")
    p.add_argument("image", metavar="IMAGE", help="an image file")
    p.add_argument("--save", metavar="OUT.png", help="image to write (default: <IMAGE name>_gradcam.png here)")
    p.add_argument("--model", metavar="PATH", help="ferkit checkpoint (.pt) (default: the model shipped with ferkit)")
    p.add_argument("--detector", metavar="NAME", help="face detector: yuface (default) or haar")
    p.add_argument("--crops", action="store_true", help="the image is already a face crop: skip detection")
    p.set_defaults(run=_run_explain)


def _run_explain(args) -> int:
    from ferkit.evaluation.explain import explain

    options = {"detector": args.detector} if args.detector else {}
    explanation = explain(args.image, args.model, crops=args.crops, **options)
    for i, face in enumerate(explanation.result.faces):
        b = face.box
        print(f"face {i} at x={b.x} y={b.y} w={b.w} h={b.h}: {face.label} {face.confidence:.0%} "
              f"(Grad-CAM of {face.label})")
    print(f"wrote {explanation.save(args.save or f'{Path(args.image).stem}_gradcam.png')}")
    return 0


@command
def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="main metrics of several evaluation reports side by side",
                       description="Print the main metrics of several 'ferkit evaluate' report folders side by side "
                                   "('*': best of the row).")
    p.add_argument("reports", nargs="+", metavar="REPORT_DIR", help="report folders (or their metrics.json)")
    p.add_argument("--save", metavar="FILE.png", help="also write a bar chart")
    p.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    from ferkit.evaluation.compare import compare_reports

    comparison = compare_reports(args.reports)
    print(comparison.to_text())
    if args.save:
        print(f"wrote {comparison.plot(args.save)}")
    return 0


@command
def _add_serve(sub) -> None:
    from ferkit.serve.config import ServeConfig  # a plain dataclass: no web framework is imported

    d = ServeConfig()
    p = sub.add_parser("serve", help="serve the model over HTTP: a JSON API and a web page",
                       description="Serve /v1/predict (JSON), /v1/health, /v1/model, a web page at / and the API "
                                   "docs at /docs. Listens on loopback unless --host says otherwise.")
    p.add_argument("--host", default=d.host, help=f"address to listen on (default: {d.host}; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=_port, default=d.port, help=f"TCP port (default: {d.port})")
    p.add_argument("--model", metavar="PATH",
                   help="ferkit checkpoint (.pt) or exported .onnx model (default: the model shipped with ferkit); "
                        "several, comma-separated, are averaged as an ensemble")
    p.add_argument("--backend", choices=("torch", "onnx"), help="classifier runtime (default: as ferkit predict)")
    p.add_argument("--int8", action="store_true", help="run the int8 version of the model (as ferkit predict --int8)")
    p.add_argument("--detector", metavar="NAME", help="default face detector (a request may name another)")
    p.add_argument("--min-face", type=_positive_int, metavar="PX",
                   help="smallest face to look for, in pixels of the image (default: 100 with yuface)")
    p.add_argument("--workers", type=_positive_int, default=d.workers, metavar="N",
                   help=f"server processes, each loading the model (default: {d.workers})")
    p.add_argument("--max-batch", type=_positive_int, default=d.max_batch, metavar="N",
                   help=f"requests classified together (default: {d.max_batch}; 1: no micro-batching)")
    p.add_argument("--max-wait-ms", type=_milliseconds, default=d.max_wait_ms, metavar="MS",
                   help=f"how long a request waits for its batch to fill (default: {d.max_wait_ms})")
    p.add_argument("--max-upload-mb", type=_megabytes, default=d.max_upload_bytes / 2**20, metavar="MB",
                   help=f"larger uploads are refused with 413 (default: {d.max_upload_bytes / 2**20:g})")
    p.set_defaults(run=_run_serve)


def _milliseconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 10_000:  # False for NaN; inf would hold every request until a batch fills
        raise argparse.ArgumentTypeError(f"must be from 0 to 10000, got {text}")
    return value


def _megabytes(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1024:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1024, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535 (0: any free port), got {text}")
    return value


_milliseconds.__name__, _megabytes.__name__, _port.__name__ = "milliseconds", "megabytes", "port"


def _run_serve(args) -> int:
    from ferkit.serve.config import ServeConfig

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        print(f"ferkit: error: serving needs the serve extra ({e.name} is missing): pip install 'ferkit[serve]'",
              file=sys.stderr)
        return 1
    from ferkit.serve.app import run_server

    config = ServeConfig(model=args.model, backend=args.backend, int8=args.int8, detector=args.detector,
                         min_face=args.min_face, host=args.host, port=args.port, workers=args.workers,
                         max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                         max_upload_bytes=max(1, round(args.max_upload_mb * 2**20)))
    run_server(config)
    return 0
