"""One training run: data, Lightning Trainer and callbacks, then selection, calibration and export.

A run folder holds everything about a run::

    runs/<name>/config.yaml      the resolved TrainConfig
    runs/<name>/logs/            metrics.csv per epoch (and TensorBoard events where installed)
    runs/<name>/checkpoints/     best.ckpt (val accuracy), last.ckpt (resume point, every epoch)
    runs/<name>/model.pt         the ferkit checkpoint: selected weights, fitted temperature, metrics
    runs/<name>/summary.json     selection, calibration and test figures
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from ferkit.config import ConfigError, TrainConfig
from ferkit.data.dataset import FaceDataset

LAST = "last.ckpt"
BEST = "best.ckpt"


@dataclass
class RunResult:
    run_dir: Path
    model_path: Path
    summary: dict


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """``precision=auto``: bf16 autocast where the hardware runs it fast, fp32 elsewhere.

    On 2 CPU cores (``bench/train_throughput.py``) bf16 trained resnet_swish_s 2.6x faster than fp32 on a Xeon
    with AMX, 1.8x faster on an AMD EPYC (Zen 4) with AVX-512 BF16 and no AMX, and 10x slower on one with AVX2
    only; GPUs with bf16 (Ampere and later) run it natively.
    """
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32"
    if accelerator == "mps" or (accelerator == "auto" and torch.backends.mps.is_available()):
        return "32"
    # private helpers, so looked up with a fallback
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    return "bf16-mixed" if amx() or avx512_bf16() else "32"


def run_dir_of(config: TrainConfig) -> Path:
    return Path(config.out_dir) / (config.name or "run")


def load_training_data(config: TrainConfig) -> FaceDataset:
    """FER2013 (with FER+ labels when asked), plus AffectNet's faces as extra training data when given."""
    from ferkit.data import SPLITS, apply_ferplus, blend_ferplus, combine, load_dataset, load_ferplus

    data = load_dataset(config.data)
    val_ferplus = config.resolved_val_labels() == "ferplus"
    if config.labels != "fer2013" or val_ferplus or config.ferplus_weight:
        # FER+ relabels training with labels=ferplus*, and PublicTest (where the run selects and calibrates) with
        # val_labels resolving to ferplus. The test split keeps FER2013's labels, so that the reported test figures
        # compare with the literature (finalize adds FER+'s beside them).
        votes = load_ferplus(config.ferplus)
        train, val, test = (data.by_split(split) for split in SPLITS)
        if config.labels != "fer2013":
            train = apply_ferplus(train, votes, soft=config.labels == "ferplus_soft")
        elif config.ferplus_weight:
            train = blend_ferplus(train, votes, config.ferplus_weight)
        if val_ferplus:
            val = apply_ferplus(val, votes)
        data = combine([(train, 1.0), (val, 1.0), (test, 1.0)], name="fer2013+ferplus")
    if config.affectnet:
        extra = load_dataset(config.affectnet)
        extra = extra.subset(extra.split == "train")
        if data.soft_labels is not None:
            extra.soft_labels = np.eye(data.soft_labels.shape[1], dtype=np.float32)[extra.labels]
        data = combine([(data, 1.0), (extra, config.affectnet_weight)])
    return data


# Settings that change where a run lives or how fast it goes, not what it learns: a run started on a GPU
# machine with 8 threads in another folder can be moved and finished on a laptop's 2 cores.
RESUMABLE_CHANGES = ("progress", "threads", "num_workers", "out_dir")


def _prepare_run_dir(config: TrainConfig, resume: bool) -> Path:
    run_dir = run_dir_of(config)
    last = run_dir / "checkpoints" / LAST
    if resume:
        if not last.is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no checkpoints/{LAST}); start it without --resume")
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"{run_dir}: config.yaml is missing, so the run's settings are unknown; "
                              "start a new run name=...")
        _check_resume_point(last)
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        defaults = TrainConfig().to_dict()  # keys added since the run started have their default there
        changed = {k for k, v in config.to_dict().items()
                   if saved.get(k, defaults[k]) != v and k not in RESUMABLE_CHANGES}
        if changed:
            raise ConfigError(f"{run_dir}: --resume with a different config ({', '.join(sorted(changed))}); "
                              "resume with the same settings or start a new run name=...")
    elif (run_dir / "config.yaml").exists() and (last.exists() or (run_dir / "model.pt").exists()):
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or name=NEW for a new one")
    # else a new run, or one that stopped before its first epoch ended: nothing in it to keep
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return run_dir


def _check_resume_point(last: Path) -> None:
    """A one-line ``ConfigError`` for a ``last.ckpt`` that cannot be read back (a machine that stopped
    while writing it), instead of Lightning's traceback at ``fit``."""
    import zipfile

    try:
        with zipfile.ZipFile(last) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        bad = str(e)
    if bad is not None:
        raise ConfigError(f"{last}: the resume point is damaged ({bad}); start the run again without --resume "
                          "under a new name=...")


