"""FER2013 as the Kaggle folder tree: ``train/<class>/Training_*.jpg``, ``test/<class>/{PublicTest,PrivateTest}_*.jpg``.

Zipped (``fer2013_images.zip``) or unpacked. The file name's prefix gives the
split, since ``test/`` holds both PublicTest (ferkit's ``val``) and PrivateTest
(``test``). Unreadable images are skipped and listed (see ``image_tree``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ferkit.data.cache import cached
from ferkit.data.dataset import DataError, FaceDataset
from ferkit.data.image_tree import ImageTree, Item, class_indices, class_tree_layout, decode_items

PREFIX_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def is_fer2013_name(path: str) -> bool:
    """True for an image named like FER2013's ``PublicTest_123.jpg``."""
    return PurePosixPath(path).name.split("_", 1)[0] in PREFIX_TO_SPLIT


def load_fer2013_images(path: str | Path, use_cache: bool = True) -> FaceDataset:
    """Load the FER2013 folder tree from a zip or a folder; decoded faces are cached by content.

    Rows are sorted by path; ``source`` is ``fer2013_images:<split folder>/<class>/<file>``.

    Args:
        path: ``fer2013_images.zip`` or the folder holding ``train/`` and ``test/``.
        use_cache: False decodes the images even when a cache entry exists.

    Raises:
        DataError: a missing path, an unknown class folder, or an image whose name
            lacks the Training_/PublicTest_/PrivateTest_ prefix.
    """
    path = Path(path)  # a missing path fails in ImageTree, with the same message as every loader
    return cached(path, "fer2013images", lambda: _decode(path), enabled=use_cache)


def _decode(path: Path) -> FaceDataset:
    with ImageTree(path) as tree:
        layout = class_tree_layout(path, tree.images())
        index = class_indices(path, [im.class_folder for im in layout])
        items = []
        for im in layout:
            prefix = PurePosixPath(im.path).name.split("_", 1)[0]
            if prefix not in PREFIX_TO_SPLIT:
                raise DataError(f"{path}: {im.path}: name does not start with Training_, PublicTest_ "
                                "or PrivateTest_, so its FER2013 split is unknown")
            items.append(Item(im.path, index[im.class_folder], PREFIX_TO_SPLIT[prefix],
                              f"fer2013_images:{im.key}"))
        return decode_items(tree, items, "fer2013_images", path)
