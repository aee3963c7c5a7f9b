"""ferkit: facial expression recognition toolkit."""

__version__ = "0.1.0"

# Public names -> the module defining them, imported on first use (PEP 562) so
# that ``import ferkit`` stays cheap and does nothing.
_LAZY = {
    "Recognizer": "ferkit.inference.recognizer",
    "predict": "ferkit.inference.recognizer",
    "FaceBox": "ferkit.inference.detectors",
    "detect_faces": "ferkit.inference.detectors",
    "create_detector": "ferkit.inference.detectors",
    "list_detectors": "ferkit.inference.detectors",
    "Face": "ferkit.inference.results",
    "ImageResult": "ferkit.inference.results",
    "read_image": "ferkit.inference.media",
    "sample_image_path": "ferkit.inference.media",
    "export_onnx": "ferkit.inference.onnx_export",
    "evaluate": "ferkit.evaluation.report",
    "write_report": "ferkit.evaluation.report",
    "explain": "ferkit.evaluation.explain",
    "compare_reports": "ferkit.evaluation.compare",
    "load_dataset": "ferkit.data",
    "load_checkpoint": "ferkit.training.checkpoint",
    "load_config": "ferkit.config",
    "train": "ferkit.training.run",
    "create_model": "ferkit.models",
    "EMOTIONS": "ferkit.labels",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
