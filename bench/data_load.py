"""Time FER2013 loading: first load (decode and cache write) and cached load, CSV and images zip.

Prints one JSON object. The cache goes to a fresh temporary folder, so the
first load really decodes. Bars (issue 4): cached load < 1 s, first load < 15 s.

    python bench/data_load.py [--csv PATH] [--zip PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013"


def _timed(load, path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = len(load(path))
    return time.perf_counter() - start, n


def bench(load, path: Path) -> dict:
    first, n = _timed(load, path)
    cached = min(_timed(load, path)[0] for _ in range(3))
    return {"path": str(path), "rows": n, "first_load_s": round(first, 2), "cached_load_s": round(cached, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=SHARED / "fer2013.csv.gz")
    parser.add_argument("--zip", type=Path, default=SHARED / "fer2013_images.zip")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FERKIT_CACHE"] = cache  # read by ferkit.data.cache at each load
        from ferkit.data import load_fer2013_csv, load_fer2013_images

        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                        "platform": platform.platform()},
            "bars": {"first_load_s": 15.0, "cached_load_s": 1.0},
        }
        if args.csv.exists():
            results["fer2013_csv"] = bench(load_fer2013_csv, args.csv)
        if args.zip.exists():
            results["fer2013_images_zip"] = bench(load_fer2013_images, args.zip)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
