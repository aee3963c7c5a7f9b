"""``evaluate``: a model measured on one split of a dataset, and the report folder written from it.

``evaluate()`` runs the model once over the faces (and their mirror images for
the flip-TTA figure), so every number and picture of the report comes from the
same logits. ``write_report()`` turns the result into ``metrics.json``,
``figures/*.png``, ``report.md`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ferkit import __version__
from ferkit.errors import FerkitError
from ferkit.evaluation.calibration import fit_temperature, reliability_bins
from ferkit.evaluation.logits import face_logits
from ferkit.evaluation.metrics import ECE_BINS, ClassificationMetrics, accuracy, classification_metrics, rounded
from ferkit.evaluation.photos import WildEvaluation
from ferkit.labels import EMOTIONS
from ferkit.training.checkpoint import Checkpoint, load_checkpoint

METRICS_FILE = "metrics.json"
FIGURES = "figures"
# Faces per inference call: small enough for a progress bar that moves, large enough to batch well.
CHUNK = 512
MISTAKES_PER_CLASS = 6
CAM_PER_CLASS = 4
WILD_SHOWN = 12


class EvaluationError(FerkitError, ValueError):
    """Nothing to evaluate (an empty split) or an option that does not fit the data."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def display_path(path: str | Path) -> str:
    """The path relative to the working folder when inside it (reports move between machines), else as is."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass
class Evaluation:
    """A model measured on the faces of one split, with the arrays the report's figures need.

    Attributes:
        model_path: the checkpoint evaluated.
        checksum: SHA-256 of the checkpoint file.
        checkpoint: the loaded checkpoint.
        parameters: trainable parameters of the model.
        data: the dataset as given, its name, and the FER+ file if any.
        split: ``train``, ``val`` or ``test``.
        limit: only the split's first ``limit`` faces were used (0: all).
        faces: (N, 48, 48) uint8.
        labels: (N,) dataset labels.
        logits: (N, C) raw logits.
        logits_tta: (N, C) mean of the logits of each face and its mirror image.
        metrics: everything computed from ``logits`` and ``labels``.
        temperature_source: where the temperature came from.
        dedup: (N,) faces with no pixel-identical copy in train; None for the train split.
        ferplus_labels: (N,) FER+ majority label, -1 where FER+ has none; None without FER+.
        history: the training curves, one dict per epoch (``ferkit.evaluation.history``).
        history_source: where they were read: ``checkpoint``, the run's log, or ``""``.
        examples: per class, indices of the faces Grad-CAM explains; ``cams`` holds their maps in that order.
        wild: the photo set's results, when one was given.
        int8: the shipped int8 version measured on the same faces, when it was made from this checkpoint.
        command: the command line that produced it, for the report's reproducibility note.
        seconds: wall time of ``evaluate``.
    """

    model_path: Path
    checksum: str
    checkpoint: Checkpoint
    parameters: int
    data: dict
    split: str
    limit: int
    faces: np.ndarray
    labels: np.ndarray
    logits: torch.Tensor
    logits_tta: torch.Tensor
    metrics: ClassificationMetrics
    temperature_source: str
    dedup: np.ndarray | None
    ferplus_labels: np.ndarray | None
    history: list[dict]
    history_source: str
    examples: list[np.ndarray]
    cams: np.ndarray
    wild: WildEvaluation | None = None
    int8: dict | None = None
    command: str = ""
    seconds: float = 0.0

    @property
    def temperature(self) -> float:
        return self.metrics.temperature

    @property
    def probs(self) -> np.ndarray:
        """(N, C) calibrated probabilities."""
        return (self.logits / self.temperature).softmax(1).numpy()

    @property
    def accuracy_tta(self) -> float:
        return accuracy(self.logits_tta, torch.as_tensor(self.labels))

    @property
    def accuracy_dedup(self) -> float | None:
        if self.dedup is None or not self.dedup.any():
            return None
        return accuracy(self.logits[self.dedup], torch.as_tensor(self.labels[self.dedup]))

    @property
    def accuracy_ferplus(self) -> float | None:
        if self.ferplus_labels is None or not (self.ferplus_labels >= 0).any():
            return None
        keep = self.ferplus_labels >= 0
        return accuracy(self.logits[keep], torch.as_tensor(self.ferplus_labels[keep]))

    def reliability(self, calibrated: bool):
        """Reliability bins of the probabilities after (or before) temperature scaling."""
        t = self.temperature if calibrated else 1.0
        return reliability_bins((self.logits / t).softmax(1), torch.as_tensor(self.labels), ECE_BINS)

    @property
    def training_config(self) -> dict | None:
        """The config the checkpoint was trained with: from the checkpoint, else its run folder."""
        return self.checkpoint.metrics.get("config") or _run_config(self.checkpoint.run_dir)

    def to_dict(self) -> dict:
        """The content of ``metrics.json``."""
        ckpt = self.checkpoint
        m = self.metrics.to_dict()
        training = {k: v for k, v in ckpt.metrics.items() if k not in ("history", "test", "config")}
        return {
            "ferkit_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "command": self.command,
            "model": {
                "name": ckpt.arch, "file": self.model_path.name, "path": display_path(self.model_path),
                "sha256": self.checksum, "parameters": self.parameters,
                "architecture": ckpt.config.to_dict(), "input_size": list(ckpt.input_size),
                "normalization": dict(ckpt.normalization), "labels": list(ckpt.labels),
                "run_dir": display_path(ckpt.run_dir) if ckpt.run_dir else "",
                "written_by_ferkit": ckpt.ferkit_version,
            },
            "data": {**self.data, "split": self.split, "limit": self.limit},
            "split": self.split,
            "n": m["n"],
            "accuracy": m["accuracy"],
            "accuracy_tta": rounded(self.accuracy_tta),
            "accuracy_dedup": rounded(self.accuracy_dedup),
            "n_dedup": None if self.dedup is None else int(self.dedup.sum()),
            "accuracy_ferplus": rounded(self.accuracy_ferplus),
            "n_ferplus": None if self.ferplus_labels is None else int((self.ferplus_labels >= 0).sum()),
            **{k: v for k, v in m.items() if k not in ("n", "accuracy")},
            "temperature_source": self.temperature_source,
            "labels": list(EMOTIONS),
            "training": {"history_source": self.history_source, "epochs_logged": len(self.history),
                         **training, "config": self.training_config},
            "wild": None if self.wild is None else {**self.wild.to_dict(), "source": display_path(self.wild.source)},
            "int8": self.int8,
            "seconds": round(self.seconds, 1),
        }


def _run_config(run_dir: str) -> dict | None:
    """The training run's ``config.yaml`` when its folder is still there (for checkpoints written
    before the config travelled inside them, in ``metrics["config"]``)."""
    path = Path(run_dir) / "config.yaml" if run_dir else None
    if path is None or not path.is_file():
        return None
    import yaml

    loaded = yaml.safe_load(path.read_text())
    return loaded if isinstance(loaded, dict) else None


def _bar(total: int, desc: str, enabled: bool, unit: str = "face"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=True, dynamic_ncols=True)


def _logits(model, faces: np.ndarray, normalization: dict, bar) -> torch.Tensor:
    out = []
    for start in range(0, len(faces), CHUNK):
        out.append(face_logits(model, faces[start:start + CHUNK], normalization))
        bar.update(len(out[-1]))
    return torch.cat(out) if out else torch.empty(0, len(EMOTIONS))


def _select(dataset, split: str, limit: int) -> np.ndarray:
    """Row indices of the split's faces, the first ``limit`` of them when limited."""
    rows = np.flatnonzero(dataset.split == split)
    if not len(rows):
        counts = {s: int((dataset.split == s).sum()) for s in ("train", "val", "test")}
        raise EvaluationError(f"{dataset.name or 'the dataset'} has no {split} faces "
                              f"({', '.join(f'{k} {v}' for k, v in counts.items())})")
    return rows[:limit] if limit else rows


