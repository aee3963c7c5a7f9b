"""Inference speed and face-finding on the shared photos; prints JSON.

    python bench/inference.py [--model PATH] [--photos ZIP] [--margins 0,0.1,0.2] [--timing-photos N] [--only SECTIONS] [--out FILE]

Measures, on this machine's CPU cores:
  - classification faces/s at batch 1 and 256, per backend (torch and ONNX Runtime
    both set to use every core);
  - per detector: share of the shared photos with a face found, and detection ms;
  - detect+classify ms per photo (median over the photos) and per 640x480 frame;
  - video frames/s at 640x480 through ``ferkit predict``'s pipeline (decode, detect,
    classify, track), on a video made from the photos with cv2.VideoWriter;
  - the cold start of ``ferkit predict <sample>`` in a new process, per backend;
  - the crop margin that reproduces FER2013's framing, per detector (no model needed);
  - how small a face yuface finds in a 640x480 frame, per ``min_face``, and its ms on a 12 MP photo;
  - with ``--margins``: top-1 agreement with the photos' weak labels per crop margin, with the
    crop upright and rotated so the eyes are level (``--align``)
    (meaningful only with a trained model).
Without ``--model`` it uses the shipped model, or a random-weight resnet_swish_s
(the same speed as a trained one) when none is installed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO.parent / "shared" / "data" / "photos" / "facial_expressions_sample.zip"
FER_IMAGES = REPO.parent / "shared" / "data" / "fer2013" / "fer2013_images.zip"
FRAME = (480, 640)  # (height, width) of the frames measured
FULL_SIZE = {"yuface": {"min_face": 1}, "haar": {"max_side": 0}}  # each detector on the image as it is
FACE_WIDTHS = (24, 32, 40, 48, 64, 80, 100, 128)  # face sizes pasted into a frame, in pixels


def load_photos(path: Path) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    """Names, BGR images and weak labels (by file name) of the shared photos."""
    names, images = [], []
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                names.append(Path(name).name)
                images.append(cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_COLOR))
        legend = next(n for n in z.namelist() if n.endswith("legend.csv"))
        rows = csv.DictReader(io.TextIOWrapper(z.open(legend), encoding="utf-8"))
        labels = {r["image"]: r["emotion"] for r in rows}
    return names, images, labels


def on_frame(image: np.ndarray) -> np.ndarray:
    """The photo centred on a 640x480 grey frame, scaled to the frame's height (a webcam-like shot)."""
    h, w = FRAME
    scale = h / image.shape[0]
    small = cv2.resize(image, (min(w, round(image.shape[1] * scale)), h))
    frame = np.full((h, w, 3), 100, np.uint8)
    x = (w - small.shape[1]) // 2
    frame[:, x:x + small.shape[1]] = small
    return frame


