"""Fixtures for the evaluation tests: a tiny checkpoint with a training history, a small
FER2013-format CSV with its FER+ file, and a folder of photos with weak labels.

All are generated here; the one real photo is the bundled public-domain sample.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ferkit.labels import NUM_CLASSES

# The user's cache, read before any test redirects it.
_USER_CACHE = os.environ.get("FERKIT_CACHE")

# Faces per split of the synthetic dataset; the first 4 test faces copy training faces (a leak).
N_TRAIN, N_VAL, N_TEST, N_LEAKED = 70, 35, 42, 4


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Dataset and ONNX caches live in the test session's tmp folder, not in ~/.cache."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _fake_history(epochs: int = 4) -> list[dict[str, float]]:
    """Per-epoch figures as training records them: train improving faster than val."""
    out = []
    for e in range(epochs):
        row = {"epoch": e}
        for split, gain in (("train", 0.08), ("val", 0.05)):
            row[f"{split}/acc"] = 0.3 + gain * e
            row[f"{split}/loss"] = 1.8 - 2 * gain * e
            row[f"{split}/precision"] = 0.25 + gain * e
            row[f"{split}/recall"] = 0.22 + gain * e
            row[f"{split}/auroc"] = 0.6 + gain * e / 2
        out.append(row)
    return out


def tiny_model(seed: int = 0):
    """A resnet_swish_xs with random weights whose outputs depend on the face (BN fitted to noise faces)."""
    import torch

    from ferkit.data.preprocess import to_input
    from ferkit.models import create_model
    from ferkit.training.checkpoint import DEFAULT_NORMALIZATION

    torch.manual_seed(seed)
    model = create_model("resnet_swish_xs")
    faces = np.random.default_rng(seed).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)  # a fresh model zeroes some: its outputs barely move
                m.momentum = None  # running statistics = the average over the batch below
        model.train()(to_input(faces, DEFAULT_NORMALIZATION))
        model.head[-1].weight.mul_(4)
    return model.eval()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny checkpoint with temperature 1.5 and a 4-epoch history inside it."""
    from ferkit.training.checkpoint import Checkpoint

    model = tiny_model()
    model.temperature.fill_(1.5)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return Checkpoint.from_model("resnet_swish_xs", model, metrics={"history": _fake_history()}).save(path)


@pytest.fixture(scope="session")
def uncalibrated_checkpoint(tmp_path_factory) -> Path:
    """T = 1, no history inside, but a run folder whose logs/metrics.csv holds 3 epochs (Lightning's layout)."""
    from ferkit.training.checkpoint import Checkpoint

    run = tmp_path_factory.mktemp("run")
    (run / "logs").mkdir()
    keys = ["train/acc", "train/loss", "val/acc", "val/loss"]
    lines = ["epoch,step," + ",".join(keys)]
    for e in range(3):  # train and val of one epoch on separate rows, as Lightning writes them
        lines.append(f"{e},{e * 10},,,{0.4 + 0.1 * e},{1.5 - 0.1 * e}")
        lines.append(f"{e},{e * 10},{0.5 + 0.1 * e},{1.4 - 0.2 * e},,")
    (run / "logs" / "metrics.csv").write_text("\n".join(lines) + "\n")
    return Checkpoint.from_model("resnet_swish_xs", tiny_model(1), run_dir=str(run)).save(run / "model.pt")


