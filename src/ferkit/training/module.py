"""The LightningModule and DataModule of the training recipe."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, RandomSampler, WeightedRandomSampler
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassPrecision, MulticlassRecall

from ferkit.config import TrainConfig
from ferkit.data.dataset import FaceDataset
from ferkit.data.preprocess import to_input
from ferkit.labels import NUM_CLASSES
from ferkit.models import create_model, residual_scales_to_one
from ferkit.training.augment import AugmentConfig, augment, mix_batch
from ferkit.training.checkpoint import DEFAULT_NORMALIZATION
from ferkit.training.schedule import warmup_cosine


def epoch_metrics() -> MetricCollection:
    """Accuracy, macro precision, macro recall and macro AUROC: the curves of the report."""
    return MetricCollection({
        "acc": MulticlassAccuracy(NUM_CLASSES, average="micro"),
        "precision": MulticlassPrecision(NUM_CLASSES, average="macro"),
        "recall": MulticlassRecall(NUM_CLASSES, average="macro"),
        "auroc": MulticlassAUROC(NUM_CLASSES, average="macro"),
    })


class FaceModule(L.LightningModule):
    """A ResNet-Swish classifier trained with the ferkit recipe.

    Batches arrive as uint8 faces; scaling and augmentation happen here, on the
    device, per batch.
    """

    def __init__(self, config: TrainConfig, steps_per_epoch: int) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config.to_dict(), "steps_per_epoch": steps_per_epoch})
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.model = create_model(config.model, config.model_config())
        if not config.zero_init_residual:
            residual_scales_to_one(self.model)
        if config.init:
            _load_init(self.model, config)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.normalization = dict(DEFAULT_NORMALIZATION)
        self.augment_config = AugmentConfig.from_config(config)
        # Teachers are kept out of the module's state: checkpoints hold the student only. Offline distillation
        # needs none here: the data module brings their probabilities with each face.
        online = config.distill_mode == "online"
        self._teachers = [_load_teacher(path, config.channels_last) for path in config.teacher_paths() if online]
        self.register_buffer("_diverged", torch.zeros((), dtype=torch.bool), persistent=False)
        self.train_metrics = epoch_metrics().clone(prefix="train/")
        self.val_metrics = epoch_metrics().clone(prefix="val/")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _inputs(self, faces: torch.Tensor, train: bool) -> torch.Tensor:
        x = to_input(faces, self.normalization)  # (B, 1, 48, 48)
        if train:
            x = augment(x, self.augment_config)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class indices or class probabilities (soft labels, mixed batches)."""
        return F.cross_entropy(logits, target, label_smoothing=self.config.label_smoothing)

    @torch.no_grad()
    def _teacher_probs(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        """The teachers' averaged softened probabilities for the student's (augmented) inputs."""
        probs = 0
        for teacher, norm in self._teachers:
            teacher.to(x.device)
            xt = x
            if norm != self.normalization:  # undo the student's normalisation, apply the teacher's
                xt = (x * self.normalization["std"] + self.normalization["mean"] - norm["mean"]) / norm["std"]
            probs = probs + (teacher(xt).float() / temperature).softmax(1)
        return probs / len(self._teachers)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        faces, labels, soft, cached = batch
        c = self.config
        x = self._inputs(faces, train=True)
        target = labels if soft.numel() == 0 else soft
        if c.mixup > 0 or c.cutmix > 0:
            probs = target if target.ndim == 2 else F.one_hot(target, NUM_CLASSES).to(x.dtype)
            x, target = mix_batch(x, probs, c.mixup, c.cutmix)
        logits = self(x)
        loss = self._loss(logits, target)
        if self._teachers or cached.numel():
            t = c.distill_temperature
            teacher = cached if cached.numel() else self._teacher_probs(x, t)
            kd = F.kl_div((logits.float() / t).log_softmax(1), teacher, reduction="batchmean") * t * t
            self.log("train/distill_loss", kd, on_step=False, on_epoch=True, batch_size=len(labels), sync_dist=True)
            loss = (1 - c.distill_weight) * loss + c.distill_weight * kd
        self.train_metrics.update(logits.detach().float().softmax(1), labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(labels), sync_dist=True)
        # Checked every 50 steps and before validation, so the device is not synchronised every step and
        # no checkpoint is written from weights that have already diverged.
        self._diverged = self._diverged | ~torch.isfinite(loss.detach())
        if batch_idx % 50 == 49:
            self._check_finite()
        return loss

    def on_validation_start(self) -> None:
        self._check_finite()

    def _check_finite(self) -> None:
        if bool(self._diverged):
            from ferkit.errors import FerkitError

            raise FerkitError(f"training diverged: the loss became nan or inf in epoch {self.current_epoch}; "
                              f"lower lr (now {self.config.lr:g}); the last checkpoint is from before it")

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.train_metrics.compute(), sync_dist=True)
        self.train_metrics.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        faces, labels = batch[:2]
        logits = self(self._inputs(faces, train=False))
        loss = F.cross_entropy(logits, labels)
        self.val_metrics.update(logits.float().softmax(1), labels)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=len(labels), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        metrics = self.val_metrics.compute()
        self.log_dict(metrics, prog_bar=False, sync_dist=True)
        self.log("val_acc", metrics["val/acc"], prog_bar=True, sync_dist=True)  # for checkpoint file names
        self.val_metrics.reset()

    def configure_optimizers(self):
        c = self.config
        opt = make_optimizer(self.model, c.optimizer, c.lr, c.weight_decay, c.momentum)
        total = c.epochs * self.steps_per_epoch
        warmup = int(c.warmup_epochs * self.steps_per_epoch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, total, warmup, c.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def make_optimizer(model: torch.nn.Module, optimizer: str, lr: float, weight_decay: float,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """The recipe's optimiser: AdamW, or SGD with Nesterov momentum; no weight decay on BN and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def _load_init(model: torch.nn.Module, config: TrainConfig) -> None:
    """Copy a checkpoint's weights into the new model; one-line error when they cannot be its starting point.

    The checkpoint's temperature comes along but is refitted (or fixed) when the run ends.
    """
    from ferkit.config import ConfigError
    from ferkit.training.checkpoint import load_checkpoint

    path = config.init_path()
    ckpt = load_checkpoint(path)
    # Dropout rates do not shape the weights: a run may change them and start from the same checkpoint.
    rates = {"dropout2d": model.config.dropout2d, "head_dropout": model.config.head_dropout}
    if ckpt.arch != config.model or dataclasses.replace(ckpt.config, **rates) != model.config:
        raise ConfigError(f"init: {path} is a {ckpt.arch} checkpoint with another architecture than "
                          f"model={config.model}; start from a checkpoint of the same model")
    if dict(ckpt.normalization) != DEFAULT_NORMALIZATION:
        raise ConfigError(f"init: {path} normalises faces with {dict(ckpt.normalization)}, "
                          f"training uses {DEFAULT_NORMALIZATION}")
    model.load_state_dict(ckpt.state_dict)


def _load_teacher(path: str, channels_last: bool) -> tuple[torch.nn.Module, dict[str, float]]:
    """A frozen teacher in eval mode and its input normalisation; one-line error for a bad file."""
    from ferkit.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    model = ckpt.build_model().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, dict(ckpt.normalization)


def face_folds(n: int, n_folds: int) -> np.ndarray:
    """The fold (0..n_folds-1) of each of ``n`` training faces: a fixed shuffle, so that every run with the same
    faces and ``n_folds`` agrees, whatever its seed; fold sizes differ by at most one."""
    return np.random.default_rng(0).permutation(n) % n_folds


def offline_teacher_probs(config: TrainConfig, faces: np.ndarray, device: torch.device | str = "cpu",
                          index: list[np.ndarray] | None = None) -> torch.Tensor:
    """The teachers' averaged probabilities at ``distill_temperature`` for each face (N, C).

    Computed once for ``distill_mode=offline``, on the faces as they are (a mirror image would double the
    cost for little: the labels do not change under a flip), on ``device``; with a progress bar, as large
    teachers take many minutes on a CPU. For ``distill_mode=crossfit`` each teacher gives outputs only on the
    fold it was trained without (see ``_crossfit_folds``). ``index`` overrides which faces each teacher gives
    outputs on (one array per teacher; every face needs at least one).
    """
    from tqdm.auto import tqdm

    from ferkit.evaluation.logits import face_logits

    t = config.distill_temperature
    paths = config.teacher_paths()
    if index is None and config.distill_mode == "crossfit":
        index = _crossfit_folds(config, paths, len(faces))
    elif index is None:
        index = [np.arange(len(faces))] * len(paths)
    probs = torch.zeros(len(faces), NUM_CLASSES, dtype=torch.float64)
    count = torch.zeros(len(faces), dtype=torch.float64)
    chunk = 2048
    with tqdm(total=sum(map(len, index)), desc="teacher outputs", unit="face", disable=not config.progress) as bar:
        for path, own in zip(paths, index):
            teacher, norm = _load_teacher(path, channels_last=False)
            teacher = teacher.to(device)
            for start in range(0, len(own), chunk):
                part = own[start:start + chunk]
                with torch.no_grad():
                    logits = face_logits(teacher, faces[part], norm)
                part = torch.from_numpy(part)
                probs[part] += (logits.double() / t).softmax(1)
                count[part] += 1
                bar.update(len(part))
    return (probs / count[:, None]).float()


def _crossfit_folds(config: TrainConfig, paths: list[str], n: int) -> list[np.ndarray]:
    """For each teacher, the training faces it was trained without: fold K of ``holdout_fold=K/N``.

    Every teacher must come from a run with ``holdout_fold`` of the same N and the student's ``train_limit``
    (the folds are drawn over the same faces), and every fold needs a teacher; ConfigError in one line otherwise.
    """
    from ferkit.config import ConfigError, parse_fold
    from ferkit.training.checkpoint import load_checkpoint

    folds = []
    for path in paths:
        trained = load_checkpoint(path).metrics.get("config") or {}
        if not str(trained.get("holdout_fold") or "").strip():
            raise ConfigError(f"distill_mode=crossfit: teacher {path} was trained on every face "
                              "(no holdout_fold=K/N in its run's config)")
        if int(trained.get("train_limit") or 0) != config.train_limit:
            raise ConfigError(f"distill_mode=crossfit: teacher {path} was trained with train_limit="
                              f"{trained.get('train_limit') or 0}, this run has {config.train_limit}: other folds")
        folds.append(parse_fold(trained["holdout_fold"], f"teacher {path}: holdout_fold"))
    counts = {n_folds for _, n_folds in folds}
    if len(counts) != 1:
        raise ConfigError(f"distill_mode=crossfit: the teachers' holdout_fold split the faces into different "
                          f"numbers of folds ({', '.join(map(str, sorted(counts)))})")
    n_folds = counts.pop()
    missing = sorted(set(range(n_folds)) - {k for k, _ in folds})
    if missing:
        raise ConfigError(f"distill_mode=crossfit: no teacher was trained without fold(s) "
                          f"{', '.join(map(str, missing))} of {n_folds}, so those faces have no out-of-fold output")
    fold = face_folds(n, n_folds)
    return [np.flatnonzero(fold == k) for k, _ in folds]


TEACHER_CACHE = "teacher_probs.pt"


def _faces_sha1(faces: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(faces).data).hexdigest()


def _teacher_cache_key(config: TrainConfig, faces: np.ndarray) -> dict:
    """What the cached probabilities depend on: the teachers' bytes, the temperature and the faces."""
    from ferkit.evaluation.report import file_sha256

    return {"teachers": [file_sha256(p) for p in config.teacher_paths()], "mode": config.distill_mode,
            "temperature": float(config.distill_temperature), "faces": len(faces), "faces_sha1": _faces_sha1(faces)}


def save_teacher_outputs(config: TrainConfig, faces: np.ndarray, path: str | Path,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """Compute the teachers' probabilities on ``faces`` and write them where ``teacher_outputs=`` reads them."""
    probs = offline_teacher_probs(config, faces, device)
    _write_teacher_outputs(Path(path), _teacher_cache_key(config, faces), probs)
    return probs


def _write_teacher_outputs(path: Path, key: dict, probs: torch.Tensor) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save({"key": key, "probs": probs}, partial)
    partial.replace(path)  # atomic: a reader (another rank) never sees half a file


def _read_teacher_outputs(path: str | Path) -> tuple[dict, torch.Tensor]:
    """The key and the (N, C) probabilities of a teacher-outputs file; ConfigError when it is not one."""
    from ferkit.config import ConfigError

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ConfigError(f"teacher_outputs: {path}: not a file of teacher outputs ({type(err).__name__})") from None
    key = saved.get("key") if isinstance(saved, dict) else None
    probs = saved.get("probs") if isinstance(saved, dict) else None
    if not isinstance(key, dict) or not isinstance(probs, torch.Tensor) or probs.shape[1:] != (NUM_CLASSES,):
        raise ConfigError(f"teacher_outputs: {path}: not a file of teacher outputs (written by an offline "
                          "distillation run as teacher_probs.pt, or by bench/teacher_outputs.py)")
    return key, probs.float()


def load_teacher_outputs(path: str | Path, faces: np.ndarray, temperature: float) -> torch.Tensor:
    """The teacher probabilities of a ``teacher_outputs=`` file at ``temperature``, checked against this run's
    training faces.

    A file made at another temperature T0 serves any T: softmax(z / T) is proportional to
    softmax(z / T0) ** (T0 / T), so the probabilities are re-tempered exactly (up to float rounding).
    Raises ConfigError in one line when the file is not such a file or was made on other faces (another
    dataset, split or ``train_limit``).
    """
    from ferkit.config import ConfigError

    key, probs = _read_teacher_outputs(path)
    if len(probs) != len(faces) or key.get("faces_sha1") != _faces_sha1(faces):
        raise ConfigError(f"teacher_outputs: {path} holds outputs for {len(probs)} other faces than this run's "
                          f"{len(faces)} training faces (another dataset, split or train_limit)")
    made_at = key.get("temperature")
    if not isinstance(made_at, (int, float)) or not made_at > 0:
        raise ConfigError(f"teacher_outputs: {path}: not a file of teacher outputs (no temperature recorded)")
    if made_at != temperature:
        probs = (probs.double().clamp_min(1e-300).log() * (made_at / temperature)).softmax(1).float()
    return probs


def _read_teacher_cache(path: Path, key: dict) -> torch.Tensor | None:
    """The cached probabilities when ``path`` holds them for exactly ``key``; None otherwise."""
    from ferkit.config import ConfigError

    try:
        saved_key, probs = _read_teacher_outputs(path)
    except ConfigError:
        return None
    return probs if saved_key == key and len(probs) == key["faces"] else None


class _Faces(Dataset):
    """Rows of a FaceDataset as tensors, fetched a whole batch at a time.

    A batch is (faces, labels, soft labels, cached teacher probabilities); the last two are empty when unused.
    """

    def __init__(self, data: FaceDataset, soft: bool, teacher_probs: torch.Tensor | None = None) -> None:
        self.faces = torch.from_numpy(np.ascontiguousarray(data.faces))
        self.labels = torch.from_numpy(data.labels.astype(np.int64))
        self.soft = torch.from_numpy(data.soft_labels.astype(np.float32)) if soft else None
        self.teacher_probs = teacher_probs

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, index: list[int]):
        index = torch.as_tensor(index)
        soft = self.soft[index] if self.soft is not None else torch.empty(0)
        cached = self.teacher_probs[index] if self.teacher_probs is not None else torch.empty(0)
        return self.faces[index], self.labels[index], soft, cached


def _identity(batch):
    return batch


class FaceDataModule(L.LightningDataModule):
    """Train on the dataset's train split (weighted sampling when sources carry weights), validate on val."""

    def __init__(self, data: FaceDataset, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        train, val = data.by_split("train"), data.by_split("val")
        if config.train_limit:
            train = train.subset(np.arange(min(config.train_limit, len(train))))
        if (holdout := config.holdout()) is not None:  # after train_limit: the folds are of the faces it leaves
            k, n_folds = holdout
            train = train.subset(np.flatnonzero(face_folds(len(train), n_folds) != k))
        if config.val_limit:
            val = val.subset(np.arange(min(config.val_limit, len(val))))
        if len(train) == 0 or len(val) == 0:
            from ferkit.data.dataset import DataError

            raise DataError(f"{config.data}: need faces in both the train and val splits "
                            f"(found {len(train)} train, {len(val)} val)")
        self.train_data, self.val_data = train, val
        self.soft = (config.labels == "ferplus_soft" or config.ferplus_weight > 0) and train.soft_labels is not None
        self.teacher_probs: torch.Tensor | None = None  # distill_mode=offline: set by prepare_teachers()
        if config.teacher_outputs:  # computed elsewhere: checked against these faces now, before any run folder
            self.teacher_probs = load_teacher_outputs(config.teacher_outputs, train.faces, config.distill_temperature)
        if config.distill_mode == "crossfit" and config.teacher:  # the teachers' folds, checked now too
            _crossfit_folds(config, config.teacher_paths(), len(train))
        # distill_mode=offline: the run folder keeps the teachers' outputs, so that a resumed run (or another
        # rank) reads them instead of paying for the teachers' pass again. Set by train().
        self.cache_dir: Path | None = None

    def prepare_data(self) -> None:
        # Lightning calls this on local rank 0 of each node while the other ranks wait, then setup() everywhere:
        # one teacher pass per node, on the run's device.
        self.prepare_teachers(self._device())

    def setup(self, stage: str) -> None:
        self.prepare_teachers(self._device())

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def prepare_teachers(self, device: torch.device | str = "cpu") -> None:
        """Cache the teachers' probabilities on every training face (``distill_mode=offline`` or ``crossfit``).

        Read from ``cache_dir`` when a file there was made from the same teachers, temperature and faces;
        otherwise computed on ``device`` and written there.
        """
        if self.config.distill_mode == "online" or not self.config.teacher or self.teacher_probs is not None:
            return
        faces = self.train_data.faces
        key = _teacher_cache_key(self.config, faces)
        path = self.cache_dir / TEACHER_CACHE if self.cache_dir is not None else None
        probs = _read_teacher_cache(path, key) if path is not None and path.is_file() else None
        if probs is None:
            probs = offline_teacher_probs(self.config, faces, device)
            if path is not None:
                _write_teacher_outputs(path, key, probs)
        self.teacher_probs = probs

    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Optimizer steps per epoch, as the train loader yields them (it drops a partial last batch)."""
        per_rank = -(-len(self.train_data) // world_size)
        if self._drop_last(len(self.train_data)):
            return max(1, per_rank // self.config.batch_size)
        return max(1, -(-per_rank // self.config.batch_size))

    def _drop_last(self, n: int) -> bool:
        # A last train batch of one face would break BatchNorm; drop the remainder when there is a full batch.
        return n > self.config.batch_size

    def _loader(self, data: FaceDataset, train: bool) -> DataLoader:
        dataset = _Faces(data, soft=self.soft and train, teacher_probs=self.teacher_probs if train else None)
        sampler = None
        if train:
            weights = data.weight
            if np.allclose(weights, weights[0]):
                sampler = RandomSampler(dataset)
            else:
                sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(dataset))
        drop_last = train and self._drop_last(len(dataset))
        return DataLoader(dataset, batch_size=self.config.batch_size if train else 512, sampler=sampler,
                          drop_last=drop_last, collate_fn=_identity, num_workers=self.config.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_data, train=False)