def rate(fn, items: int, min_seconds: float = 2.0) -> float:
    """Items per second of ``fn()`` (which handles ``items`` items), after a warm-up."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        n += items
    return n / (time.perf_counter() - start)


def median_ms(fn, inputs) -> float:
    fn(inputs[0])
    times = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 2)


def bench_classify(model: Path, cores: int, faces: np.ndarray, int8: Path | None = None) -> dict:
    """Faces/s of each backend; ``onnx_int8`` too when the model has an int8 version (or one is named)."""
    from ferkit.inference.backends import BackendError, open_backend

    runners = {name: lambda name=name: open_backend(model, name, threads=cores) for name in ("torch", "onnx")}
    runners["onnx_int8"] = lambda: open_backend(int8 or model, "onnx", threads=cores, int8=True)
    out = {}
    for name, opener in runners.items():
        try:
            backend = opener()
        except BackendError as e:
            out[name] = {"skipped": str(e)}
            continue
        out[name] = {f"batch_{b}_faces_per_s": round(rate(lambda b=b, run=backend: run(faces[:b]), b))
                     for b in (1, 256)}
    return out


def bench_detectors(images: list[np.ndarray]) -> dict:
    from ferkit.inference.detectors import create_detector, list_detectors

    out = {}
    for name in list_detectors():
        detector = create_detector(name)
        found, times = 0, []
        for image in images:
            t = time.perf_counter()
            found += bool(detector.detect(image))
            times.append(time.perf_counter() - t)
        out[name] = {"photos_with_face": found, "photos": len(images), "rate": round(found / len(images), 4),
                     "median_ms": round(1000 * statistics.median(times), 2)}
    return out


def bench_pipeline(model: Path, cores: int, images: list[np.ndarray], frames: list[np.ndarray]) -> dict:
    from ferkit.inference.recognizer import Recognizer

    out = {}
    for backend in ("torch", "onnx"):
        rec = Recognizer(model, backend=backend, threads=cores)
        out[backend] = {"photo_median_ms": median_ms(rec.predict, images),
                        "frame_640x480_median_ms": median_ms(rec.predict, frames)}
    return out


def bench_video(model: Path, cores: int, frames: list[np.ndarray], tmp: Path) -> dict:
    from ferkit.inference.recognizer import Recognizer
    from ferkit.inference.run import PredictRun

    path = tmp / "photos.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (FRAME[1], FRAME[0]))
    for frame in frames:
        for _ in range(2):  # each photo held for 2 frames, so tracks last a little
            writer.write(frame)
    writer.release()
    out = {}
    for backend in ("torch", "onnx"):
        run = PredictRun(Recognizer(model, backend=backend, threads=cores), smooth=0.5)
        inputs = run.expand([str(path)])
        t = time.perf_counter()
        n = sum(1 for _ in run.run(inputs))
        out[backend] = {"frames": n, "frames_per_s": round(n / (time.perf_counter() - t), 1)}
    return out


def bench_cold_start(model: Path, cache: Path) -> dict:
    from ferkit.inference.media import sample_image_path

    out = {}
    env = {**os.environ, "FERKIT_CACHE": str(cache)}
    for backend in ("torch", "onnx"):
        cmd = [sys.executable, "-m", "ferkit", "predict", str(sample_image_path()), "--model", str(model),
               "--backend", backend]
        subprocess.run(cmd, capture_output=True, env=env, check=True)  # fills the ONNX cache, warms the disk
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env=env, check=True)
            times.append(time.perf_counter() - t)
        out[backend] = {"median_s": round(statistics.median(times), 2)}
    return out


def bench_agreement(model: Path, images: list[np.ndarray]) -> dict:
    """torch vs ONNX Runtime probabilities on every face the default detector finds in the photos."""
    from ferkit.inference.backends import open_backend
    from ferkit.inference.recognizer import Recognizer

    rec = Recognizer(model)
    faces = np.concatenate([rec.crop(im, rec.detect(im)) for im in images])
    p_torch, p_onnx = open_backend(model, "torch")(faces), open_backend(model, "onnx")(faces)
    return {"faces": len(faces), "max_abs_diff": float(np.abs(p_torch - p_onnx).max()),
            "same_top1": bool((p_torch.argmax(1) == p_onnx.argmax(1)).all())}


def bench_framing(fer_images: Path, count: int = 600) -> dict:
    """The crop margin that reproduces FER2013's framing, per detector, with no model involved.

    Each FER2013 test face is enlarged 4x and padded with its own edge pixels, so the
    detector sees a whole face with surroundings; the margin that turns the detector's
    box into the original 48x48 square is ``(image side / box side - 1) / 2``.
    """
    from ferkit.inference.detectors import create_detector

    with zipfile.ZipFile(fer_images) as z:
        names = sorted(n for n in z.namelist() if "PrivateTest" in n and n.endswith(".jpg"))
        chosen = np.random.default_rng(0).choice(len(names), count, replace=False)
        faces = [cv2.imdecode(np.frombuffer(z.read(names[i]), np.uint8), cv2.IMREAD_GRAYSCALE) for i in chosen]
    scale, pad = 4, 96
    out = {}
    for name in ("yuface", "haar"):
        detector = create_detector(name, **FULL_SIZE[name])
        margins, shift_y = [], []
        for face in faces:
            big = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            boxes = detector.detect(cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
            if boxes:
                b, side = boxes[0], big.shape[0]
                margins.append((side / max(b.w, b.h) - 1) / 2)
                shift_y.append((b.y + b.h / 2 - pad - side / 2) / side)
        out[name] = {"faces": len(faces), "found": len(margins),
                     "margin_median": round(float(np.median(margins)), 3),
                     "margin_iqr": [round(float(q), 3) for q in np.percentile(margins, [25, 75])],
                     "box_centre_minus_crop_centre_y": round(float(np.median(shift_y)), 3)}
    return out


def bench_margins(model: Path, names: list[str], images: list[np.ndarray], labels: dict[str, str],
                  margins: list[float]) -> dict:
    """Agreement with the weak labels per crop margin, upright and aligned (eyes level), on the top face."""
    from ferkit.inference.crop import eye_angle
    from ferkit.inference.recognizer import Recognizer
    from ferkit.labels import UnknownLabelError, label_index

    rec = Recognizer(model)
    boxes = [rec.detect(im)[:1] for im in images]
    tilts = [abs(eye_angle(b[0])) for b in boxes if b and eye_angle(b[0]) is not None]
    out: dict = {"eye_tilt_deg_percentiles_50_75_90": [round(float(q), 1) for q in np.percentile(tilts, [50, 75, 90])]
                 if tilts else None}
    for margin in margins:
        upright = None
        for align in (False, True):
            rec.margin, rec.align = margin, align
            hits = total = 0
            top = []
            for name, image, found in zip(names, images, boxes, strict=True):
                try:
                    truth = label_index(labels.get(name, ""))
                except UnknownLabelError:
                    continue
                if found:
                    total += 1
                    top.append(int(rec.classify(rec.crop(image, found))[0].argmax()))
                    hits += int(top[-1] == truth)
            row = {"agree": hits, "faces": total, "rate": round(hits / max(total, 1), 4)}
            if align:
                row["top1_changed_vs_upright"] = sum(a != b for a, b in zip(top, upright, strict=True))
            upright = top
            out[f"{margin}{' aligned' if align else ''}"] = row
    return out


def bench_face_size_recall(images: list[np.ndarray], large: int = 10) -> dict:
    """How small a face the default detector finds, and what a smaller ``min_face`` costs.

    Each photo whose face the detector finds at full size is scaled so that face is ``w`` pixels
    wide and pasted into a 640x480 grey frame, for each ``w`` in ``FACE_WIDTHS``; the share of
    frames where a face is found, and the median detection ms over all frames, per setting. Then
    the median ms on ``large`` photos scaled to 12 megapixels (4032x3024), where the default
    searches a 1024-px copy.
    """
    import cv2

    from ferkit.inference.detectors import create_detector

    reference = create_detector("yuface", **FULL_SIZE["yuface"])
    settings = {"default (min_face 100)": {}, "min_face 64": {"min_face": 64}, "min_face 48": {"min_face": 48}}
    detectors = {name: create_detector("yuface", **options) for name, options in settings.items()}
    found = {name: {w: 0 for w in FACE_WIDTHS} for name in settings}
    times: dict[str, list[float]] = {name: [] for name in settings}
    faces = 0
    for image in images:
        boxes = reference.detect(image)
        if not boxes:
            continue
        faces += 1
        for width in FACE_WIDTHS:
            b, k = boxes[0], width / boxes[0].w  # scale the photo by k about its face, face at the frame's centre
            shift = np.float32([[k, 0, FRAME[1] / 2 - k * (b.x + b.w / 2)], [0, k, FRAME[0] / 2 - k * (b.y + b.h / 2)]])
            source = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) if k < 1 else image
            if k < 1:  # already scaled by INTER_AREA: only the shift is left
                shift[:, :2] = np.eye(2, dtype=np.float32)
            frame = cv2.warpAffine(source, shift, (FRAME[1], FRAME[0]), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(100, 100, 100))
            for name, detector in detectors.items():
                t = time.perf_counter()
                found[name][width] += bool(detector.detect(frame))
                times[name].append(time.perf_counter() - t)
    out = {"photos": faces, "frame": f"{FRAME[1]}x{FRAME[0]}"}
    for name in settings:
        out[name] = {"found_by_face_width_px": {str(w): round(n / max(faces, 1), 3) for w, n in found[name].items()},
                     "median_ms_per_frame": round(1000 * statistics.median(times[name]), 2)}
    big = [cv2.resize(image, (4032, 3024), interpolation=cv2.INTER_LINEAR) for image in images[:large]]
    default = detectors["default (min_face 100)"]
    out["12_megapixel_photo_default_median_ms"] = median_ms(default.detect, big)
    return out


def bench_landmark_roll(image: np.ndarray) -> dict:
    """How well yuface's eye landmarks measure a known tilt: the sample rotated by 0-30 degrees."""
    import cv2

    from ferkit.inference.crop import eye_angle
    from ferkit.inference.detectors import create_detector

    h, w = image.shape[:2]
    out = {}
    for setting, options in (("default", {}), ("full size", FULL_SIZE["yuface"])):
        detector = create_detector("yuface", **options)
        read = {}
        for angle in (0, 5, 10, 15, 20, 30):
            turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h),
                                    borderMode=cv2.BORDER_REPLICATE)
            found = detector.detect(turned)
            read[str(angle)] = round(-eye_angle(found[0]), 1) if found else None
        out[setting] = read
    return {"true_tilt_deg -> measured": out}


