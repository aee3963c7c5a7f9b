"""ONNX Runtime's thread spinning, measured: faces/s and detect + classify ms per setting. JSON.

    python bench/onnx_spinning.py [--rounds 5] [--data ../shared/data/fer2013/fer2013.csv.gz]

ONNX Runtime's worker threads spin while they wait for work (``session.intra_op.allow_spinning``).
Spinning speeds up the many small operators of a 48x48 CNN, but workers left spinning after a call
take the cores that the face detector needs next. ``session.force_spinning_stop`` stops them as each
call returns. Each setting gets its own session of the shipped model (fp32 ONNX and its int8 file),
with threads = cores, timed in turn for ``--rounds`` rounds (min, median, max): batch 256 and batch 1
for 2 s and 1 s, then 60 rounds of the default detector on a 640x480 frame followed by one face's
classification, which is ``ferkit predict``'s loop on a video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

SETTINGS = {  # session config entries
    "no spinning (ferkit before 2026-11-27)": {"session.intra_op.allow_spinning": "0"},
    "spinning (ONNX Runtime's default)": {"session.intra_op.allow_spinning": "1"},
    "spinning, stopped when a call returns (ferkit now)": {"session.intra_op.allow_spinning": "1",
                                                           "session.force_spinning_stop": "1"},
}


def rate(run, seconds: float) -> float:
    """Calls of ``run`` per second, over ``seconds``."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        n += 1
    return n / (time.perf_counter() - start)


def spread(values: list[float]) -> list[float]:
    return [round(min(values), 1), round(statistics.median(values), 1), round(max(values), 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import cv2
    import onnxruntime as ort

    import ferkit
    from ferkit.assets import DEFAULT_INT8_MODEL
    from ferkit.data import load_dataset
    from ferkit.inference.backends import resolve_model
    from ferkit.inference.detectors import DEFAULT_DETECTOR, create_detector
    from ferkit.inference.onnx_export import cached_onnx

    cores = os.cpu_count() or 1
    faces = np.ascontiguousarray(load_dataset(args.data).by_split("test").faces[:256], dtype=np.uint8)
    frame = cv2.resize(cv2.imread(str(ferkit.sample_image_path())), (640, 480))
    detector = create_detector(DEFAULT_DETECTOR)
    models = {"fp32": cached_onnx(resolve_model(None)), "int8": DEFAULT_INT8_MODEL}

    sessions = {}
    for model, path in models.items():
        for setting, entries in SETTINGS.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = cores
            options.log_severity_level = 3
            for key, value in entries.items():
                options.add_session_config_entry(key, value)
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            run = (lambda b, s=session, n=name: s.run(None, {n: faces[:b]}))
            run(256)
            sessions[model, setting] = run
    times = {key: {"batch_256_faces_per_s": [], "batch_1_faces_per_s": [], "detect_classify_ms": []}
             for key in sessions}
    for _ in range(args.rounds):
        for key, run in sessions.items():
            times[key]["batch_256_faces_per_s"].append(256 * rate(lambda: run(256), 2.0))
            times[key]["batch_1_faces_per_s"].append(rate(lambda: run(1), 1.0))
            loop = []
            for _ in range(60):
                start = time.perf_counter()
                detector.detect(frame)
                run(1)
                loop.append(1000 * (time.perf_counter() - start))
            times[key]["detect_classify_ms"].append(statistics.median(loop))
    results = {model: {setting: {metric: spread(v) for metric, v in times[model, setting].items()}
                       for setting in SETTINGS} for model in models}
    print(json.dumps({"bench": "onnx_spinning", "cpu": platform.machine(), "cores": cores, "rounds": args.rounds,
                      "figures": "min, median, max over the rounds", "results": results}, indent=2))


if __name__ == "__main__":
    main()