def _loggers(run_dir: Path, resume: bool) -> list:
    from lightning.pytorch.loggers import CSVLogger

    log = run_dir / "logs" / "metrics.csv"
    if resume and log.is_file():
        # Lightning's CSV logger deletes an existing metrics.csv; keep the epochs before the stop.
        parts = len(list(log.parent.glob("metrics.part*.csv")))
        log.rename(log.with_name(f"metrics.part{parts}.csv"))
        warnings.filterwarnings("ignore", message="Experiment logs directory")

    loggers = [CSVLogger(run_dir, name="logs", version="")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(run_dir, name="logs", version="tb"))
    except ImportError:
        pass
    return loggers


def _callbacks(config: TrainConfig, run_dir: Path, steps_per_epoch: int) -> list:
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, StochasticWeightAveraging, TQDMProgressBar

    from ferkit.training.schedule import warmup_cosine

    ckpt_dir = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(ckpt_dir, filename="best", monitor="val/acc", mode="max", save_last=False,
                        enable_version_counter=False),
        # The resume point: written every epoch, so a stopped run loses at most one epoch.
        ModelCheckpoint(ckpt_dir, filename="last", save_top_k=1, monitor=None, enable_version_counter=False,
                        every_n_epochs=1),
    ]
    if config.early_stopping_patience > 0:
        callbacks.append(EarlyStopping("val/acc", mode="max", patience=config.early_stopping_patience))
    if config.swa_scheduled:
        # Lightning averages the weights at the start of each epoch from this one (1-based) on: from the
        # second at the earliest, or the random starting weights would be in the average.
        start = max(2, int(config.swa_epoch_start * config.epochs))
        # Continue from the cosine schedule's value where SWA takes over, unless a rate is given.
        swa_lr = config.swa_lr or config.lr * warmup_cosine(
            (start - 1) * steps_per_epoch, config.epochs * steps_per_epoch,
            int(config.warmup_epochs * steps_per_epoch), config.min_lr_ratio)
        # Lightning warns that our per-step schedule is not per-epoch; it is swapped for SWALR at SWA start.
        warnings.filterwarnings("ignore", message="SWA is currently only supported every epoch")
        callbacks.append(StochasticWeightAveraging(swa_lrs=swa_lr, swa_epoch_start=start, annealing_epochs=1))
    if config.progress:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    return callbacks


def train(config: TrainConfig, resume: bool = False) -> RunResult:
    """Train, select, calibrate and export a model.

    Args:
        config: a validated ``TrainConfig``.
        resume: continue the run in ``out_dir/name`` from its last checkpoint.

    Returns:
        The run folder, the exported ferkit checkpoint and the summary (rank 0; other ranks get the same paths).
    """
    import lightning as L

    from ferkit.training.module import FaceDataModule, FaceModule

    if config.threads:
        torch.set_num_threads(config.threads)
    L.seed_everything(config.seed, workers=True, verbose=False)
    started = time.time()
    data = load_training_data(config)
    world = config.devices * config.num_nodes if config.strategy == "ddp" else 1
    datamodule = FaceDataModule(data, config)
    steps = datamodule.steps_per_epoch(world)
    precision = resolve_precision(config.precision, config.accelerator)
    module = FaceModule(config, steps)  # before the run folder: a bad init or teacher file leaves none behind
    run_dir = _prepare_run_dir(config, resume) if _is_rank_zero() else run_dir_of(config)
    datamodule.cache_dir = run_dir  # distill_mode=offline: the teachers' outputs, computed in trainer.fit
    trainer = L.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=precision,
        logger=_loggers(run_dir, resume),
        callbacks=_callbacks(config, run_dir, steps),
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, steps)),
        deterministic=False,
    )
    last = run_dir / "checkpoints" / LAST
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    except SystemExit:
        if trainer.interrupted:  # Lightning ends a Ctrl-C with sys.exit(1) after its graceful shutdown
            raise KeyboardInterrupt from None
        raise
    checksums = _rank_checksums(trainer, module)
    summary = {}
    if trainer.is_global_zero:
        from ferkit.training.finalize import finalize

        summary = finalize(config, module, data, run_dir, trainer)
        summary["world_size"] = trainer.world_size
        summary["precision"] = precision
        summary["rank_param_checksums"] = checksums
        summary["wall_s"] = round(time.time() - started, 1)  # this invocation only, when resumed
        summary["resumed"] = resume
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _leave_process_group(trainer)
    return RunResult(run_dir, run_dir / "model.pt", summary)


def _leave_process_group(trainer) -> None:
    """Every rank waits for rank 0's selection and export, then all leave the process group together.

    A rank that exits with its gloo group still up can abort at interpreter shutdown ("terminate called
    without an active exception"); torchrun then kills rank 0 before it has written the run's summary.
    """
    import torch.distributed as dist

    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        trainer.strategy.barrier("ferkit-finalized")
        dist.destroy_process_group()


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def _rank_checksums(trainer, module) -> list[float]:
    """Sum of all parameters on every rank: DDP ranks must hold the same model."""
    value = torch.tensor([float(sum(p.detach().double().sum() for p in module.model.parameters()))],
                         dtype=torch.float64)
    if trainer.world_size > 1:
        gathered = trainer.strategy.all_gather(value)
        return [float(v) for v in gathered.reshape(-1)]
    return [float(value)]
