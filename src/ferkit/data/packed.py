"""A dataset as one compact array file, for carrying decoded faces to another machine.

``ferkit data pack SRC OUT.npz.xz`` writes the faces, labels, splits and row ids
of any dataset ferkit reads as an uncompressed ``.npz`` inside an xz (LZMA)
stream: FER2013's train and val splits take about 55 MB this way, against
94 MB for the CSV archive. Training reads the file back with ``data=OUT.npz.xz``.
"""

from __future__ import annotations

import io
import lzma
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.data.dataset import SPLITS, DataError, FaceDataset

PACKED_SUFFIX = ".npz.xz"
_FORMAT = "ferkit-packed-1"


def is_packed(path: str | Path) -> bool:
    return str(path).lower().endswith(PACKED_SUFFIX)


def save_packed(dataset: FaceDataset, path: str | Path, splits: Sequence[str] = SPLITS,
                progress: bool = False) -> Path:
    """Write the rows of ``splits`` to ``path`` (which must end in ``.npz.xz``); returns the path."""
    path = Path(path)
    if not is_packed(path):
        raise DataError(f"{path}: a packed dataset's name must end in {PACKED_SUFFIX}")
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise DataError(f"unknown split {unknown[0]!r}; expected some of {', '.join(SPLITS)}")
    part = dataset.subset(np.isin(dataset.split, list(splits)))
    if len(part) == 0:
        raise DataError(f"{dataset.name or 'the dataset'} has no rows in the splits {', '.join(splits)}")
    arrays = {"format": np.array(_FORMAT), "name": np.array(part.name), "faces": part.faces,
              "labels": part.labels.astype(np.int8), "split": part.split.astype(str),
              "source": part.source.astype(str), "weight": part.weight}
    if part.soft_labels is not None:
        arrays["soft_labels"] = part.soft_labels
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    data, chunk = buffer.getbuffer(), 1 << 22
    # LZMA at preset 9 takes about two minutes for FER2013 on one core: show it.
    with lzma.open(tmp, "wb", preset=9) as f, tqdm(total=len(data), unit="B", unit_scale=True,
                                                   desc=f"packing {path.name}", disable=not progress) as bar:
        for start in range(0, len(data), chunk):
            f.write(data[start:start + chunk])
            bar.update(min(chunk, len(data) - start))
    tmp.replace(path)
    return path


def load_packed(path: str | Path, use_cache: bool = True) -> FaceDataset:
    """Read a file written by ``save_packed``. ``use_cache`` is accepted for the loader interface."""
    path = Path(path)
    try:
        with lzma.open(path, "rb") as f:
            raw = f.read()
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != _FORMAT:
                raise DataError(f"{path}: not a packed ferkit dataset (written by `ferkit data pack`)")
            return FaceDataset(faces=z["faces"], labels=z["labels"].astype(np.int64), split=z["split"],
                               source=z["source"], weight=z["weight"].astype(np.float32),
                               soft_labels=z["soft_labels"] if "soft_labels" in z.files else None,
                               name=str(z["name"]))
    except (lzma.LZMAError, EOFError, OSError, ValueError, KeyError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: corrupt or truncated packed dataset ({e})") from None
