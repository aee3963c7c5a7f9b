"""Export a checkpoint to one self-describing ONNX file, and check it against PyTorch.

The exported graph is ``ferkit.inference.graph.FaceProbabilities``: input
``faces`` (batch, 48, 48) uint8, output ``probabilities`` (batch, 7) float32,
so the scaling, the normalisation and the temperature are inside the file and an
ONNX Runtime user needs no ferkit code to get the same numbers. The batch size
is dynamic; the weights are stored inside the one file (no external ``.data``).
The checkpoint's self-description travels in the model's metadata.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.inference.backends import BackendError, ModelInfo, resolve_model

FORMAT = "ferkit-onnx"
# Part of the cache key: bump when the exported graph changes for the same checkpoint.
EXPORT_VERSION = 1
OPSET = 17
INPUT, OUTPUT = "faces", "probabilities"


@dataclass(frozen=True)
class ExportCheck:
    """How closely the exported file reproduces PyTorch.

    Attributes:
        faces: how many faces were compared.
        max_abs_diff: the largest difference of any probability.
        same_top1: every face got the same most likely class from both.
    """

    faces: int
    max_abs_diff: float
    same_top1: bool


def export_onnx(model: str | Path | None = None, out: str | Path | None = None, opset: int = OPSET) -> Path:
    """Write a checkpoint as an ONNX file.

    Args:
        model: a ferkit checkpoint, or None for the model shipped with ferkit.
        out: the ``.onnx`` file to write; default: the checkpoint's name with ``.onnx`` in the current folder.
        opset: ONNX opset of the graph.

    Returns:
        The path written.

    Raises:
        BackendError: the onnx package is missing, or the checkpoint is unusable (a CheckpointError).
    """
    import torch

    from ferkit.inference.graph import FaceProbabilities
    from ferkit.training.checkpoint import load_checkpoint

    try:
        import onnx
    except ImportError:
        raise BackendError("exporting needs the onnx package: pip install 'ferkit[onnx]'") from None
    path = resolve_model(model)
    if path.suffix.lower() == ".onnx":
        raise BackendError(f"{path}: already an ONNX model; export takes a ferkit checkpoint (.pt)")
    out = Path(out) if out is not None else Path(path.stem + ".onnx")
    ckpt = load_checkpoint(path)
    graph = FaceProbabilities(ckpt).eval()
    example = torch.zeros((2, *ckpt.input_size), dtype=torch.uint8)
    buffer = io.BytesIO()  # in memory, so the weights cannot end up in an external .data file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            graph, (example,), buffer, dynamo=False, opset_version=opset, do_constant_folding=True,
            input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    meta = {
        "format": FORMAT,
        "export_version": str(EXPORT_VERSION),
        "arch": ckpt.arch,
        "labels": json.dumps(list(ckpt.labels)),
        "input_size": json.dumps(list(ckpt.input_size)),
        "normalization": json.dumps(ckpt.normalization),
        "temperature": repr(ckpt.temperature),
        "metrics": json.dumps(ckpt.metrics, default=str),
        "ferkit_version": ckpt.ferkit_version,
    }
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "ferkit"
    _write_atomically(out, proto.SerializeToString())
    return out


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers (a parallel ``ferkit predict`` using the cache) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_info(session, path: str | Path) -> ModelInfo:
    """The self-description stored in an exported file's metadata.

    Args:
        session: an ``onnxruntime.InferenceSession`` of the file.
        path: the file, for messages.

    Raises:
        BackendError: the file was not written by ``ferkit export``.
    """
    from ferkit.labels import EMOTIONS

    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("format") != FORMAT:
        raise BackendError(f"{path}: not a ferkit ONNX export (no '{FORMAT}' metadata); make one with ferkit export")
    try:
        info = ModelInfo(
            path=str(path),
            arch=meta["arch"],
            input_size=tuple(json.loads(meta["input_size"])),
            temperature=float(meta["temperature"]),
            labels=tuple(json.loads(meta["labels"])),
            precision=meta.get("precision", "fp32"),
            source_digest=meta.get("source_digest"),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise BackendError(f"{path}: ferkit ONNX metadata is missing or has a bad field ({e})") from None
    if info.labels != EMOTIONS:
        raise BackendError(f"{path}: model predicts classes {list(info.labels)}, ferkit expects {list(EMOTIONS)}")
    return info


def cached_onnx(model: str | Path) -> Path:
    """The ONNX export of a checkpoint, made on first use and kept in ferkit's cache.

    The key is the checkpoint's bytes (and ``EXPORT_VERSION``), so retraining into the
    same path gives a fresh export, and a cache hit needs neither torch nor onnx.
    The cache is ``$FERKIT_CACHE/onnx`` (see ``ferkit.data.cache.cache_dir``); when it
    cannot be written the export goes to a temporary folder for this process.

    Args:
        model: a ferkit checkpoint.
    """
    from ferkit.data.cache import cache_dir, file_digest

    path = Path(model)
    name = f"{path.stem}-{file_digest(path)}-v{EXPORT_VERSION}.onnx"
    target = cache_dir() / "onnx" / name
    if target.is_file():
        return target
    try:
        return export_onnx(path, target)
    except OSError:
        return export_onnx(path, Path(tempfile.mkdtemp(prefix="ferkit-onnx-")) / name)


def sample_faces() -> np.ndarray:
    """(N, 48, 48) uint8 real faces to compare backends on: the bundled portrait's face
    cropped at several margins and offsets, and mirrored."""
    from ferkit.inference.crop import crop_faces, to_grey
    from ferkit.inference.detectors import FaceBox, create_detector
    from ferkit.inference.media import read_image, sample_image_path

    image = read_image(sample_image_path())
    box = create_detector().detect(image)[0]
    boxes = [FaceBox(box.x + dx, box.y + dy, box.w, box.h) for dx in (-8, 0, 8) for dy in (-8, 0, 8)]
    faces = np.concatenate([crop_faces(to_grey(image), boxes, margin=m) for m in (0.0, 0.1, 0.25)])
    return np.concatenate([faces, faces[:, :, ::-1]])


def check_export(model: str | Path | None, onnx_file: str | Path, faces: np.ndarray | None = None) -> ExportCheck:
    """Run the checkpoint on PyTorch and its export on ONNX Runtime and compare the probabilities.

    Args:
        model: the checkpoint exported (None: the shipped model).
        onnx_file: its export.
        faces: (N, 48, 48) uint8 faces; default ``sample_faces()``. They are run as
            one batch and one at a time, which also checks the dynamic batch axis.
    """
    from ferkit.inference.backends import OnnxBackend, TorchBackend

    faces = sample_faces() if faces is None else faces
    torch_probs = TorchBackend(resolve_model(model))(faces)
    onnx_backend = OnnxBackend(onnx_file)
    batched = onnx_backend(faces)
    single = np.concatenate([onnx_backend(faces[i:i + 1]) for i in range(len(faces))])
    diff = max(float(np.abs(batched - torch_probs).max()), float(np.abs(single - torch_probs).max()))
    top1 = torch_probs.argmax(1)
    same = bool((batched.argmax(1) == top1).all() and (single.argmax(1) == top1).all())
    return ExportCheck(faces=len(faces), max_abs_diff=diff, same_top1=same)
