"""Datasets: one loader per format, all returning ``FaceDataset``; ``load_dataset`` picks the loader.

Typical training use::

    ds = load_dataset(cfg.data, ferplus=cfg.ferplus or None, soft=cfg.labels == "ferplus_soft")
    ds = combine([(ds, 1.0), (load_dataset(cfg.affectnet), cfg.affectnet_weight)])

and for the evaluation report, ``dataset.subset(dedup_test_mask(dataset))``.
"""

from __future__ import annotations

from pathlib import Path

from ferkit.data.affectnet import is_affectnet_official, load_affectnet_kaggle, load_affectnet_official
from ferkit.data.combine import combine
from ferkit.data.dataset import SPLITS, DataError, FaceDataset, concat
from ferkit.data.duplicates import DuplicateReport, dedup_test_mask, find_duplicates
from ferkit.data.fer2013_csv import load_fer2013_csv
from ferkit.data.fer2013_images import is_fer2013_name, load_fer2013_images
from ferkit.data.ferplus import FerPlusVotes, apply_ferplus, blend_ferplus, load_ferplus
from ferkit.data.image_tree import ImageTree
from ferkit.data.packed import is_packed, load_packed, save_packed
from ferkit.data.quality import near_blank_mask

__all__ = [
    "SPLITS", "DataError", "DuplicateReport", "FaceDataset", "FerPlusVotes", "apply_ferplus", "blend_ferplus",
    "combine", "concat", "dedup_test_mask", "detect_format", "find_duplicates", "load_affectnet_kaggle",
    "load_affectnet_official", "load_dataset", "load_fer2013_csv", "load_fer2013_images", "load_ferplus",
    "load_packed", "near_blank_mask", "save_packed",
]

_LOADERS = {
    "fer2013_csv": load_fer2013_csv,
    "fer2013_images": load_fer2013_images,
    "affectnet_official": load_affectnet_official,
    "affectnet_kaggle": load_affectnet_kaggle,
    "packed": load_packed,
}


def detect_format(path: str | Path) -> str:
    """Which loader reads ``path``.

    Returns one of ``fer2013_csv``, ``fer2013_images``, ``affectnet_official``, ``affectnet_kaggle``,
    ``packed``.

    A ``.csv``/``.csv.gz`` file is the FER2013 CSV; a folder with
    ``Manually_Annotated_file_lists/`` is the official AffectNet release; any
    other folder or zip is a class-folder tree: FER2013's when its images are
    named ``Training_*``/``PublicTest_*``/``PrivateTest_*``, AffectNet's otherwise;
    a ``.npz.xz`` file is one written by ``ferkit data pack`` (``save_packed``).

    Raises:
        DataError: the path is missing or is a file of another kind.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_file() and (name.endswith(".csv") or name.endswith(".csv.gz")):
        return "fer2013_csv"
    if path.is_file() and is_packed(path):
        return "packed"
    if path.is_dir() and is_affectnet_official(path):
        return "affectnet_official"
    if path.is_dir() or name.endswith(".zip"):
        with ImageTree(path) as tree:
            fer = any(is_fer2013_name(f) for f in tree.images())
        return "fer2013_images" if fer else "affectnet_kaggle"
    raise DataError(f"{path}: not a dataset ferkit reads (expected the FER2013 .csv/.csv.gz, "
                    "an images .zip or folder, an AffectNet folder, or a .npz.xz from `ferkit data pack`)")


def load_dataset(path: str | Path, ferplus: str | Path | None = None, soft: bool = False,
                 use_cache: bool = True) -> FaceDataset:
    """Load any supported dataset, picking the loader from the path (see ``detect_format``).

    Args:
        path: FER2013 CSV (``.csv``/``.csv.gz``), FER2013 images zip or folder,
            AffectNet official root, AffectNet Kaggle folder/zip, or a ``.npz.xz`` from
            ``ferkit data pack``.
        ferplus: ``fer2013new.csv``: relabel with FER+ majority labels, dropping
            rows without one (FER2013 CSV only; see ``apply_ferplus``).
        soft: with ``ferplus``, also set soft labels to the FER+ vote distribution.
        use_cache: False decodes the source even when a cache entry exists.

    Raises:
        DataError: one line naming the file and the problem.
    """
    dataset = _LOADERS[detect_format(path)](path, use_cache=use_cache)
    if ferplus is not None:
        dataset = apply_ferplus(dataset, ferplus, soft=soft)
    elif soft:
        raise DataError("soft labels come from FER+ votes: pass ferplus=PATH to fer2013new.csv")
    return dataset
