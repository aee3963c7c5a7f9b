"""What a prediction request does, without HTTP: decode, find faces, classify in a micro-batch.

Decoding and detection run on a small thread pool (one thread per core: more would
only contend, and each holds a decoded image in memory), classification on the
batcher's thread; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.inference.backends import resolve_model
from ferkit.inference.detectors import DEFAULT_DETECTOR, FaceBox, FaceDetector, check_detector, create_detector
from ferkit.inference.media import MAX_PIXELS, ImageTooLarge, MediaError, NotAnImage, read_image
from ferkit.inference.recognizer import Recognizer
from ferkit.inference.results import COLOURS, Face, ImageResult
from ferkit.serve.batching import MicroBatcher
from ferkit.serve.config import ServeConfig
from ferkit.serve.uploads import Upload, UploadError

log = logging.getLogger("ferkit.serve")

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def media_status(error: MediaError) -> int:
    """The HTTP status for an image that cannot be used: 413 too large, 415 not an image, else 422."""
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, NotAnImage):
        return 415
    return 422


@dataclass
class _Prepared:
    height: int
    width: int
    boxes: list[FaceBox]
    crops: np.ndarray  # (N, 48, 48) uint8
    decode_ms: float
    detect_ms: float


class PredictService:
    """The model, loaded once, and everything a request needs to use it.

    Args:
        config: model, detector, batching and limits; see ``ServeConfig``.

    Raises:
        FerkitError: the model file is missing or not a ferkit model, or the detector is unknown.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.detector = config.detector or DEFAULT_DETECTOR
        self.max_pixels = config.max_pixels or MAX_PIXELS
        self.recognizer = Recognizer(config.model, backend=config.backend, detector=self.detector,
                                     threads=config.threads, int8=config.int8, min_face=config.min_face)
        mirrored = copy.copy(self.recognizer)  # shares the loaded backend; only the TTA flag differs
        mirrored.tta = True
        self.batcher = MicroBatcher({False: self.recognizer.classify, True: mirrored.classify},
                                    config.max_batch, config.max_wait_ms)
        self.card = model_card(config.model, self.recognizer)
        self.recognizer.classify(np.zeros((1, *self.recognizer.info.input_size), np.uint8))  # warm the backend
        self._prep = ThreadPoolExecutor(config.prep_threads or os.cpu_count() or 1, thread_name_prefix="ferkit-prep")
        self._local = threading.local()  # detectors per thread: OpenCV's cascade is not thread-safe

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self._prep.shutdown(wait=True)

    def health(self) -> dict:
        return {"status": "ok", "model": self.card["name"],
                "batching": {"max_batch": self.config.max_batch, "max_wait_ms": self.config.max_wait_ms,
                             **self.batcher.stats.to_dict()}}

    async def predict(self, upload: Upload, detector: str | None = None, tta: bool | None = None) -> dict:
        """Faces and expressions in an uploaded image, as ``Prediction`` JSON.

        Args:
            upload: the image bytes and name.
            detector: a detector name; None: the form field ``detector``, else the server's default.
            tta: average with the mirrored face; None: the form field ``tta``, else the server's default.

        Raises:
            FerkitError: a bad option or an image that cannot be used (``MediaError``).
        """
        start = time.perf_counter()
        detector = detector or upload.fields.get("detector") or self.detector
        check_detector(detector)
        tta = _flag(upload.fields.get("tta"), self.config.tta) if tta is None else tta
        loop = asyncio.get_running_loop()
        prep = await loop.run_in_executor(self._prep, self._prepare, upload, detector)
        before = time.perf_counter()
        probs = await self.batcher.classify(prep.crops, tta) if prep.boxes else []
        classify_ms = (time.perf_counter() - before) * 1000
        result = ImageResult(upload.name, [Face(b, p) for b, p in zip(prep.boxes, probs, strict=True)])
        total_ms = (time.perf_counter() - start) * 1000
        return {**result.to_dict(), "image": {"width": prep.width, "height": prep.height},
                "model": self.card["name"], "detector": detector, "tta": tta,
                "timing": {"decode_ms": round(prep.decode_ms, 2), "detect_ms": round(prep.detect_ms, 2),
                           "classify_ms": round(classify_ms, 2), "total_ms": round(total_ms, 2)}}

    def _prepare(self, upload: Upload, detector: str) -> _Prepared:
        t0 = time.perf_counter()
        image = self._decode(upload)
        t1 = time.perf_counter()
        boxes = self._detector(detector).detect(image)
        crops = self.recognizer.crop(image, boxes)
        t2 = time.perf_counter()
        return _Prepared(image.shape[0], image.shape[1], boxes, crops, (t1 - t0) * 1000, (t2 - t1) * 1000)

    def _decode(self, upload: Upload) -> np.ndarray:
        # read_image takes a file: it owns every bad-input check (pixel limit before decoding, ...).
        with tempfile.TemporaryDirectory(prefix="ferkit-upload-") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(upload.data)
            try:
                return read_image(path, self.max_pixels)
            except MediaError as e:  # the same kind of error, naming the upload instead of the temporary file
                raise type(e)(str(e).replace(str(path), upload.name)) from None

    def _detector(self, name: str) -> FaceDetector:
        found = getattr(self._local, "detectors", None)
        if found is None:
            found = self._local.detectors = {}
        if name not in found:
            found[name] = create_detector(name, min_face=self.config.min_face)
        return found[name]


def _flag(text: str | None, default: bool) -> bool:
    if text is None:
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise UploadError(f"tta must be true or false, got {text!r}", 422)


def model_card(model: str | Path | None, recognizer: Recognizer) -> dict:
    """The facts ``GET /v1/model`` shows: name, classes, temperature, test accuracy when recorded."""
    info = recognizer.info
    members = getattr(recognizer.backend, "members", None)
    if members:  # an ensemble: its members' test figures are not the ensemble's
        metrics, name = {}, "+".join(Path(m.info.path).stem for m in members)
    else:
        metrics = _metrics(info.path)
        name = Path(info.path).stem if info.precision == "int8" else resolve_model(model).stem
    test = metrics.get("test") if isinstance(metrics, dict) else None
    accuracy = test.get("accuracy") if isinstance(test, dict) else None
    return {"name": name, "arch": info.arch, "classes": list(info.labels),
            "input_size": list(info.input_size), "temperature": info.temperature,
            "test_accuracy": float(accuracy) if isinstance(accuracy, (int, float)) else None,
            "backend": recognizer.backend.name, "precision": info.precision,
            "colours": {name: "#{2:02x}{1:02x}{0:02x}".format(*bgr) for name, bgr in COLOURS.items()}}


def _metrics(path: str) -> dict:
    """The training metrics stored with the model: in an ONNX export's metadata, or in the checkpoint."""
    if path.lower().endswith(".onnx"):
        import onnxruntime as ort

        meta = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
        try:
            return json.loads(meta.get("metrics", "{}"))
        except ValueError:
            return {}
    from ferkit.training.checkpoint import load_checkpoint

    return load_checkpoint(path).metrics
