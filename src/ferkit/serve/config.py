"""The server's settings and their defaults, in one place; importing this loads no web framework."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ServeConfig:
    """How ``ferkit serve`` / ``create_app`` run.

    Attributes:
        model: a ferkit checkpoint (``.pt``) or exported ``.onnx`` file; None: the model shipped with ferkit.
        backend: ``torch``, ``onnx`` or None (as ``Recognizer`` chooses).
        int8: run the model's int8 version (``Recognizer(int8=True)``).
        detector: the default face detector; a request may name another. None: the recognizer's default.
        min_face: smallest face to look for, in pixels of the image (every detector); None: each detector's default.
        tta: classify the mirrored face too, unless a request says otherwise.
        host: address to listen on; loopback by default so nothing is exposed by accident.
        port: TCP port.
        workers: server processes, each with its own copy of the model.
        max_batch: most requests whose faces are classified in one call; 1 turns micro-batching off.
        max_wait_ms: how long a request waits for others to fill its batch.
        max_upload_bytes: larger uploads are refused with 413 before they are read whole.
        max_pixels: larger images (by their header) are refused with 413 before decoding; None: ``read_image``'s.
        prep_threads: threads that decode uploads and find faces; None: one per core.
        threads: classifier threads; None: the backend's default.
    """

    model: str | None = None
    backend: str | None = None
    int8: bool = False
    detector: str | None = None
    min_face: int | None = None
    tta: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int | None = None
    prep_threads: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("workers", "max_batch", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_face is not None:
            from ferkit.inference.detectors import check_min_face

            check_min_face(self.min_face)
        if not 0 <= self.max_wait_ms <= 10_000:  # False for NaN
            raise ValueError(f"max_wait_ms must be from 0 to 10000, got {self.max_wait_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {self.port}")

    def to_dict(self) -> dict:
        return asdict(self)
