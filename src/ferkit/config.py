"""Training configuration: the dataclass holds every default; YAML and key=value only override."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from ferkit.errors import FerkitError

if typing.TYPE_CHECKING:
    from ferkit.models import ResNetSwishConfig


class ConfigError(FerkitError, ValueError):
    pass


@dataclass
class TrainConfig:
    # data
    data: str = ""  # FER2013 CSV/.csv.gz, images zip or folder
    labels: str = "fer2013"  # fer2013 | ferplus | ferplus_soft
    ferplus: str = ""  # fer2013new.csv, needed for ferplus labels
    # with labels=fer2013: train on (1 - w) * each face's FER2013 label + w * its FER+ vote distribution (faces
    # without a FER+ majority keep FER2013's label alone); needs ferplus=PATH. 0: FER2013's labels alone
    ferplus_weight: float = 0.0
    # the labels of PublicTest (val), where the run keeps its best checkpoint, stops early, picks SWA or best and
    # fits its temperature: auto (FER+ majority when labels=ferplus*, else FER2013's) | fer2013 | ferplus.
    # The test figures stay on FER2013's labels; with ferplus=PATH the summary adds FER+'s beside them.
    val_labels: str = "auto"
    affectnet: str = ""  # AffectNet official root or Kaggle folder tree, mixed into training
    affectnet_weight: float = 1.0  # sampling weight of an AffectNet face relative to a FER2013 face
    train_limit: int = 0  # use only the first N training faces (0: all); for smoke tests
    # "K/N": train without fold K of N of the training faces (a fixed split, the same for every run with this N),
    # to make a teacher whose outputs on fold K are out of sample (distill_mode=crossfit); "": all faces
    holdout_fold: str = ""
    val_limit: int = 0
    # model
    model: str = "resnet_swish_s"
    init: str = ""  # start from the weights of a ferkit checkpoint of this model (fine-tuning); "default"
    dropout2d: float = -1.0  # channel dropout after each stage; -1: the model's own (0.1 for s)
    head_dropout: float = -1.0  # dropout before the classifier; -1: the model's own (0.4 for s)
    # each residual branch's last BN scale starts at 0 (the block is an identity at first) or, false, at 1
    zero_init_residual: bool = True
    # optimisation
    epochs: int = 50
    batch_size: int = 256
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 3e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # sgd only
    warmup_epochs: float = 2.0
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup; 0: off
    cutmix: float = 0.0  # Beta(alpha, alpha) of CutMix; 0: off (with mixup on too, each batch picks one)
    # distillation: the soft outputs of trained ferkit models as extra targets
    teacher: str = ""  # ferkit checkpoint(s), comma-separated (an ensemble: probabilities averaged); "default"
    distill_weight: float = 0.5  # loss = (1 - w) * CE(labels) + w * T^2 * KL(teacher || student)
    distill_temperature: float = 2.0  # T: softens both distributions
    # online: the teachers see every augmented batch; offline: their probabilities on each training face are
    # computed once before training and stand for every augmented view of it, which makes large teachers
    # affordable on a CPU; crossfit: offline, but each face gets only the teachers trained without it
    # (teachers trained with holdout_fold=K/N, every fold K covered), as a teacher reproduces the labels of the
    # faces it learned (the two 80-epoch `l` agree with the label on 95% of their training faces)
    distill_mode: str = "online"
    # offline distillation from teacher outputs computed elsewhere: a file as the offline mode writes into its
    # run folder (teacher_probs.pt) or bench/teacher_outputs.py writes, so the teachers need not be at hand
    # (a lent GPU gets the 1 MB of outputs of an ensemble instead of its checkpoints)
    teacher_outputs: str = ""
    # augmentation, per batch on tensors
    flip: bool = True
    shift: float = 0.1  # fraction of the side
    rotation: float = 10.0  # degrees
    zoom: float = 0.1  # scale in [1 - zoom, 1 + zoom]
    fill: str = "border"  # border (nearest) | reflection | zeros
    erasing: float = 0.0  # probability of random erasing per face
    # callbacks
    early_stopping_patience: int = 12  # epochs without val accuracy gain; 0 disables
    swa: bool = True
    swa_epoch_start: float = 0.8  # fraction of epochs
    swa_lr: float = 0.0  # 0: a fifth of lr
    temperature: str = "fit"  # fit (NLL on val) | a fixed number such as 0.7 | none
    # runtime
    # auto: bf16-mixed on a GPU that has bf16 and on a CPU with AMX or AVX-512 BF16, 32 elsewhere
    # (ferkit.training.run.resolve_precision)
    precision: str = "auto"  # auto | 32 | bf16-mixed
    channels_last: bool = False
    threads: int = 0  # 0: all cores
    num_workers: int = 0
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp
    accelerator: str = "auto"
    seed: int = 0
    out_dir: str = "runs"
    name: str = ""  # run folder name; default: the config file's stem
    progress: bool = True

    def validate(self) -> TrainConfig:
        # teacher outputs fixed per training face, which a mixed batch's faces no longer are
        per_face = "teacher_outputs" if self.teacher_outputs else \
            f"distill_mode={self.distill_mode}" if self.distill_mode != "online" else ""
        checks = [
            (self.labels in ("fer2013", "ferplus", "ferplus_soft"), "labels must be fer2013, ferplus or ferplus_soft"),
            (self.labels == "fer2013" or bool(self.ferplus), "labels=ferplus* needs ferplus=PATH to fer2013new.csv"),
            (0 <= self.ferplus_weight <= 1, "ferplus_weight must be in [0, 1]"),
            (self.ferplus_weight == 0 or (self.labels == "fer2013" and bool(self.ferplus)),
             "ferplus_weight blends FER+'s votes into FER2013's labels: it needs labels=fer2013 and ferplus=PATH"),
            (self.val_labels in ("auto", "fer2013", "ferplus"), "val_labels must be auto, fer2013 or ferplus"),
            (self.val_labels != "ferplus" or bool(self.ferplus),
             "val_labels=ferplus needs ferplus=PATH to fer2013new.csv"),
            (self.optimizer in ("adamw", "sgd"), "optimizer must be adamw or sgd"),
            (self.fill in ("border", "reflection", "zeros"), "fill must be border, reflection or zeros"),
            (self.precision in ("auto", "32", "bf16-mixed"), "precision must be auto, 32 or bf16-mixed"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (0 < self.lr < math.inf, "lr must be a number > 0"),
            (0 <= self.weight_decay < math.inf, "weight_decay must be a number >= 0"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (0 <= self.warmup_epochs < math.inf, "warmup_epochs must be a number >= 0"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (0 <= self.swa_lr < math.inf, "swa_lr must be a number >= 0 (0: follow the schedule)"),
            (0 <= self.shift < 0.5, "shift must be a fraction of the side in [0, 0.5)"),
            (0 <= self.rotation <= 180, "rotation must be degrees in [0, 180]"),
            (0 <= self.zoom < 1, "zoom must be in [0, 1)"),
            (self.train_limit == 0 or self.train_limit >= 2, "train_limit must be 0 (all faces) or at least 2"),
            (self.val_limit >= 0, "val_limit must be >= 0 (0: all faces)"),
            (self.early_stopping_patience >= 0, "early_stopping_patience must be >= 0 (0: off)"),
            (self.threads >= 0, "threads must be >= 0 (0: all cores)"),
            (self.num_workers >= 0, "num_workers must be >= 0"),
            (self.devices >= 1 and self.num_nodes >= 1, "devices and num_nodes must be >= 1"),
            (self.strategy in ("auto", "ddp", "ddp_spawn"), "strategy must be auto, ddp or ddp_spawn"),
            (self.accelerator in ("auto", "cpu", "gpu", "cuda", "mps"),
             "accelerator must be auto, cpu, gpu, cuda or mps"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 < self.swa_epoch_start <= 1, "swa_epoch_start must be in (0, 1]"),
            (0 <= self.affectnet_weight < math.inf, "affectnet_weight must be a number >= 0"),
            (0 <= self.mixup < math.inf and 0 <= self.cutmix < math.inf,
             "mixup and cutmix must be numbers >= 0 (0 turns them off)"),
            (0 <= self.erasing <= 1, "erasing must be a probability in [0, 1]"),
            (self.dropout2d == -1 or 0 <= self.dropout2d < 1, "dropout2d must be in [0, 1), or -1 for the model's own"),
            (self.head_dropout == -1 or 0 <= self.head_dropout < 1,
             "head_dropout must be in [0, 1), or -1 for the model's own"),
            (0 <= self.distill_weight <= 1, "distill_weight must be in [0, 1]"),
            (0 < self.distill_temperature < math.inf, "distill_temperature must be a number > 0"),
            (self.distill_mode in ("online", "offline", "crossfit"),
             "distill_mode must be online, offline or crossfit"),
            (not (self.teacher_outputs and self.teacher),
             "teacher and teacher_outputs are two sources of the same targets: give one"),
            (not (self.holdout_fold.strip() and self.distill_mode == "crossfit"),
             "holdout_fold cannot be combined with distill_mode=crossfit (the teachers' folds are of every face)"),
            (not per_face or (self.mixup == 0 and self.cutmix == 0),
             f"{per_face} cannot be combined with mixup or cutmix (the teacher outputs are per face)"),
            (bool(self.data), "data=PATH is required (the FER2013 CSV or images zip)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.fixed_temperature()  # raises on a bad value
        self.holdout()  # raises on a bad value
        for path in self.teacher_paths():
            if not Path(path).is_file():
                raise ConfigError(f"teacher: {path}: no such checkpoint file")
        if self.teacher_outputs and not Path(self.teacher_outputs).is_file():
            raise ConfigError(f"teacher_outputs: {self.teacher_outputs}: no such file")
        if self.init and not Path(self.init_path()).is_file():
            raise ConfigError(f"init: {self.init_path()}: no such checkpoint file")
        from ferkit.models import list_models

        if self.model not in list_models():
            raise ConfigError(f"unknown model {self.model!r}; available: {', '.join(list_models())}")
        return self

    @property
    def swa_scheduled(self) -> bool:
        """Whether the run sets SWA up: asked for, and at least 2 epochs (the average starts at the second)."""
        return self.swa and self.epochs >= 2

    def resolved_val_labels(self) -> str:
        """``fer2013`` or ``ferplus``: the labels PublicTest is scored against during the run and when it is
        calibrated (``auto`` follows the training labels)."""
        if self.val_labels == "auto":
            return "fer2013" if self.labels == "fer2013" else "ferplus"
        return self.val_labels

    def fixed_temperature(self) -> float | None:
        """The fixed temperature asked for, or None when it is fitted (or off)."""
        if self.temperature in ("fit", "none"):
            return None
        try:
            t = float(self.temperature)
        except ValueError:
            raise ConfigError(f"temperature must be fit, none or a number, got {self.temperature!r}") from None
        if not 0 < t < math.inf:
            raise ConfigError(f"temperature must be > 0, got {t}")
        return t

    def holdout(self) -> tuple[int, int] | None:
        """``holdout_fold`` as (K, N), or None when every training face is used."""
        return parse_fold(self.holdout_fold, "holdout_fold") if self.holdout_fold.strip() else None

    def model_config(self) -> ResNetSwishConfig:
        """The registered architecture of ``model`` with this run's dropout rates."""
        from ferkit.models import model_config

        arch = model_config(self.model)
        rates = {k: v for k, v in (("dropout2d", self.dropout2d), ("head_dropout", self.head_dropout)) if v != -1}
        return dataclasses.replace(arch, **rates)

    def teacher_paths(self) -> list[str]:
        """The teacher checkpoints; ``default`` names the shipped default model."""
        return [_checkpoint_path(p) for p in self.teacher.split(",") if p.strip()]

    def init_path(self) -> str:
        """The checkpoint to start from, ``default`` naming the shipped model; "" for random weights."""
        return _checkpoint_path(self.init)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_fold(text: str, what: str) -> tuple[int, int]:
    """"K/N" as (K, N) with N >= 2 and 0 <= K < N; ConfigError in one line otherwise."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"{what} must be K/N (fold K of N, e.g. 0/2), got {text!r}") from None
    if not (n >= 2 and 0 <= k < n):
        raise ConfigError(f"{what} must be K/N with N >= 2 and 0 <= K < N, got {text!r}")
    return k, n


def _checkpoint_path(name: str) -> str:
    """A checkpoint named in the config: ``default`` is the shipped model, anything else a path."""
    from ferkit.assets import DEFAULT_MODEL

    name = name.strip()
    return str(DEFAULT_MODEL) if name == "default" else name


def _coerce(name: str, kind: type, value: object) -> object:
    """Convert a YAML or command-line value to the field's type, or raise a one-line error."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if kind is str:
        return "" if value is None else str(value)
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {kind.__name__}, got {value!r}") from None


def _field_types() -> dict[str, type]:
    hints = typing.get_type_hints(TrainConfig)
    out = {}
    for f in fields(TrainConfig):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        out[f.name] = hint
    return out


def apply_overrides(config: TrainConfig, values: dict[str, object]) -> TrainConfig:
    kinds = _field_types()
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(kinds)}")
    changes = {k: _coerce(k, kinds[k], v) for k, v in values.items()}
    return dataclasses.replace(config, **changes)


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``["lr=0.01", "swa=false"]`` -> ``{"lr": "0.01", "swa": "false"}`` (typed later)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not key=value")
        out[key.strip()] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Dataclass defaults, then the YAML preset, then key=value overrides; validated."""
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a YAML config (not text)") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise ConfigError(f"{path}: expected a mapping of key: value with names as keys")
        config = apply_overrides(config, values)
        if not config.name:
            config = dataclasses.replace(config, name=path.stem)
    config = apply_overrides(config, parse_overrides(list(overrides)))
    return config.validate()
