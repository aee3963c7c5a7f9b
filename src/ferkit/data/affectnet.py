"""AffectNet, in its two public shapes.

- The official release: ``Manually_Annotated_file_lists/{training,validation}.csv``
  (``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal``)
  and the image folder ``Manually_Annotated_Images/`` beside it (or inside
  ``Manually_Annotated/``). Each face box is cropped, turned grey and resized
  to 48x48. ``training`` is the train split; ``validation`` is the test split,
  as in the literature (AffectNet's own test set was never released).
  Expressions 8-10 (none, uncertain, no-face) are dropped; contempt counts as disgust.
- The Kaggle re-uploads: class folders (``anger contempt disgust ...``, any
  case), optionally under ``Train/``, ``Test/`` (or ``Val/``) and optionally with a
  ``labels.csv`` of ``pth,label``, whose labels then win over the folders.

Missing and unreadable images are skipped and listed in ``extra["skipped"]``
(partial AffectNet downloads are common); see ``image_tree``.
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

from ferkit.data.cache import cached
from ferkit.data.dataset import DataError, FaceDataset
from ferkit.data.image_tree import (
    SPLIT_FOLDERS, ImageTree, Item, class_indices, class_tree_layout, decode_items,
)
from ferkit.labels import UnknownLabelError, affectnet_index, label_index

LISTS_FOLDER = "Manually_Annotated_file_lists"
LIST_SPLITS = {"training.csv": "train", "validation.csv": "test"}
IMAGE_FOLDERS = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images")
LIST_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
KAGGLE_LABELS = "labels.csv"


def is_affectnet_official(path: Path) -> bool:
    return (path / LISTS_FOLDER).is_dir()


def load_affectnet_official(root: str | Path, images: str | Path | None = None,
                            use_cache: bool = True) -> FaceDataset:
    """Load the official AffectNet release (manually annotated part).

    Args:
        root: the folder holding ``Manually_Annotated_file_lists/``.
        images: the image folder; by default the first of ``IMAGE_FOLDERS`` under root that exists.
        use_cache: False decodes the images even when a cache entry exists.

    Raises:
        DataError: no list files, a list with other columns or a broken row, or no image folder.
    """
    root = Path(root)
    lists = root / LISTS_FOLDER
    if not lists.is_dir():
        raise DataError(f"{root}: no {LISTS_FOLDER}/ folder (not an AffectNet release)")
    found = [lists / name for name in LIST_SPLITS if (lists / name).is_file()]
    if not found:
        raise DataError(f"{lists}: neither {' nor '.join(LIST_SPLITS)} found")
    image_dir = Path(images) if images is not None else next(
        (root / f for f in IMAGE_FOLDERS if (root / f).is_dir()), None)
    if image_dir is None or not image_dir.is_dir():
        looked = image_dir or " or ".join(str(root / f) for f in IMAGE_FOLDERS)
        raise DataError(f"{root}: AffectNet image folder not found (looked for {looked})")
    return cached(root, "affectnet-official", lambda: _decode_official(found, image_dir),
                  enabled=use_cache and images is None)


def _decode_official(lists: list[Path], image_dir: Path) -> FaceDataset:
    items = [item for path in lists for item in _read_list(path, LIST_SPLITS[path.name])]
    return decode_items(lambda rel: (image_dir / rel).read_bytes(), items, "affectnet", image_dir)


def _read_list(path: Path, split: str) -> list[Item]:
    """The rows of one official list file with a kept expression, as items to decode."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]
            missing = [c for c in LIST_COLUMNS if c not in header]
            if missing:
                raise DataError(f"{path}: missing AffectNet columns {','.join(missing)}; "
                                f"found {','.join(header)[:100]!r}")
            col = [header.index(c) for c in LIST_COLUMNS]
            items = []
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    rel, x, y, w, h, expression = (row[i].strip() for i in col)
                    label = affectnet_index(int(expression))
                    box = (int(float(x)), int(float(y)), int(float(w)), int(float(h)))
                except (IndexError, ValueError, UnknownLabelError) as e:
                    raise DataError(f"{path}: line {line}: not a valid AffectNet row ({e})") from None
                if label is not None:
                    items.append(Item(rel, label, split, f"affectnet:{rel}", box))
            return items
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def load_affectnet_kaggle(path: str | Path, use_cache: bool = True) -> FaceDataset:
    """Load a Kaggle AffectNet tree of class folders, zipped or unpacked.

    Rows are sorted by path; ``source`` is ``affectnet:<path below the tree's top folders>``.
    The split comes from a ``Train``/``Val``/``Test`` folder, and is ``train`` without one.

    Args:
        path: the folder or zip.
        use_cache: False decodes the images even when a cache entry exists.

    Raises:
        DataError: a missing path, an unknown class name (folder or labels.csv), or a broken labels.csv.
    """
    path = Path(path)  # a missing path fails in ImageTree, with the same message as every loader
    return cached(path, "affectnet-kaggle", lambda: _decode_kaggle(path), enabled=use_cache)


def _decode_kaggle(path: Path) -> FaceDataset:
    with ImageTree(path) as tree:
        labels_csv = sorted((f for f in tree.files if PurePosixPath(f).name == KAGGLE_LABELS),
                            key=lambda f: f.count("/"))
        items = _labelled_items(tree, labels_csv[0]) if labels_csv else _folder_items(tree)
        return decode_items(tree, items, "affectnet", path)


def _folder_items(tree: ImageTree) -> list[Item]:
    layout = class_tree_layout(tree.path, tree.images())
    index = class_indices(tree.path, [im.class_folder for im in layout])
    return [Item(im.path, index[im.class_folder], im.split or "train", f"affectnet:{im.key}")
            for im in layout]


def _labelled_items(tree: ImageTree, labels_csv: str) -> list[Item]:
    """Items from ``labels.csv`` (``pth,label``); ``pth`` is relative to the csv's folder."""
    where = f"{tree.path}: {labels_csv}"
    base = PurePosixPath(labels_csv).parent
    rows = list(csv.reader(tree.read(labels_csv).decode("utf-8", errors="replace").splitlines()))
    header = [c.strip() for c in rows[0]] if rows else []
    if "pth" not in header or "label" not in header:
        raise DataError(f"{where}: expected columns pth,label, found {','.join(header)[:100]!r}")
    i_path, i_label = header.index("pth"), header.index("label")
    items = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) <= max(i_path, i_label):
            raise DataError(f"{where}: line {line}: expected pth,label, found {','.join(row)!r}")
        rel = PurePosixPath(row[i_path].strip())
        try:
            label = label_index(row[i_label])
        except UnknownLabelError as e:
            raise DataError(f"{where}: line {line}: {e}") from None
        split = SPLIT_FOLDERS.get(rel.parts[0].lower(), "train") if len(rel.parts) > 2 else "train"
        full = (base / rel).as_posix()
        items.append(Item(full, label, split, f"affectnet:{rel.as_posix()}"))
    items.sort(key=lambda it: it.path)
    return items
