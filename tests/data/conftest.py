"""Shared fixtures: the real data in ../shared/data (skipped when absent) and small generated fixtures."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ferkit.data.ferplus import HEADER as FERPLUS_HEADER
from ferkit.labels import EMOTIONS

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
FER2013_CSV = SHARED / "fer2013" / "fer2013.csv.gz"
FER2013_ZIP = SHARED / "fer2013" / "fer2013_images.zip"
FER2013_TRUNCATED = SHARED / "fer2013" / "fer2013_first151rows.csv"
FERPLUS_CSV = SHARED / "ferplus" / "fer2013new.csv"

# The standard FER2013 counts (../shared/data/README.md), in EMOTIONS order.
FER2013_COUNTS = {
    "train": (28709, (3995, 436, 4097, 7215, 4830, 3171, 4965)),
    "val": (3589, (467, 56, 496, 895, 653, 415, 607)),
    "test": (3589, (491, 55, 528, 879, 594, 416, 626)),
}

# The cache the session fixtures and real-data CLI runs share, read before any test changes it.
_USER_CACHE = os.environ.get("FERKIT_CACHE")


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (shared data absent)")
    return path


def expected_per_class(split: str) -> dict[str, int]:
    return dict(zip(EMOTIONS, FER2013_COUNTS[split][1]))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test caches into its own folder; the session fixtures below were built before this runs."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def fer2013():
    """The full FER2013 CSV, decoded once (about 10 s) and then read from the user's cache."""
    from ferkit.data import load_fer2013_csv

    return load_fer2013_csv(require(FER2013_CSV))


@pytest.fixture(scope="session")
def fer2013_zip():
    from ferkit.data import load_fer2013_images

    return load_fer2013_images(require(FER2013_ZIP))


def run_cli(*args: str, user_cache: bool = False) -> subprocess.CompletedProcess:
    """``python -m ferkit ARGS``; ``user_cache`` reuses the session's cache so real data is not decoded again."""
    env = dict(os.environ)
    if user_cache:
        env.pop("FERKIT_CACHE", None)
        if _USER_CACHE is not None:
            env["FERKIT_CACHE"] = _USER_CACHE
    return subprocess.run([sys.executable, "-m", "ferkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


# ---- generated fixtures -------------------------------------------------------------------------

def synthetic_faces(n: int, seed: int = 0) -> np.ndarray:
    """(n, 48, 48) uint8 distinct random faces covering 0 and 255."""
    faces = np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    faces[:, 0, 0], faces[:, 0, 1] = 0, 255
    return faces


def fer2013_csv_text(faces: np.ndarray, labels, usages, newline: str = "\n") -> str:
    lines = ["emotion,pixels,Usage"]
    for face, label, usage in zip(faces, labels, usages):
        lines.append(f"{label},{' '.join(map(str, face.ravel()))},{usage}")
    return newline.join(lines) + newline


def write_fer2013_csv(path: Path, faces: np.ndarray, labels, usages, newline: str = "\n") -> Path:
    text = fer2013_csv_text(faces, labels, usages, newline).encode()
    path.write_bytes(gzip.compress(text) if path.suffix == ".gz" else text)
    return path


# One FER+ row per case: (Usage, Image name, neutral, happiness, surprise, sadness, anger, disgust, fear,
# contempt, unknown, NF), and the label FER+ majority voting gives it.
FERPLUS_ROWS = [
    (("Training", "fer0.png", 6, 1, 0, 0, 0, 0, 0, 0, 3, 0), "neutral"),
    (("Training", "fer1.png", 0, 0, 0, 0, 4, 0, 0, 0, 4, 2), None),  # tie anger/unknown
    (("PublicTest", "fer2.png", 0, 0, 0, 0, 3, 2, 0, 2, 0, 3), "disgust"),  # contempt + disgust = 4 > 3
    (("PublicTest", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10), None),  # not a face
    (("PrivateTest", "fer4.png", 1, 1, 1, 1, 1, 0, 0, 0, 5, 0), None),  # unknown wins
    (("PrivateTest", "fer5.png", 0, 0, 2, 0, 0, 0, 8, 0, 0, 0), "fear"),
]


def write_ferplus(path, rows):
    lines = [",".join(FERPLUS_HEADER)] + [",".join(map(str, r)) for r, _ in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_image(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())


def zip_folder(folder: Path, archive: Path, top: str = "") -> Path:
    """Zip every file under ``folder``, optionally below a top folder ``top/``."""
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{top}/{f.relative_to(folder).as_posix()}" if top else f.relative_to(folder).as_posix())
    return archive
