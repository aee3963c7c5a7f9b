"""Where the classifier runs: PyTorch or ONNX Runtime, one interface, the same probabilities.

A backend maps (N, H, W) uint8 grey faces to (N, num_classes) float32
probabilities with the checkpoint's normalisation and temperature applied.
Both run the graph of ``ferkit.inference.graph``; ONNX Runtime runs it exported
(``ferkit.inference.onnx_export``) and never imports torch when the export is
already in the cache, which keeps a cold ``ferkit predict`` short.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ferkit.errors import FerkitError

BACKENDS = ("torch", "onnx")


class BackendError(FerkitError, ValueError):
    """An unknown backend, a missing optional package, or a model file the backend cannot use."""


@dataclass(frozen=True)
class ModelInfo:
    """What the classifier is, as its file describes it.

    Attributes:
        path: the checkpoint (``.pt``) or exported (``.onnx``) file.
        arch: registry name of the architecture.
        input_size: (height, width) of the grey faces it takes.
        temperature: the calibration temperature folded into the probabilities; None for an ensemble,
            whose members each fold in their own.
        labels: class names in output order.
        precision: ``fp32``, or ``int8`` for a quantized export (``ferkit.inference.quantize``).
        source_digest: for an int8 export, ``file_digest`` of the checkpoint it was made from.
    """

    path: str
    arch: str
    input_size: tuple[int, int]
    temperature: float | None
    labels: tuple[str, ...]
    precision: str = "fp32"
    source_digest: str | None = None


class Backend(Protocol):
    name: str
    info: ModelInfo

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 -> (N, num_classes) float32 probabilities."""
        ...


def default_model_file() -> Path:
    """``ferkit.training.checkpoint.default_model_path()`` without importing torch (2-3 s of a cold start)."""
    from ferkit.assets import DEFAULT_MODEL

    return DEFAULT_MODEL


def resolve_model(model: str | Path | None) -> Path:
    """The model file to use: the one named, else the model shipped with ferkit.

    Raises:
        BackendError: the file is missing or is a folder.
    """
    if model is not None and len(ensemble_members(model)) > 1:
        raise BackendError(f"{model}: name one model file here; several (comma-separated) make an ensemble "
                           "only for ferkit predict and serve")
    path = Path(model) if model is not None else default_model_file()
    if path.is_dir():
        raise BackendError(f"{path}: is a folder, expected a ferkit .pt model or an exported .onnx file")
    if not path.is_file():
        if model is None:
            raise BackendError(f"no default model installed at {path}; name one with --model PATH")
        raise BackendError(f"{path}: no such model file")
    return path


class TorchBackend:
    """The checkpoint run by PyTorch.

    Args:
        model: a ferkit checkpoint (``.pt``).
        threads: torch intra-op threads (process-wide); None leaves torch's default.
    """

    name = "torch"

    def __init__(self, model: str | Path, threads: int | None = None) -> None:
        import torch

        from ferkit.inference.graph import FaceProbabilities
        from ferkit.training.checkpoint import load_checkpoint

        ckpt = load_checkpoint(model)
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._graph = FaceProbabilities(ckpt).eval()
        self.info = ModelInfo(str(model), ckpt.arch, tuple(ckpt.input_size), ckpt.temperature, tuple(ckpt.labels))

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._graph(self._torch.from_numpy(np.ascontiguousarray(faces))).numpy()


class OnnxBackend:
    """An exported model run by ONNX Runtime on the CPU.

    Args:
        model: a ``.onnx`` file written by ``ferkit export``.
        threads: ONNX Runtime intra-op threads; None lets it use every core.
    """

    name = "onnx"

    def __init__(self, model: str | Path, threads: int | None = None) -> None:
        from ferkit.inference.onnx_export import read_info

        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("the onnx backend needs onnxruntime: pip install 'ferkit[onnx]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        # Workers spin between the model's many small operators (int8 at batch 256: +8% faces/s, batch 1: +24%),
        # and stop as each call returns, so as not to take the cores the face detector needs next
        # (bench/onnx_spinning.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3  # errors only: the CLI prints one line per problem
        try:
            self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors for unreadable graphs
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise BackendError(f"{model}: not a readable ONNX model ({first})") from None
        self.info = read_info(self._session, model)
        self._input = self._session.get_inputs()[0].name

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(faces, dtype=np.uint8)})[0]


