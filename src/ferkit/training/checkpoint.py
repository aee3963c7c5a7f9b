"""The ferkit checkpoint: weights plus everything needed to use them.

A checkpoint is plain data (tensors, numbers, strings, lists, dicts) and loads
with ``torch.load(path, weights_only=True)``: opening one never runs code.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ferkit import __version__
from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS
from ferkit.models import ResNetSwish, ResNetSwishConfig, create_model

FORMAT = "ferkit-checkpoint"
FORMAT_VERSION = 1
# Faces are scaled to [0, 1] then normalised with these; stored in every checkpoint.
DEFAULT_NORMALIZATION = {"mean": 0.5, "std": 0.25}


class CheckpointError(FerkitError, ValueError):
    """A file that is not a usable ferkit checkpoint; the message is one line."""


@dataclass
class Checkpoint:
    """A model with its self-description.

    Attributes:
        arch: registry name of the architecture family member.
        config: the exact architecture (may differ from the registry defaults).
        state_dict: weights, including the ``temperature`` buffer.
        labels: class names in output order.
        input_size: (height, width) of the grey face the model takes.
        normalization: ``mean`` and ``std`` applied after scaling pixels to [0, 1].
        metrics: training/validation figures recorded when it was saved.
        run_dir: the training run folder it came from, if any.
        ferkit_version: the version that wrote it.
    """

    arch: str
    config: ResNetSwishConfig
    state_dict: dict[str, torch.Tensor]
    labels: tuple[str, ...] = EMOTIONS
    input_size: tuple[int, int] = (48, 48)
    normalization: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    metrics: dict = field(default_factory=dict)
    run_dir: str = ""
    ferkit_version: str = __version__

    @property
    def temperature(self) -> float:
        return float(self.state_dict["temperature"])

    def build_model(self) -> ResNetSwish:
        """The model in eval mode with these weights."""
        model = create_model(self.arch, self.config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:  # "Error(s) in loading state_dict ...:" and then one line per problem
            lines = [line.strip() for line in str(e).strip().splitlines()]
            detail = next((line for line in lines[1:] if line), lines[0])
            raise CheckpointError(f"checkpoint weights do not fit architecture {self.arch!r}: {detail}") from None
        return model.eval()

    @classmethod
    def from_model(cls, arch: str, model: ResNetSwish, **kwargs) -> Checkpoint:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return cls(arch=arch, config=model.config, state_dict=state, **kwargs)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ferkit_version": self.ferkit_version,
            "arch": self.arch,
            "config": self.config.to_dict(),
            "labels": list(self.labels),
            "input_size": list(self.input_size),
            "normalization": dict(self.normalization),
            "metrics": self.metrics,
            "run_dir": self.run_dir,
            "state_dict": self.state_dict,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.to_dict(), tmp)
        tmp.replace(path)
        return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a ferkit checkpoint without executing anything in it.

    Raises:
        CheckpointError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a ferkit .pt model file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice on legacy pickles is not for our users
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        with open(path, "rb") as f:
            start = f.read(4)
        if not (start.startswith(b"PK\x03\x04") or start.startswith(b"\x80")):  # torch.save: a zip, or a pickle
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (expected a .pt model file written by "
                                  "ferkit train)") from None
        raise CheckpointError(f"{path}: refused to load: it holds Python objects, not plain checkpoint data "
                              "(loading it could run code)") from None
    except Exception as e:  # noqa: BLE001 - any file at all may be passed here; its failure is one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        reason = reason if len(reason) <= 120 else type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ferkit checkpoint (no '{FORMAT}' header)")
    if raw.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer ferkit ({raw.get('ferkit_version')}); upgrade ferkit")
    try:
        config = ResNetSwishConfig.from_dict(raw["config"])
        ckpt = Checkpoint(
            arch=raw["arch"],
            config=config,
            state_dict=raw["state_dict"],
            labels=tuple(raw["labels"]),
            input_size=tuple(raw["input_size"]),
            normalization=dict(raw["normalization"]),
            metrics=raw.get("metrics", {}),
            run_dir=raw.get("run_dir", ""),
            ferkit_version=raw.get("ferkit_version", "?"),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: ferkit checkpoint is missing or has a bad field ({e})") from None
    if ckpt.labels != EMOTIONS:
        raise CheckpointError(f"{path}: model predicts classes {list(ckpt.labels)}, ferkit expects {list(EMOTIONS)}")
    try:
        expected = {k: tuple(v.shape) for k, v in create_model(ckpt.arch, ckpt.config).state_dict().items()}
    except ValueError as e:  # an architecture this ferkit does not have
        raise CheckpointError(f"{path}: {e}") from None
    found = {k: tuple(v.shape) for k, v in ckpt.state_dict.items() if isinstance(v, torch.Tensor)}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or [k for k in expected if found[k] != expected[k]]
        name = wrong[0]
        if name in found and name in expected:
            detail = f"{name} is {found[name]}, the architecture has {expected[name]}"
        else:
            detail = f"{name} is {'missing' if name in expected else 'not in the architecture'}"
        raise CheckpointError(f"{path}: its weights do not fit its {ckpt.arch} architecture ({detail})")
    broken = [k for k, v in ckpt.state_dict.items()
              if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise CheckpointError(f"{path}: {len(broken)} weight tensor(s) hold nan or inf (e.g. {broken[0]}): "
                              "the run that wrote it diverged")
    return ckpt


def default_model_path() -> Path:
    """The model shipped inside the package."""
    from ferkit.assets import DEFAULT_MODEL

    return DEFAULT_MODEL