def _faces(n: int, seed: int) -> np.ndarray:
    """Smooth random faces (blurred noise): closer to real images than white noise, all distinct."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.empty((n, 48, 48), np.uint8)
    for i in range(n):
        small = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        out[i] = cv2.resize(small, (48, 48), interpolation=cv2.INTER_CUBIC)
        out[i, 0, 0] = i % 256  # keeps every face distinct
        out[i, 0, 1] = i // 256
    return out


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory) -> Path:
    """A FER2013-format CSV: every class in every split, and N_LEAKED test faces equal to training faces."""
    faces = _faces(N_TRAIN + N_VAL + N_TEST, seed=3)
    test_start = N_TRAIN + N_VAL
    faces[test_start:test_start + N_LEAKED] = faces[:N_LEAKED]
    labels = np.arange(len(faces)) % NUM_CLASSES
    usages = ["Training"] * N_TRAIN + ["PublicTest"] * N_VAL + ["PrivateTest"] * N_TEST
    lines = ["emotion,pixels,Usage"]
    lines += [f"{y},{' '.join(map(str, f.ravel()))},{u}" for f, y, u in zip(faces, labels, usages)]
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _ferplus_majority(row: int) -> int | None:
    """The FER+ label the fixture gives a row: the FER2013 label shifted by one, none for every fifth row."""
    return None if row % 5 == 0 else (row % NUM_CLASSES + 1) % NUM_CLASSES


@pytest.fixture(scope="session")
def ferplus_majority():
    """Row of the fixture CSV -> its FER+ majority label (None: no majority)."""
    return _ferplus_majority


@pytest.fixture(scope="session")
def ferplus_csv(fer_csv) -> Path:
    from ferkit.data.ferplus import HEADER
    from ferkit.labels import FERPLUS_VOTE_COLUMNS, label_index

    # FER+ vote columns in their own order, as indices into EMOTIONS.
    column_class = [label_index(c) for c in FERPLUS_VOTE_COLUMNS]
    usages = ["Training"] * N_TRAIN + ["PublicTest"] * N_VAL + ["PrivateTest"] * N_TEST
    lines = [",".join(HEADER)]
    for row, usage in enumerate(usages):
        label = _ferplus_majority(row)
        votes = [0] * len(FERPLUS_VOTE_COLUMNS)
        unknown = 0
        if label is None:
            unknown = 10
        else:
            votes[column_class.index(label)] = 10
        lines.append(",".join([usage, f"fer{row:07d}.png", *map(str, votes), str(unknown), "0"]))
    path = fer_csv.parent / "fer2013new.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# Weak labels of the photo folder: spellings in several cases, contempt (-> disgust), one unknown label.
PHOTO_LABELS = {"a.jpg": "HAPPINESS", "b.jpg": "contempt", "c.jpg": "Neutral", "d.jpg": "confused"}


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """The bundled portrait 4 times (as is, mirrored, smaller, on a wider canvas), a blank image with no
    face, a corrupt file, and a legend.csv in a data/ sub-folder as in the shared photo zip."""
    import cv2

    from ferkit.inference.media import sample_image_path

    root = tmp_path_factory.mktemp("photos")
    (root / "images").mkdir()
    (root / "data").mkdir()
    image = cv2.imread(str(sample_image_path()))
    wide = cv2.copyMakeBorder(image, 0, 0, 150, 150, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    variants = {"a.jpg": image, "b.jpg": np.ascontiguousarray(image[:, ::-1]),
                "c.jpg": cv2.resize(image, None, fx=0.6, fy=0.6), "d.jpg": wide,
                "e.jpg": np.full((200, 200, 3), 128, np.uint8)}
    for name, im in variants.items():
        cv2.imwrite(str(root / "images" / name), im)
    (root / "images" / "broken.jpg").write_bytes(b"not a jpeg at all")
    legend = ["user.id,image,emotion"] + [f"1,{k},{v}" for k, v in PHOTO_LABELS.items()]
    (root / "data" / "legend.csv").write_text("\n".join(legend) + "\n")
    return root


def _run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "ferkit", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="session")
def user_cache():
    """``user_cache(monkeypatch)``: point this test at the user's dataset cache (real data decodes once)."""
    def use(monkeypatch):
        if _USER_CACHE is None:
            monkeypatch.delenv("FERKIT_CACHE", raising=False)
        else:
            monkeypatch.setenv("FERKIT_CACHE", _USER_CACHE)
    return use


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(*args, cwd=None)``: ``python -m ferkit ARGS`` in a subprocess (a fixture:
    test modules cannot import this conftest by name when several test folders have one)."""
    return _run_cli