def _temperature(ckpt, model, dataset, split: str, limit: int, progress: bool) -> tuple[float, str]:
    """The checkpoint's temperature; for an uncalibrated checkpoint (T = 1), one fitted here on val."""
    if ckpt.temperature != 1.0:
        return ckpt.temperature, "checkpoint: fitted on the validation split in training"
    if split == "val" or not (dataset.split == "val").any():
        return 1.0, "none: the checkpoint is uncalibrated and there is no other split to fit it on"
    rows = _select(dataset, "val", limit)
    with _bar(len(rows), "val faces (temperature)", progress) as bar:
        logits = _logits(model, dataset.faces[rows], ckpt.normalization, bar)
    temperature = fit_temperature(logits, torch.as_tensor(dataset.labels[rows]))
    return temperature, "fitted here on the validation split: the checkpoint is uncalibrated"


def evaluate(model: str | Path | None, data: str | Path, *, ferplus: str | Path | None = None, split: str = "test",
             photos: str | Path | None = None, limit: int = 0, progress: bool = False,
             command: str = "") -> Evaluation:
    """Measure a checkpoint on one split of a dataset (and optionally on a set of real photos).

    Args:
        model: a ferkit checkpoint (``.pt``); None: the model shipped with ferkit.
        data: any dataset ``ferkit.data.load_dataset`` reads (the FER2013 CSV for FER+ labels).
        ferplus: ``fer2013new.csv``: also score against FER+ majority labels.
        split: ``test`` (FER2013 PrivateTest), ``val`` or ``train``.
        photos: a zip or folder of photos, optionally with a ``legend.csv`` of weak labels.
        limit: use only the split's first ``limit`` faces (0: all); a quick look, not a result.
        progress: show progress bars on stderr.
        command: the command line to record in the report.

    Raises:
        FerkitError: a missing or unreadable model, dataset, FER+ file or photo set; an empty split.
    """
    from ferkit.data import load_dataset
    from ferkit.data.duplicates import copies_in
    from ferkit.data.ferplus import majority_labels
    from ferkit.evaluation.gradcam import grad_cam
    from ferkit.evaluation.history import training_history
    from ferkit.evaluation.samples import class_examples
    from ferkit.inference.backends import resolve_model

    started = time.perf_counter()
    if split not in ("train", "val", "test"):
        raise EvaluationError(f"unknown split {split!r}; expected train, val or test")
    if limit < 0:
        raise EvaluationError(f"limit must be >= 0, got {limit}")
    for given, what in ((data, "dataset"), (ferplus, "FER+ file"), (photos, "photo set")):
        if given and not Path(given).exists():  # fail before minutes of work, not after
            raise EvaluationError(f"{given}: no such {what} (file or folder)")
    model_path = resolve_model(model)
    if model_path.suffix.lower() == ".onnx":
        raise EvaluationError(f"{model_path}: evaluate needs the ferkit checkpoint (.pt), not an ONNX export")
    ckpt = load_checkpoint(model_path)
    net = ckpt.build_model()
    dataset = load_dataset(data)
    rows = _select(dataset, split, limit)
    faces, labels = dataset.faces[rows], dataset.labels[rows]
    ferplus_labels = majority_labels(dataset.subset(rows), ferplus) if ferplus else None
    # Without training faces (a pack of the test split alone) there is nothing to compare with.
    has_train = bool((dataset.split == "train").any())
    dedup = None if split == "train" or not has_train else ~copies_in(dataset, "train")[rows]
    temperature, source = _temperature(ckpt, net, dataset, split, limit, progress)

    with _bar(2 * len(faces), f"{split} faces (+ mirrored)", progress) as bar:
        logits = _logits(net, faces, ckpt.normalization, bar)
        mirrored = _logits(net, np.ascontiguousarray(faces[:, :, ::-1]), ckpt.normalization, bar)
    metrics = classification_metrics(logits, torch.as_tensor(labels), temperature)
    probs = (logits / temperature).softmax(1).numpy()
    examples = class_examples(labels, probs, CAM_PER_CLASS)
    chosen = np.concatenate(examples).astype(int)
    with _bar(len(chosen), "Grad-CAM", progress) as bar:
        cams = grad_cam(net, faces[chosen], ckpt.normalization, classes=probs[chosen].argmax(1))
        bar.update(len(chosen))
    history, history_source = training_history(ckpt)
    wild = _wild(model_path, photos, progress) if photos else None
    return Evaluation(
        model_path=model_path, checksum=file_sha256(model_path), checkpoint=ckpt,
        parameters=sum(p.numel() for p in net.parameters()),
        data={"path": display_path(data), "name": dataset.name,
              "ferplus": display_path(ferplus) if ferplus else None},
        split=split, limit=limit, faces=faces, labels=labels, logits=logits, logits_tta=(logits + mirrored) / 2,
        metrics=metrics, temperature_source=source, dedup=dedup, ferplus_labels=ferplus_labels,
        history=history, history_source=history_source, examples=examples, cams=cams, wild=wild,
        int8=_int8_figures(model_path, faces, labels, probs), command=command, seconds=time.perf_counter() - started,
    )