def _sample_image() -> np.ndarray:
    import cv2

    from ferkit.assets import SAMPLES

    return cv2.imread(str(SAMPLES / "grace_hopper.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: the shipped one, else random resnet_swish_s)")
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--fer-images", type=Path, default=FER_IMAGES,
                        help="FER2013 images zip, for the framing measurement (skipped when missing)")
    parser.add_argument("--margins", default="", help="comma-separated crop margins to compare on the weak labels")
    parser.add_argument("--timing-photos", type=int, default=0,
                        help="time detect+classify and video on the first N photos only (0: all 270)")
    parser.add_argument("--int8", type=Path, metavar="ONNX",
                        help="int8 model to time beside --model (default: the shipped one's, for the shipped model)")
    parser.add_argument("--out", type=Path, help="also write the JSON here (updated after every section)")
    parser.add_argument("--only", default="", metavar="SECTIONS",
                        help="comma-separated section names to run (default: all), e.g. margin_vs_weak_labels")
    args = parser.parse_args()

    from ferkit.inference.backends import default_model_file

    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ferkit-bench-"))
    os.environ["FERKIT_CACHE"] = str(tmp / "cache")
    model, model_note = args.model, str(args.model)
    if model is None and default_model_file().is_file():
        model, model_note = default_model_file(), "shipped default model"
    if model is None:
        from ferkit.models import create_model
        from ferkit.training.checkpoint import Checkpoint

        model = Checkpoint.from_model("resnet_swish_s", create_model("resnet_swish_s")).save(tmp / "random_s.pt")
        model_note = "random-weight resnet_swish_s (no model installed; speed equals a trained one)"

    from ferkit.training.checkpoint import load_checkpoint

    names, images, labels = load_photos(args.photos)
    frames = [on_frame(im) for im in images]
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (256, 48, 48), dtype=np.uint8)

    timed = slice(0, args.timing_photos or None)  # a subset keeps the run short on busy cores
    result = {
        "machine": {"cpu_cores": cores, "processor": platform.processor() or platform.machine(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "note": "torch threads and ONNX Runtime intra-op threads = cpu_cores; yuface runs 1 OpenMP thread"},
        "model": {"path": model_note, "arch": load_checkpoint(model).arch},
        "timed_photos": len(images[timed]),
    }
    sections = {
        "detection": lambda: bench_detectors(images),
        "onnx_vs_torch_on_photos": lambda: bench_agreement(model, images),
        "classification": lambda: bench_classify(model, cores, faces, args.int8),
        "detect_and_classify": lambda: bench_pipeline(model, cores, images[timed], frames[timed]),
        "video_640x480": lambda: bench_video(model, cores, frames[timed], tmp),
        "cold_start_predict_sample": lambda: bench_cold_start(model, tmp / "cache"),
    }
    if args.fer_images.is_file():
        sections["crop_margin_matching_fer2013"] = lambda: bench_framing(args.fer_images)
    sections["landmark_roll"] = lambda: bench_landmark_roll(_sample_image())
    sections["face_size_recall"] = lambda: bench_face_size_recall(images[timed])
    if args.margins:
        margins = [float(m) for m in args.margins.split(",")]
        sections["margin_vs_weak_labels"] = lambda: bench_margins(model, names, images, labels, margins)
    if args.only:
        unknown = set(args.only.split(",")) - set(sections)
        if unknown:
            parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(sections)}")
        sections = {k: v for k, v in sections.items() if k in args.only.split(",")}
    for name, measure in sections.items():
        start = time.perf_counter()
        result[name] = measure()
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if args.out:  # what is measured survives a run stopped half-way
            args.out.write_text(json.dumps(result, indent=2) + "\n")
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")

if __name__ == "__main__":
    main()