class EnsembleBackend:
    """Several models as one classifier: the mean of their calibrated probabilities.

    Each member applies its own temperature first, as ``bench/score_runs.py`` scores ensembles.

    Args:
        members: opened backends of models with the same classes and input size.

    Raises:
        BackendError: the members disagree on their classes or input size.
    """

    def __init__(self, members: list[Backend]) -> None:
        first = members[0].info
        for member in members[1:]:
            for what, mine, theirs in (("classes", member.info.labels, first.labels),
                                       ("input size", member.info.input_size, first.input_size)):
                if mine != theirs:
                    raise BackendError(f"{member.info.path}: {what} {list(mine)} differ from {first.path}'s "
                                       f"{list(theirs)}; an ensemble needs the same")
        self.members = members
        self.name = "+".join(dict.fromkeys(m.name for m in members))
        precisions = dict.fromkeys(m.info.precision for m in members)
        self.info = ModelInfo(",".join(m.info.path for m in members),
                              "ensemble of " + ", ".join(m.info.arch for m in members), first.input_size, None,
                              first.labels, "+".join(precisions))

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        return (sum(member(faces) for member in self.members) / len(self.members)).astype(np.float32)


def ensemble_members(model: str | Path | None) -> list[str]:
    """The model files that ``model`` names: several for ``a.pt,b.pt`` (an ensemble), else one or none.

    A name that is itself a file is one model, commas or not.
    """
    if model is None:
        return []
    if not isinstance(model, str) or "," not in model or Path(model).is_file():
        return [str(model)]
    parts = [part.strip() for part in model.split(",")]
    if not all(parts):
        raise BackendError(f"{model!r}: an ensemble is model files separated by commas, with no empty name")
    return parts


def _open_int8(path: Path, backend: str | None, threads: int | None) -> OnnxBackend:
    from ferkit.assets import DEFAULT_INT8_MODEL

    if backend == "torch":
        raise BackendError("int8 models run on the onnx backend only")
    if path.suffix.lower() != ".onnx":
        if path.resolve() != default_model_file().resolve():
            raise BackendError(f"{path}: no int8 version; make one with ferkit export --int8 --calibration DATA "
                               f"--model {path}, then pass the .onnx file it writes")
        if not DEFAULT_INT8_MODEL.is_file():
            raise BackendError(f"no int8 default model installed at {DEFAULT_INT8_MODEL}")
        path = DEFAULT_INT8_MODEL
    runner = OnnxBackend(path, threads)
    if runner.info.precision != "int8":
        raise BackendError(f"{path}: not an int8 model ({runner.info.precision}); make one with ferkit export --int8")
    if path == DEFAULT_INT8_MODEL:
        from ferkit.data.cache import file_digest

        if runner.info.source_digest != file_digest(default_model_file()):
            raise BackendError(f"{path}: made from another checkpoint than the shipped {default_model_file().name}; "
                               "remake it with ferkit export --int8 (docs/TRAINING.md)")
    return runner


def onnx_available() -> bool:
    """True when ONNX Runtime and the onnx package (for the export) are installed; imports neither."""
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("onnx") is not None


def open_backend(model: str | Path | None = None, backend: str | None = None, threads: int | None = None,
                 int8: bool = False) -> Backend:
    """The classifier for a model file.

    Args:
        model: a ferkit checkpoint (``.pt``), an exported ``.onnx`` file, or None for the shipped model;
            several, separated by commas, make an ensemble (``EnsembleBackend``).
        backend: ``torch``, ``onnx``, or None to choose: an ``.onnx`` file runs on ONNX Runtime;
            a checkpoint runs on ONNX Runtime when it is installed (it starts without importing
            torch and is faster per face), else on PyTorch. With ``onnx`` and a checkpoint, the
            export is made once and cached, keyed by the checkpoint's bytes (``onnx_export.cached_onnx``).
        threads: intra-op threads of the backend; None keeps its default.
        int8: run the int8 version of the model on ONNX Runtime: for the shipped model the
            int8 file shipped beside it; otherwise ``model`` must be an int8 export
            (``ferkit export --int8``).

    Raises:
        BackendError: unknown backend, missing file, an ``.onnx`` model asked to run on torch,
            or int8 asked of a model that has no int8 version.
    """
    if backend is not None and backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    members = ensemble_members(model)
    if len(members) > 1:
        if int8:
            raise BackendError("int8 runs one model's int8 version; an ensemble runs its members as they are")
        return EnsembleBackend([open_backend(member, backend, threads) for member in members])
    path = resolve_model(model)
    if int8:
        return _open_int8(path, backend, threads)
    if path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise BackendError(f"{path}: an exported ONNX model runs only with the onnx backend")
        return OnnxBackend(path, threads)
    if backend is None:
        backend = "onnx" if onnx_available() else "torch"
    if backend == "onnx":
        from ferkit.inference.onnx_export import cached_onnx

        return OnnxBackend(cached_onnx(path), threads)
    return TorchBackend(path, threads)