def _int8_figures(model_path: Path, faces: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> dict | None:
    """Accuracy and calibration of the shipped int8 model on the same faces, when it was made from this
    checkpoint (its recorded source digest matches) and ONNX Runtime is installed; else None."""
    from importlib.util import find_spec

    from ferkit.assets import DEFAULT_INT8_MODEL
    from ferkit.data.cache import file_digest
    from ferkit.inference.backends import OnnxBackend

    if not DEFAULT_INT8_MODEL.is_file() or find_spec("onnxruntime") is None:
        return None
    backend = OnnxBackend(DEFAULT_INT8_MODEL)
    if backend.info.source_digest != file_digest(model_path):
        return None
    int8 = np.concatenate([backend(faces[i:i + 256]) for i in range(0, len(faces), 256)])
    # The file gives calibrated probabilities; their logs are logits whose softmax gives them back.
    m = classification_metrics(torch.from_numpy(int8).clamp_min(1e-12).log(), torch.as_tensor(labels))
    return {"file": DEFAULT_INT8_MODEL.name, "accuracy": rounded(m.accuracy), "ece": rounded(m.ece),
            "loss": rounded(m.loss), "same_top1": rounded(float((int8.argmax(1) == probs.argmax(1)).mean()))}


def _wild(model_path: Path, photos: str | Path, progress: bool) -> WildEvaluation:
    from ferkit.data.image_tree import ImageTree
    from ferkit.evaluation.photos import evaluate_photos
    from ferkit.inference.recognizer import Recognizer

    with ImageTree(photos) as tree:
        total = len(tree.images())
    recognizer = Recognizer(model_path, backend="torch")
    with _bar(total, "photos", progress, unit="photo") as bar:
        return evaluate_photos(recognizer, photos, keep_images=WILD_SHOWN, on_photo=bar.update)


def write_report(evaluation: Evaluation, out: str | Path, progress: bool = False) -> Path:
    """Write ``metrics.json``, ``figures/*.png``, ``report.md`` and ``report.html`` into ``out``.

    Args:
        evaluation: the result of ``evaluate``.
        out: the report folder (created; files of an earlier report there are replaced).
        progress: show a progress bar over the figures.

    Returns:
        The folder.
    """
    from ferkit.evaluation.pages import figure_jobs, render_html, render_markdown, report_sections

    out = Path(out)
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    jobs = figure_jobs(evaluation)
    figures = {}
    with _bar(len(jobs), "figures", progress, unit="figure") as bar:
        for name, draw in jobs.items():
            stale = out / FIGURES / f"{name}.png"
            stale.unlink(missing_ok=True)
            if draw(stale) is not None:
                figures[name] = f"{FIGURES}/{name}.png"
            bar.update(1)
    metrics = {**evaluation.to_dict(), "figures": figures}
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    sections = report_sections(evaluation, metrics)
    title = f"Evaluation of {metrics['model']['file']} on {metrics['data']['name'] or 'a dataset'}, {evaluation.split}"
    (out / "report.md").write_text(render_markdown(title, sections))
    (out / "report.html").write_text(render_html(title, sections, out))
    return out


def default_report_dir(model: str | Path | None, split: str) -> Path:
    """``reports/<model file stem>-<split>``; the shipped model's is ``reports/default_model-test``."""
    from ferkit.inference.backends import default_model_file

    return Path("reports") / f"{Path(model or default_model_file()).stem}-{split}"


def load_metrics(report: str | Path) -> dict:
    """The ``metrics.json`` of a report folder (or the file itself).

    Raises:
        EvaluationError: no such report, or a file that is not a ferkit ``metrics.json``.
    """
    path = Path(report)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise EvaluationError(f"{report}: no {METRICS_FILE} here; run 'ferkit evaluate --out {report}' first")
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvaluationError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(metrics, dict) or "accuracy" not in metrics or "model" not in metrics:
        raise EvaluationError(f"{path}: not a ferkit evaluation report (no 'accuracy' and 'model')")
    return metrics
