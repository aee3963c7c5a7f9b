"""Which int8 recipe for the shipped model: PrivateTest accuracy and faces/s of quantization variants. JSON.

    python bench/int8_variants.py [--data ../shared/data/fer2013/fer2013.csv.gz] [--rounds 4]

Each variant is ONNX Runtime static quantization (QDQ, per-channel weights, min/max ranges over
the same 1,024 PublicTest faces as ``ferkit export --int8``) with one setting changed. ``shipped``
is the recipe of ``ferkit.inference.quantize``. Faces/s: batch 256, ONNX Runtime threads = cores,
the variants timed in turn for ``--rounds`` rounds of 2 s each (min, median, max), so a slow spell
of shared cores hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


VARIANTS = {  # quantize_graph's settings; the first is its defaults, each other changes one
    "shipped: all ops, u8 activations, s8 weights on 7 bits": {},
    "full-range s8 weights": {"reduce_range": False},
    "u8 weights": {"signed_weights": False, "reduce_range": False},
    "convs only (SiLU, adds in float)": {"ops": ("Conv",)},
    "s8 activations": {"signed_activations": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import onnxruntime as ort

    from ferkit.data import load_dataset
    from ferkit.inference.onnx_export import export_onnx
    from ferkit.inference.quantize import calibration_faces, calibration_split, quantize_graph

    cores = os.cpu_count() or 1
    test = load_dataset(args.data).by_split("test")
    calib = calibration_faces(calibration_split(args.data, "val"))
    tmp = Path(tempfile.mkdtemp(prefix="ferkit-int8-"))
    fp32 = export_onnx(None, tmp / "fp32.onnx")
    files = {"fp32 (the default onnx backend)": fp32}
    for i, (name, settings) in enumerate(VARIANTS.items()):
        files[name] = quantize_graph(fp32, tmp / f"v{i}.onnx", calib, **settings)

    options = ort.SessionOptions()
    options.intra_op_num_threads = cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")  # as ferkit's OnnxBackend
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3
    sessions = {n: ort.InferenceSession(str(f), options, providers=["CPUExecutionProvider"]) for n, f in files.items()}
    result = {"cpu_cores": cores, "load_average_before": [round(x, 2) for x in os.getloadavg()], "variants": {}}
    for name, s in sessions.items():
        probs = np.concatenate([s.run(None, {"faces": test.faces[i:i + 256]})[0] for i in range(0, len(test), 256)])
        result["variants"][name] = {"privatetest_accuracy": round(float((probs.argmax(1) == test.labels).mean()), 5),
                                    "faces_per_s": []}
    batch = test.faces[:256]
    for _ in range(args.rounds):
        for name, s in sessions.items():
            s.run(None, {"faces": batch})
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < 2.0:
                s.run(None, {"faces": batch})
                n += len(batch)
            result["variants"][name]["faces_per_s"].append(round(n / (time.perf_counter() - start)))
    for row in result["variants"].values():
        rates = row.pop("faces_per_s")
        row["faces_per_s_min_median_max"] = [min(rates), round(statistics.median(rates)), max(rates)]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
