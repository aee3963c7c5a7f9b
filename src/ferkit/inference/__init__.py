"""Inference: face detectors, the recognizer, typed results, video, ONNX export.

Modules: ``detectors`` (``detect(image) -> list[FaceBox]`` by name), ``crop``
(box -> 48x48 grey face), ``backends`` (PyTorch / ONNX Runtime), ``graph`` (the
one uint8-faces-to-probabilities module both backends run), ``recognizer``,
``results``, ``media`` (reading inputs), ``video`` (tracking, smoothing),
``run`` (a run over many inputs), ``writers`` (CSV/JSON/lines), ``onnx_export``.
The public names are re-exported lazily by ``ferkit``.
"""
