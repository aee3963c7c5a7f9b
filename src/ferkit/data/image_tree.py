"""Images in class folders, zipped or unpacked: the part every folder-style loader shares.

A tree is ``<split>/<class>/<image>`` or ``<class>/<image>``, possibly under
common top folders (as zips often are). Files that are not images by their
suffix (``labels.csv``, ``.DS_Store``, ``__MACOSX/``) are ignored.

Unreadable images are skipped, not fatal: one corrupt file among 35,887 (or a
partial AffectNet download) should not stop a training run. Their paths are kept
in ``dataset.extra["skipped"]`` and ``ferkit data summary`` reports them. A tree
where no image at all can be read is an error.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ferkit.data.dataset import FACE_SIZE, DataError, FaceDataset
from ferkit.labels import UnknownLabelError, check_names

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test", "testing": "test"}

# (x, y, width, height) of the face within the image, in pixels.
Box = tuple[int, int, int, int]


class ImageTree:
    """Read access to the files of a zip archive or a folder, by '/'-separated relative path.

    Args:
        path: a ``.zip`` file or a folder.

    Raises:
        DataError: the path is missing, or is a file that is not a zip archive.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            self.files = sorted(
                PurePosixPath(Path(root, name).relative_to(self.path)).as_posix()
                for root, _, names in os.walk(self.path) for name in names
            )
        elif self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(f"{self.path}: not a zip archive of images ({e})") from None
            self.files = sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        else:
            raise DataError(f"{self.path}: no such file or folder")

    def read(self, rel: str) -> bytes:
        """The file's bytes; OSError (or a zip error) when it cannot be read."""
        if self._zip is not None:
            return self._zip.read(rel)
        return (self.path / rel).read_bytes()

    def images(self) -> list[str]:
        """Relative paths of the image files, sorted."""
        return [f for f in self.files if is_image(f)]

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ImageTree:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_image(rel: str) -> bool:
    p = PurePosixPath(rel)
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in p.parts)
    return not hidden and p.suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class TreeImage:
    """An image of a class-folder tree.

    Attributes:
        path: relative to the tree's root, '/'-separated, as stored.
        key: ``path`` without the common top folders: the same whether zipped or unpacked.
        split: from the split folder (``train``/``val``/``test``), None in a tree without one.
        class_folder: the class folder's name, as spelled.
    """

    path: str
    key: str
    split: str | None
    class_folder: str


def class_tree_layout(root: Path, paths: Sequence[str]) -> list[TreeImage]:
    """Read split and class folders from image paths.

    Args:
        root: the tree, for error messages.
        paths: image paths relative to the tree.

    Raises:
        DataError: no images, a split folder with an unknown name, or images at mixed depths.
    """
    if not paths:
        raise DataError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    parts = [PurePosixPath(p).parts for p in paths]
    skip = 0  # common top folders such as the archive's own name
    while (min(len(p) for p in parts) - skip > 2
           and len({p[skip] for p in parts}) == 1 and parts[0][skip].lower() not in SPLIT_FOLDERS):
        skip += 1
    depth = len(parts[0]) - skip
    layout = []
    for path, p in zip(paths, parts):
        rest = p[skip:]
        if len(rest) != depth or depth not in (2, 3):
            raise DataError(f"{root}: {path}: expected <split>/<class>/<image> or <class>/<image> "
                            f"throughout, found {len(rest)} levels here and {depth} elsewhere")
        split = None
        if depth == 3:
            if rest[0].lower() not in SPLIT_FOLDERS:
                raise DataError(f"{root}: {path}: unknown split folder {rest[0]!r} "
                                f"(expected one of {', '.join(SPLIT_FOLDERS)})")
            split = SPLIT_FOLDERS[rest[0].lower()]
        layout.append(TreeImage(path, "/".join(rest), split, rest[-2]))
    return layout


def class_indices(root: Path, names: Sequence[str]) -> dict[str, int]:
    """Map class folder names (any known spelling and case) to label indices, naming the tree on error."""
    try:
        return check_names(sorted(set(names)))
    except UnknownLabelError as e:
        raise DataError(f"{root}: {e}") from None


def decode_face(data: bytes, box: Box | None = None) -> np.ndarray | None:
    """Encoded image bytes -> (48, 48) uint8 grey face, or None when they cannot be decoded.

    Args:
        data: a JPEG/PNG/... file's bytes.
        box: the face's (x, y, width, height) to crop before resizing; None keeps the whole image.
    """
    import cv2

    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        return None
    if box is not None:
        x, y, w, h = box
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, img.shape[1]), min(y + h, img.shape[0])
        if x1 <= x0 or y1 <= y0:
            return None  # the box lies outside the image
        img = img[y0:y1, x0:x1]
    if img.shape != (FACE_SIZE, FACE_SIZE):
        # INTER_AREA averages when shrinking, which is what AffectNet's large crops need.
        img = cv2.resize(img, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return img


@dataclass(frozen=True)
class Item:
    """One face to decode: where it is, its label and split, and the id it gets."""

    path: str
    label: int
    split: str
    source: str
    box: Box | None = None


def decode_items(tree: ImageTree | Callable[[str], bytes], items: Sequence[Item], name: str,
                 where: Path) -> FaceDataset:
    """Decode every item into one dataset, skipping (and listing in ``extra["skipped"]``) unreadable ones.

    Args:
        tree: where the bytes come from (an ImageTree, or any ``read(path) -> bytes``).
        items: the faces, in the order the dataset keeps.
        name: the dataset's name.
        where: the source, for error messages.

    Raises:
        DataError: when no face at all can be read.
    """
    read = tree.read if isinstance(tree, ImageTree) else tree
    faces = np.empty((len(items), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    ok = np.zeros(len(items), dtype=bool)
    for i, item in enumerate(items):
        try:
            face = decode_face(read(item.path), item.box)
        except (OSError, KeyError, zipfile.BadZipFile, zlib.error):  # KeyError: listed but absent from the zip
            face = None
        if face is not None:
            faces[i], ok[i] = face, True
    if not ok.any():
        raise DataError(f"{where}: none of its {len(items)} images could be read")
    return FaceDataset(
        faces=faces[ok],
        labels=np.array([it.label for it in items], dtype=np.int64)[ok],
        split=np.array([it.split for it in items])[ok],
        source=np.array([it.source for it in items])[ok],
        name=name,
        extra={"skipped": [it.path for it, good in zip(items, ok) if not good]},
    )
