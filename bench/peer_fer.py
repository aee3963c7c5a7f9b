"""ferkit beside the `fer` package, same data, same run, same cores; prints JSON.

`fer` needs TensorFlow, which cannot share ferkit's environment, so it runs in its own venv
(made once, outside the repo):

    python3 -m venv ../fer-venv && ../fer-venv/bin/pip install --no-deps fer \\
        && ../fer-venv/bin/pip install tensorflow-cpu "opencv-contrib-python<5" "setuptools<81" pandas pillow requests
    python bench/peer_fer.py --fer-python ../fer-venv/bin/python

Measured for both: accuracy and faces/s of the emotion model on the FER2013 PrivateTest crops
(fer: its default TFLite model, which takes 64x64 faces: the crops are resized as its own
pipeline does); on the shared photos: share of photos with a face found by the default detector,
accuracy of the largest face against the weak labels on those photos, the same on the photos where
both found a face, and median ms per photo. ferkit runs twice: its default (fp32 ONNX) and, where
the model has one, its int8 version (``--int8``). Faces/s is the best of three passes for each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ferkit.assets import DEFAULT_INT8_MODEL

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"

# Runs inside fer's environment: reads crops.npz and the photo folder, prints JSON.
FER_SCRIPT = r"""
import json, sys, time, statistics, glob, os
import numpy as np, cv2
from fer.fer import FER
data = np.load(sys.argv[1])
photos = sys.argv[2]
det = FER()  # defaults: OpenCV Haar detector, quantized TFLite emotion model
faces = data["faces"]
x = np.stack([cv2.resize(f, (64, 64)) for f in faces]).astype("float32")
x = (x / 255.0 - 0.5) * 2.0  # fer's own preprocessing
det._classify_emotions(x[:8])  # warm-up
seconds = []
for _ in range(3):  # best of three passes, as for ferkit: the cores here are shared
    start = time.perf_counter()
    probs = np.asarray(det._classify_emotions(x))
    seconds.append(time.perf_counter() - start)
seconds = min(seconds)
out = {"crops": {"pred": probs.argmax(1).tolist(), "faces_per_s": len(x) / seconds}}
labels = {}
for path in sorted(glob.glob(os.path.join(photos, "*"))):
    img = cv2.imread(path)
    if img is None:
        continue
    start = time.perf_counter()
    found = det.detect_emotions(img)
    ms = (time.perf_counter() - start) * 1000
    top = None
    if found:
        face = max(found, key=lambda f: f["box"][2] * f["box"][3])
        top = max(face["emotions"], key=face["emotions"].get)
    labels[os.path.basename(path)] = {"ms": ms, "label": top}
out["photos"] = labels
print(json.dumps(out))
"""


def photo_folder(zip_path: Path, out: Path) -> dict[str, int | None]:
    """Extract the photos to ``out``; returns file name -> weak label index (None: no usable label)."""
    from ferkit.data.image_tree import ImageTree
    from ferkit.evaluation.photos import read_legend
    from ferkit.labels import UnknownLabelError, label_index

    weak: dict[str, int | None] = {}
    with ImageTree(zip_path) as tree:
        legend = read_legend(tree) or {}
        for rel in tree.images():
            name = Path(rel).name
            (out / name).write_bytes(tree.read(rel))
            try:
                weak[name] = label_index(legend[name]) if name in legend else None
            except UnknownLabelError:
                weak[name] = None
    return weak


def photo_figures(per_photo: dict[str, dict], weak: dict[str, int | None], common: set[str]) -> dict:
    """Detection rate, agreement with the weak labels (on the photos with a face, and on ``common``:
    those where every side found one), and median time per photo."""
    from ferkit.labels import INDEX

    found = {n: r for n, r in per_photo.items() if r["label"] is not None}
    scored = [n for n in found if weak.get(n) is not None]
    right = sum(INDEX[found[n]["label"]] == weak[n] for n in scored)
    both = [n for n in scored if n in common]
    right_both = sum(INDEX[found[n]["label"]] == weak[n] for n in both)
    return {
        "photos": len(per_photo),
        "with_face": len(found),
        "face_rate": round(len(found) / len(per_photo), 4),
        "weak_accuracy_on_found": round(right / len(scored), 4) if scored else None,
        "scored": len(scored),
        "weak_accuracy_where_all_found": round(right_both / len(both), 4) if both else None,
        "scored_where_all_found": len(both),
        "median_ms_per_photo": round(statistics.median(r["ms"] for r in per_photo.values()), 2),
    }


def ferkit_side(faces: np.ndarray, folder: Path, int8: bool = False) -> dict:
    import cv2

    import ferkit

    rec = ferkit.Recognizer(threads=os.cpu_count(), int8=int8)
    rec.classify(faces[:8])  # warm-up, as for fer
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        probs = rec.classify(faces)
        seconds.append(time.perf_counter() - start)
    seconds = min(seconds)
    per_photo = {}
    for path in sorted(folder.iterdir()):
        image = cv2.imread(str(path))
        if image is None:
            continue
        start = time.perf_counter()
        result = rec.predict(image)
        ms = (time.perf_counter() - start) * 1000
        top = max(result.faces, key=lambda f: f.box.w * f.box.h).label if result.faces else None
        per_photo[path.name] = {"ms": ms, "label": top}
    return {"crops": {"pred": probs.argmax(1).tolist(), "faces_per_s": len(faces) / seconds},
            "photos": per_photo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-python", required=True, help="python of the venv where `fer` is installed")
    parser.add_argument("--data", default=str(SHARED / "fer2013" / "fer2013.csv.gz"))
    parser.add_argument("--photos", default=str(SHARED / "photos" / "facial_expressions_sample.zip"))
    args = parser.parse_args()

    from ferkit.data import load_dataset

    test = load_dataset(args.data).by_split("test")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "crops.npz", faces=test.faces)
        folder = tmp / "photos"
        folder.mkdir()
        weak = photo_folder(Path(args.photos), folder)
        sides = {"ferkit": ferkit_side(test.faces, folder)}
        if DEFAULT_INT8_MODEL.is_file():
            sides["ferkit_int8"] = ferkit_side(test.faces, folder, int8=True)
        run = subprocess.run([args.fer_python, "-c", FER_SCRIPT, str(tmp / "crops.npz"), str(folder)],
                             capture_output=True, text=True, check=True)
        sides["fer"] = json.loads(run.stdout.strip().splitlines()[-1])

    result = {"cpu_cores": os.cpu_count(), "test_faces": len(test), "photos_source": os.path.relpath(args.photos, REPO)}
    common = set.intersection(*({n for n, r in side["photos"].items() if r["label"] is not None}
                                for side in sides.values()))
    for name, side in sides.items():
        pred = np.asarray(side["crops"]["pred"])
        result[name] = {
            "privatetest_accuracy": round(float((pred == test.labels).mean()), 4),
            "faces_per_s": round(side["crops"]["faces_per_s"], 1),
            **photo_figures(side["photos"], weak, common),
        }
    for name in sides.keys() - {"fer"}:
        result[f"speed_ratio_{name}_vs_fer"] = round(result[name]["faces_per_s"] / result["fer"]["faces_per_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
