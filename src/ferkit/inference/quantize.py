"""An int8 ONNX model: the exported graph with its weights and activations quantized.

``quantize_onnx`` exports a checkpoint (``onnx_export.export_onnx``) and quantizes it
with ONNX Runtime's static quantizer: QDQ format, int8 weights per output channel,
uint8 activations whose ranges are measured (min/max) on real faces, every conv, the
dense layers, the residual adds and the SiLU (sigmoid and multiply) quantized, so the
whole network runs in integer kernels. ``reduce_range`` keeps weights to 7 bits: on x86
CPUs without VNNI (AVX2 only, like the 2-core machines ferkit is measured on) the
u8 x s8 multiply-add saturates at full range, which cost 2.3 points of PrivateTest
accuracy here; with 7 bits the loss is 0.22 points (``bench/int8_variants.py``).

The file keeps the export's self-description and adds ``precision=int8``, what it was
calibrated on, and the digest of the checkpoint it came from (``source_digest``); the
checkpoint's test figures move to ``metrics["test_fp32"]``, since they are not this model's.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferkit.inference.backends import BackendError, resolve_model

if TYPE_CHECKING:
    from ferkit.data.dataset import FaceDataset

QUANTIZED_OPS = ("Conv", "Gemm", "Add", "Mul", "Sigmoid", "GlobalAveragePool")
CALIBRATION_FACES = 1024
CALIBRATION_BATCH = 128


@dataclass(frozen=True)
class QuantCheck:
    """How the int8 model compares with the checkpoint on PyTorch, on labelled faces.

    Attributes:
        faces: how many faces were compared.
        same_top1: share of faces given the same most likely class by both.
        max_abs_diff: the largest difference of any probability.
        accuracy_fp32: accuracy of the checkpoint on PyTorch.
        accuracy_int8: accuracy of the int8 model.
    """

    faces: int
    same_top1: float
    max_abs_diff: float
    accuracy_fp32: float
    accuracy_int8: float


def calibration_split(data: str | Path, split: str = "val") -> FaceDataset:
    """The split of a dataset to calibrate on (and to check the int8 model on).

    Args:
        data: anything ``ferkit.data.load_dataset`` reads.
        split: ``val`` (FER2013 PublicTest, where the temperature was fitted too) or ``train``;
            the test split is refused, so the figures measured on it stay unbiased.

    Raises:
        BackendError: the test split was asked for, or the split is empty.
    """
    from ferkit.data import load_dataset

    if split == "test":
        raise BackendError("calibrate on the val or train split, not test: test must stay unseen")
    part = load_dataset(data).by_split(split)
    if len(part.labels) == 0:
        raise BackendError(f"{data}: no {split} faces to calibrate on")
    return part


def calibration_faces(part: FaceDataset, count: int = CALIBRATION_FACES) -> np.ndarray:
    """``count`` faces spread evenly over a split (all of them when it has fewer)."""
    rows = np.unique(np.linspace(0, len(part.labels) - 1, min(count, len(part.labels))).round().astype(int))
    return part.faces[rows]


def quantize_graph(fp32: str | Path, out: str | Path, faces: np.ndarray, *, ops: tuple[str, ...] = QUANTIZED_OPS,
                   signed_activations: bool = False, signed_weights: bool = True, reduce_range: bool = True) -> Path:
    """Quantize an exported fp32 graph (``export_onnx``'s) as it stands, metadata untouched.

    ``quantize_onnx`` uses the defaults; ``bench/int8_variants.py`` changes them one at a time.

    Args:
        fp32: the exported graph.
        out: the int8 graph to write.
        faces: (N, 48, 48) uint8 faces whose activations set the ranges.
        ops: ONNX op types to quantize.
        signed_activations: int8 instead of uint8 activations.
        signed_weights: int8 instead of uint8 weights.
        reduce_range: weights on 7 bits (see the module's note on AVX2).

    Raises:
        BackendError: onnxruntime is missing, or no faces were given.
    """
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise BackendError("quantizing needs onnx and onnxruntime: pip install 'ferkit[onnx]'") from None
    from ferkit.inference.onnx_export import INPUT

    faces = np.ascontiguousarray(faces, dtype=np.uint8)
    if faces.ndim != 3 or len(faces) == 0:
        raise BackendError(f"calibration faces must be a non-empty (N, H, W) array, got shape {faces.shape}")

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(range(0, len(faces), CALIBRATION_BATCH))

        def get_next(self) -> dict | None:
            start = next(self._batches, None)
            return None if start is None else {INPUT: faces[start:start + CALIBRATION_BATCH]}

    with tempfile.TemporaryDirectory(prefix="ferkit-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        quantize_static(str(prepared), str(out), Batches(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(ops), per_channel=True, reduce_range=reduce_range,
                        activation_type=QuantType.QInt8 if signed_activations else QuantType.QUInt8,
                        weight_type=QuantType.QInt8 if signed_weights else QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return Path(out)


def quantize_onnx(model: str | Path | None, out: str | Path, faces: np.ndarray) -> Path:
    """Write the int8 version of a checkpoint.

    Args:
        model: a ferkit checkpoint, or None for the shipped one.
        out: the ``.onnx`` file to write.
        faces: (N, 48, 48) uint8 faces whose activations set the quantization ranges
            (``calibration_faces``), a few hundred or more.

    Raises:
        BackendError: onnx or onnxruntime is missing, or the checkpoint is unusable.
    """
    from ferkit.data.cache import file_digest
    from ferkit.inference.onnx_export import _write_atomically, export_onnx

    try:
        import onnx
    except ImportError:
        raise BackendError("quantizing needs onnx and onnxruntime: pip install 'ferkit[onnx]'") from None
    path = resolve_model(model)
    with tempfile.TemporaryDirectory(prefix="ferkit-int8-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_onnx(path, fp32)
        proto = onnx.load(str(quantize_graph(fp32, int8, faces)))
    meta = {p.key: p.value for p in proto.metadata_props if not p.key.startswith("onnx.")}
    metrics = json.loads(meta.get("metrics", "{}"))
    if "test" in metrics:  # the checkpoint's test figures are not this model's: keep them under another name
        metrics["test_fp32"] = metrics.pop("test")
    meta["metrics"] = json.dumps(metrics)
    meta.update({"precision": "int8", "calibration": f"{len(faces)} faces, min/max ranges",
                 "source_digest": file_digest(path)})
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "ferkit"
    out = Path(out)
    _write_atomically(out, proto.SerializeToString())
    return out


def check_quantized(model: str | Path | None, int8_file: str | Path, faces: np.ndarray,
                    labels: np.ndarray) -> QuantCheck:
    """Run the checkpoint on PyTorch and the int8 file on ONNX Runtime over labelled faces and compare."""
    from ferkit.inference.backends import OnnxBackend, TorchBackend

    torch_backend, int8_backend = TorchBackend(resolve_model(model)), OnnxBackend(int8_file)
    step = 256
    fp32 = np.concatenate([torch_backend(faces[i:i + step]) for i in range(0, len(faces), step)])
    int8 = np.concatenate([int8_backend(faces[i:i + step]) for i in range(0, len(faces), step)])
    return QuantCheck(
        faces=len(faces),
        same_top1=float((fp32.argmax(1) == int8.argmax(1)).mean()),
        max_abs_diff=float(np.abs(fp32 - int8).max()),
        accuracy_fp32=float((fp32.argmax(1) == labels).mean()),
        accuracy_int8=float((int8.argmax(1) == labels).mean()),
    )
