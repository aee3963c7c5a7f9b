"""Train on a lent GPU inside a fixed time budget, then pack the results to carry back.

Every model is a plain ``ferkit train`` run (so every figure comes from a run folder), bf16-mixed
and channels_last. Seven plans:

``--plan ensemble`` (default)
    1. ``bench/train_throughput.py`` on the GPU: images/s of every size, fp32 vs bf16.
    2. The large size (resnet_swish_l) on two seeds at once, with as many epochs (at most 50)
       as the measured throughput fits into about half the budget; resnet_swish_m beside them.
    3. The CPU sizes (s, s_fast) distilled from the ensemble of the two large models.
``--plan long``
    resnet_swish_l (seed 2, ``--epochs-l``), s and s_fast (``--epochs-s``) from scratch, side by
    side, early-stopping patience 25.
``--plan nodrop``
    ``configs/s_gpu80_nodrop.yaml`` (s without dropout, ``--epochs-s``) on seeds 0 and 1, and
    resnet_swish_l on seeds 2 and 3 (``--epochs-l``), side by side, each process on a quarter of the CPU
    cores.
``--plan teachers``
    ``configs/s_gpu80_teachers.yaml`` (s from scratch distilled from the two 80-epoch ``l``, through the
    teachers' outputs in ``--teacher-outputs``, made here by ``bench/teacher_outputs.py`` and carried
    beside the data) on seeds 0 and 1 and with ``distill_temperature=4``, and plain ``configs/s_gpu80.yaml``
    on seed 1 as the control (the shipped model's starting point is its seed 0), ``--epochs-s`` each, side
    by side, a quarter of the CPU cores each.
``--plan crossfit``
    1. resnet_swish_l with ``holdout_fold=0/2`` and ``1/2`` (``--epochs-l``), side by side: two teachers that
       each never saw half of the training faces (stage limit ``--teachers-limit`` seconds).
    2. ``bench/teacher_outputs.py --crossfit``: each face's outputs from the teacher trained without it, and
       how often they match the label (out of sample, unlike the carried pair's 95%).
    3. s from scratch (``configs/s_gpu80_teachers.yaml``, ``--epochs-s``) against those outputs at T=2 and
       T=4, beside the same against the carried in-sample outputs (``--teacher-outputs``) and a plain s on
       seed 1, side by side.
    The third loan ran this and found the two-fold teachers (64-65% on PublicTest) too weak to help s on
    FER2013's labels (docs/ACCURACY.md). ``--folds N`` trains N teachers, each without one N-th of the faces,
    so each sees more of them; the students are then the out-of-fold arm on seeds 0, 1, 2 beside a plain s
    on seed 3 (the other arms were measured). With more than two folds the teachers' weights stay behind
    (23 MB each; the device returns at most 8 x 16 MiB), their outputs file and run summaries come back.

``--plan regularise``
    resnet_swish_l (``--epochs-l``, seed 2) with one regulariser each, side by side, a quarter of the CPU
    cores each: random erasing (p 0.5), mixup (alpha 0.2), label smoothing 0.1, and the published 73.3%
    VGG's augmentation (shift and zoom 0.2, random erasing 0.5). ``l`` fits 91% of its training faces by
    epoch 80 while PublicTest stays at 70%; the same recipe without a regulariser on seed 2 (the second
    loan's ``gpu-l-seed2``, 69.60% on PrivateTest at 80 epochs) is the control. The 10-epoch CPU study
    dropped these regularisers for ``s``, which underfits; whether they help a model that overfits is
    what this measures. Four ``l`` on one H200 take 7.2 s an epoch: the fourth loan's call (budget 550 s)
    stopped them at epoch 60 of 80.
``--plan seeds``
    More seeds (``--seeds``, default 1 2) of a preset (``--config``, default the shipped model's
    ``configs/m_cpu100_ens3_online.yaml``, whose three teachers travel with ``carry``), side by side, the
    CPU cores split between them. The fourth loan ran 81 of its 100 epochs in 290 s.

A run the budget stops comes back with its checkpoints, as far as the device's 64 MiB allow (the report's
``checkpoints_left_behind`` names the others), to be finished with ``ferkit train ... --resume threads=2``.

Data: FER2013 train and val only, packed on this machine by
``ferkit data pack fer2013.csv.gz carry/fer2013_trainval.npz.xz --splits train,val``; the test
split (PrivateTest) stays behind and is measured where the models come back. The large models
come back with fp16 weights (23 MB each instead of 46); everything is one tar, split into 15 MB
parts, since the device tool returns at most 8 files of 16 MiB, 64 MiB in all:

    python bench/gpu_train.py --data carry/fer2013_trainval.npz.xz --out "$OUT" --budget 470
    cat OUT/runs.tar.part-* | tar x     # here, afterwards

Prints JSON (the plan, each run's wall time and exit status).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

TRAIN_FACES = 28709
RETURN_LIMIT = 66_000_000  # bytes of the tar: the device returns 64 MiB in all (the report beside it)


def throughput(out: Path) -> dict:
    models = ["resnet_swish_l", "resnet_swish_m", "resnet_swish_s", "resnet_swish_s_fast"]
    done = subprocess.run([sys.executable, "bench/train_throughput.py", "--steps", "5", "--models", *models],
                          capture_output=True, text=True, timeout=240)
    (out / "train_throughput_gpu.json").write_text(done.stdout + done.stderr[-4000:])
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"model"')]
    return {r["model"]: r for r in rows}


def start(name: str, overrides: list[str], runs: Path, data: str, log_dir: Path, limit_s: float,
          extra: list[str], config: str = "configs/default.yaml"):
    # The plans on configs/default.yaml were written when its residual branches started at 0; keep that
    # (--extra zero_init_residual=false still overrides it).
    pinned = ["zero_init_residual=true"] if config == "configs/default.yaml" else []
    command = ["timeout", str(int(limit_s)), sys.executable, "-m", "ferkit", "train", config, *pinned,
               f"data={data}", f"out_dir={runs}", f"name={name}", "precision=bf16-mixed", "channels_last=true",
               "progress=false", "num_workers=0", *overrides, *extra]
    log = open(log_dir / f"{name}.log", "w")
    return name, command, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), time.time()


def wait(procs) -> dict:
    result = {}
    while len(result) < len(procs):
        for name, command, proc, started in procs:
            if name not in result and proc.poll() is not None:
                result[name] = {"exit": proc.returncode, "wall_s": round(time.time() - started, 1),
                                "command": " ".join(command[3:])}
        time.sleep(1)
    return result


def main() -> None:
    # The device's Python has the stack but not ferkit: without src on the path every run it starts exits at
    # once ("No module named ferkit"), as the fifth loan's first call did.
    paths = [str(Path("src").resolve()), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the packed FER2013 train+val file")
    parser.add_argument("--out", required=True, help="folder for the parts to carry back")
    parser.add_argument("--budget", type=float, default=500, help="seconds for all of it")
    parser.add_argument("--work", default="gpu-work", help="folder for the run folders, relative to the repo root")
    parser.add_argument("--plan", choices=["ensemble", "long", "nodrop", "teachers", "crossfit", "regularise", "seeds"],
                        default="ensemble",
                        help="ensemble: two large models then students distilled from them; "
                             "long: one large model and s, s_fast from scratch on longer schedules; "
                             "nodrop: s without dropout on two seeds beside two more large models; "
                             "teachers: s distilled from carried teacher outputs, beside a plain s; "
                             "crossfit: large teachers each without one fold of the faces, then s from their "
                             "out-of-fold outputs; regularise: the large model with one regulariser each; "
                             "seeds: more seeds of a preset")
    parser.add_argument("--teachers-limit", type=float, default=240,
                        help="plan crossfit: seconds for the fold teachers")
    parser.add_argument("--folds", type=int, default=2,
                        help="plan crossfit: how many teachers, each trained without one fold of the faces")
    parser.add_argument("--teacher-outputs", default="carry/teachers_l80x2.pt",
                        help="plans teachers, crossfit: the in-sample outputs bench/teacher_outputs.py wrote")
    parser.add_argument("--config", default="configs/m_cpu100_ens3_online.yaml",
                        help="plan seeds: the preset (its teachers carried beside it)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="plan seeds: the seeds")
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--epochs-l", type=int, default=80, help="plan long: the large model's epochs")
    parser.add_argument("--epochs-s", type=int, default=120, help="plan long: the small models' epochs")
    parser.add_argument("--rate-l", type=float, default=0,
                        help="the large model's training images/s; 0: measure it (step 1)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="key=value",
                        help="overrides for every run, e.g. train_limit=512 for a smoke test")
    args = parser.parse_args()
    begin = time.time()
    out = Path(args.out)
    # Run folders relative to the repo root, so that configs, logs and checkpoints record no machine's paths.
    work = Path(args.work)
    runs, logs = work / "runs", work / "logs"
    runs.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    report: dict = {"bench": "gpu_train", "plan": args.plan, "budget_s": args.budget}
    if args.plan == "long":
        long_runs(args, runs, logs, begin, report)
    elif args.plan == "nodrop":
        nodrop_runs(args, runs, logs, begin, report)
    elif args.plan == "teachers":
        teacher_runs(args, runs, logs, begin, report)
    elif args.plan == "crossfit":
        crossfit_runs(args, work, runs, logs, begin, report)
    elif args.plan == "seeds":
        seed_runs(args, runs, logs, begin, report)
    elif args.plan == "regularise":
        regularise_runs(args, work, runs, logs, begin, report)
    else:
        ensemble_then_students(args, out, runs, logs, begin, report)
    report["checkpoints_left_behind"] = pack(work, out)
    report["total_s"] = round(time.time() - begin, 1)
    (out / "gpu_train.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def long_runs(args, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """One large model and the two CPU sizes from scratch, all with longer schedules, side by side."""
    left = args.budget - (time.time() - begin) - 30
    patience = "early_stopping_patience=25"  # a long cosine schedule plateaus for a while before it gains
    procs = [start("gpu-l-long", ["model=resnet_swish_l", f"epochs={args.epochs_l}", "seed=2", patience],
                   runs, args.data, logs, left, args.extra)]
    procs += [start(f"gpu-{size}-long", [f"model=resnet_swish_{size}", f"epochs={args.epochs_s}", patience],
                    runs, args.data, logs, left, args.extra) for size in ("s", "s_fast")]
    report["long"] = wait(procs)


def nodrop_runs(args, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """s without dropout from scratch on two seeds (the default's candidate) beside two more large models."""
    left = args.budget - (time.time() - begin) - 30
    threads = f"threads={max(1, (os.cpu_count() or 4) // 4)}"
    procs = [start(f"gpu-s-nodrop-seed{seed}", [f"epochs={args.epochs_s}", f"seed={seed}", threads], runs,
                   args.data, logs, left, args.extra, config="configs/s_gpu80_nodrop.yaml") for seed in (0, 1)]
    procs += [start(f"gpu-l-seed{seed}", ["model=resnet_swish_l", f"epochs={args.epochs_l}", f"seed={seed}",
                                          "early_stopping_patience=25", threads], runs, args.data, logs, left,
                    args.extra) for seed in (2, 3)]
    report["nodrop"] = wait(procs)


REGULARISERS = {  # run name: overrides of configs/default.yaml with model=resnet_swish_l
    "gpu-l-erasing": ["erasing=0.5"],
    "gpu-l-mixup": ["mixup=0.2"],
    "gpu-l-smoothing": ["label_smoothing=0.1"],
    "gpu-l-vggaug": ["shift=0.2", "zoom=0.2", "erasing=0.5"],
}


def teacher_outputs(args, teachers: list[Path], out: Path, log: Path, timeout: float, flags=()) -> dict:
    """``bench/teacher_outputs.py`` for these teachers into ``out``; its JSON report, or its exit status."""
    done = subprocess.run([sys.executable, "bench/teacher_outputs.py", *flags, "--data", args.data,
                           "--teacher", ",".join(map(str, teachers)), "--out", str(out), *args.extra],
                          capture_output=True, text=True, timeout=timeout)
    log.write_text(done.stdout + done.stderr[-4000:])
    return json.loads(done.stdout) if done.returncode == 0 else {"exit": done.returncode}


def regularise_runs(args, work: Path, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """The large model with one regulariser each, side by side, on the control's seed; then their outputs."""
    left = args.budget - (time.time() - begin) - 120  # leaves time for the outputs and the packing
    common = ["model=resnet_swish_l", f"epochs={args.epochs_l}", "seed=2", "early_stopping_patience=25",
              f"threads={max(1, (os.cpu_count() or 4) // 4)}"]
    procs = [start(name, [*common, *overrides], runs, args.data, logs, left, args.extra)
             for name, overrides in REGULARISERS.items()]
    report["regularise"] = wait(procs)
    # Their outputs on the training faces, for offline distillation on a CPU, where one pass of one ``l``
    # takes about 15 minutes: each model's own file, then all of them averaged.
    teachers = {name: runs / name / "model.pt" for name in REGULARISERS if (runs / name / "model.pt").is_file()}
    sets = {name.removeprefix("gpu-l-"): [path] for name, path in teachers.items()}
    if len(teachers) > 1:
        sets["all"] = list(teachers.values())
    report["teacher_outputs"] = {}
    for label, paths in sets.items():
        if time.time() - begin > args.budget - 40:
            break
        report["teacher_outputs"][label] = teacher_outputs(args, paths, work / f"teachers_{label}.pt",
                                                           logs / f"teacher_outputs_{label}.log", timeout=120)


def seed_runs(args, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """More seeds of a preset (``--config``), side by side; a run the budget stops comes back resumable."""
    left = args.budget - (time.time() - begin) - 30
    threads = f"threads={max(1, (os.cpu_count() or 4) // len(args.seeds))}"
    procs = [start(f"gpu-{Path(args.config).stem}-seed{seed}", [f"seed={seed}", threads], runs, args.data, logs,
                   left, args.extra, config=args.config) for seed in args.seeds]
    report["seeds"] = wait(procs)


def _require_teacher_outputs(args) -> None:
    if not Path(args.teacher_outputs).is_file():
        sys.exit(f"--teacher-outputs {args.teacher_outputs}: no such file (make it with bench/teacher_outputs.py)")


def teacher_runs(args, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """s from scratch against carried teacher outputs (two seeds, two temperatures) beside a plain s."""
    _require_teacher_outputs(args)
    left = args.budget - (time.time() - begin) - 30
    common = [f"epochs={args.epochs_s}", f"threads={max(1, (os.cpu_count() or 4) // 4)}"]
    outputs = f"teacher_outputs={args.teacher_outputs}"
    plan = [("gpu-s-teachers-seed0", "configs/s_gpu80_teachers.yaml", [outputs, "seed=0"]),
            ("gpu-s-teachers-seed1", "configs/s_gpu80_teachers.yaml", [outputs, "seed=1"]),
            ("gpu-s-teachers-t4-seed0", "configs/s_gpu80_teachers.yaml", [outputs, "seed=0", "distill_temperature=4"]),
            ("gpu-s-plain-seed1", "configs/s_gpu80.yaml", ["seed=1"])]
    procs = [start(name, [*common, *overrides], runs, args.data, logs, left, args.extra, config=config)
             for name, config, overrides in plan]
    report["teachers"] = wait(procs)


def crossfit_runs(args, work: Path, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """Large teachers, each without one fold of the faces; then s against their out-of-fold outputs."""
    n = args.folds
    if n < 2:
        sys.exit(f"--folds {n}: cross-fitting needs at least 2 folds")
    if n == 2:
        _require_teacher_outputs(args)
    cores = os.cpu_count() or 4
    procs = [start(f"gpu-l-fold{k}", ["model=resnet_swish_l", f"epochs={args.epochs_l}", f"holdout_fold={k}/{n}",
                                      "seed=2", "early_stopping_patience=25", f"threads={max(1, cores // max(4, n))}"],
                   runs, args.data, logs, args.teachers_limit, args.extra) for k in range(n)]
    report["fold_teachers"] = wait(procs)

    teachers = [runs / f"gpu-l-fold{k}" / "model.pt" for k in range(n)]
    outputs = work / "teachers_crossfit.pt"
    students = "configs/s_gpu80_teachers.yaml"
    if n == 2:  # the arms of the third loan
        crossfit = [("gpu-s-crossfit-seed0", students, [f"teacher_outputs={outputs}", "seed=0"]),
                    ("gpu-s-crossfit-t4-seed0", students,
                     [f"teacher_outputs={outputs}", "seed=0", "distill_temperature=4"])]
        control = [("gpu-s-teachers-seed0", students, [f"teacher_outputs={args.teacher_outputs}", "seed=0"]),
                   ("gpu-s-plain-seed1", "configs/s_gpu80.yaml", ["seed=1"])]
    else:
        crossfit = [(f"gpu-s-crossfit{n}-seed{seed}", students, [f"teacher_outputs={outputs}", f"seed={seed}"])
                    for seed in (0, 1, 2)]
        control = [("gpu-s-plain-seed3", "configs/s_gpu80.yaml", ["seed=3"])]
    if all(t.is_file() for t in teachers):
        report["crossfit_outputs"] = teacher_outputs(args, teachers, outputs, logs / "teacher_outputs_crossfit.log",
                                                     timeout=180, flags=["--crossfit"])
    if n > 2:  # too many to carry back: their outputs file and summaries come back instead
        for t in teachers:
            t.unlink(missing_ok=True)
    plan = [*crossfit, *control] if outputs.is_file() else control
    left = args.budget - (time.time() - begin) - 30
    threads = f"threads={max(1, cores // 4)}"
    procs = [start(name, [f"epochs={args.epochs_s}", threads, *overrides], runs, args.data, logs, left, args.extra,
                   config=config) for name, config, overrides in plan]
    report["students"] = wait(procs)


def ensemble_then_students(args, out: Path, runs: Path, logs: Path, begin: float, report: dict) -> None:
    """Two large models at once (epochs from the measured throughput), then s and s_fast distilled from them."""
    rate_l = args.rate_l or throughput(out)["resnet_swish_l"]["best_images_per_s"]
    report["throughput_s"] = round(time.time() - begin, 1)
    # Two large runs share the GPU; Lightning, metrics and validation cost about a third on top.
    phase_a = 0.5 * args.budget
    epochs_l = max(min(5, args.max_epochs), min(args.max_epochs, int(phase_a * rate_l / 2 * 0.6 / TRAIN_FACES)))
    report["epochs_l"] = epochs_l
    left = args.budget - (time.time() - begin)
    procs = [start(f"gpu-l-seed{seed}", ["model=resnet_swish_l", f"epochs={epochs_l}", f"seed={seed}"],
                   runs, args.data, logs, left - 150, args.extra) for seed in (0, 1)]
    procs.append(start("gpu-m", ["model=resnet_swish_m", f"epochs={args.max_epochs}"], runs, args.data, logs,
                       left - 150, args.extra))
    report["phase_a"] = wait(procs)

    teachers = [str(runs / f"gpu-l-seed{s}" / "model.pt") for s in (0, 1)]
    teachers = [t for t in teachers if Path(t).is_file()]
    left = args.budget - (time.time() - begin) - 25
    if teachers and left > 60:
        # Each student step runs every teacher forward (a third of a training step each); two students.
        per_epoch = TRAIN_FACES * (1 + len(teachers)) / 3 / (rate_l * 0.6) * 2
        epochs_s = max(min(5, args.max_epochs), min(args.max_epochs, int(0.8 * left / per_epoch)))
        report["epochs_students"] = epochs_s
        procs = [start(f"gpu-{size}-distilled", [f"model=resnet_swish_{size}", f"epochs={epochs_s}",
                                                  f"teacher={','.join(teachers)}"], runs, args.data, logs, left,
                       args.extra)
                 for size in ("s", "s_fast")]
        report["phase_b"] = wait(procs)


def pack(work: Path, out: Path) -> list[str]:
    """model.pt (the large ones as fp16), summary, config and metrics of every run, plus logs: one split tar.

    Returns the runs stopped by the budget whose checkpoints did not fit what comes back.
    """
    import torch

    runs, logs = work / "runs", work / "logs"
    keep, stopped = [], []
    for run in sorted(p for p in runs.iterdir() if p.is_dir()):
        model = run / "model.pt"
        if model.is_file() and model.stat().st_size > 8e6:
            raw = torch.load(model, map_location="cpu", weights_only=True)
            raw["state_dict"] = {k: v.half() if v.is_floating_point() and k != "temperature" else v
                                 for k, v in raw["state_dict"].items()}
            torch.save(raw, run / "model.pt")
        keep += [p for p in (model, run / "summary.json", run / "config.yaml") if p.is_file()]
        keep += sorted(run.glob("logs/**/metrics.csv"))
        if not model.is_file() and (run / "checkpoints" / "last.ckpt").is_file():
            stopped.append(run)
    keep += sorted(logs.glob("*.log")) + sorted(work.glob("*.pt"))  # plan crossfit: the teachers' outputs
    # A run the budget stopped brings its checkpoints back, to finish with --resume where they land, as long
    # as all of it fits what the device returns (the fourth loan's seeds call got 60 of 90 MB: a torn tar).
    size = sum(p.stat().st_size for p in keep)
    left_behind = []
    for run in stopped:
        checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
        more = sum(p.stat().st_size for p in checkpoints)
        if size + more <= RETURN_LIMIT:
            keep += checkpoints
            size += more
        else:
            left_behind.append(run.name)
    tar_path = out / "runs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for path in keep:
            tar.add(path, arcname=str(path.relative_to(work)))
    data = tar_path.read_bytes()
    tar_path.unlink()
    part = 15_000_000
    for i in range(0, len(data), part):
        (out / f"runs.tar.part-{i // part:02d}").write_bytes(data[i:i + part])
    import shutil

    shutil.rmtree(work)
    return left_behind


if __name__ == "__main__":
    main()
