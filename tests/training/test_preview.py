import subprocess
import sys

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.training.preview import augmentation_figure


def test_augmentation_figure_is_a_png(tmp_path):
    n = 14
    data = FaceDataset(faces=np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8),
                       labels=np.arange(n) % 7, split=np.array(["train"] * n), source=np.arange(n).astype(str))
    out = augmentation_figure(data, tmp_path / "a.png", variants=3)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_cli_bad_override_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ferkit", "data", "augment", str(tmp_path / "missing.csv"),
                           "fill=wavy", "--save", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip() == "ferkit: error: fill must be border, reflection or zeros"
