"""Reading what ``ferkit predict`` is given: images, folders, globs, videos and webcams.

Every problem with one input is a ``MediaError`` with a one-line message naming
the input, so a run over many inputs can report it and go on.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.image_tree import IMAGE_SUFFIXES
from ferkit.errors import FerkitError

# What a folder or glob picks up as images: the datasets' formats and the others Pillow decodes.
PHOTO_SUFFIXES = IMAGE_SUFFIXES | {".gif", ".jfif", ".jpe"}
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
# Decoding a bigger image takes seconds and gigabytes; faces need nowhere near this many pixels.
MAX_PIXELS = 50_000_000


class MediaError(FerkitError, ValueError):
    """One input that cannot be used; the message names it and says why."""


class ImageTooLarge(MediaError):
    """An image with more pixels than the limit, refused before it is decoded."""


class NotAnImage(MediaError):
    """A file that is not an image in a format ferkit reads."""


def as_image(image: np.ndarray) -> np.ndarray:
    """An array as the pipeline takes it: (H, W) grey or (H, W, 3) BGR uint8.

    (H, W, 1) and BGRA (H, W, 4), as ``cv2.imread(..., cv2.IMREAD_UNCHANGED)`` gives for a PNG with
    alpha, are converted.

    Raises:
        ValueError: not an image array: another shape, or not uint8 (a float image in [0, 1] would
            otherwise look black and find no face).
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise ValueError(f"an image must be a numpy array or a file path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"an image array must be uint8 (0-255), got {image.dtype}; "
                         "convert it first, e.g. (image * 255).round().astype(np.uint8) for values in [0, 1]")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape[:2]:
        raise ValueError(f"an image array must be (H, W) grey or (H, W, 3) BGR, got shape {image.shape}")
    return image


def path_kind(path: Path) -> str:
    """What is at ``path``: ``file``, ``folder``, ``other`` (a FIFO, a device), ``dangling`` (a symbolic
    link that leads nowhere, or a loop) or ``missing``.

    Raises:
        MediaError: it cannot be looked at (a folder on the way that may not be searched).
    """
    try:
        if path.is_dir():
            return "folder"
        if path.is_file():
            return "file"
        if path.exists():
            return "other"
    except OSError as e:
        raise MediaError(f"{path}: cannot be read ({e.strerror or e})") from None
    return "dangling" if path.is_symlink() else "missing"


def leads_nowhere(path: Path) -> MediaError:
    return MediaError(f"{path}: a symbolic link that leads nowhere (dangling, or a loop)")


def sample_image_path() -> Path:
    """A bundled public-domain portrait (Grace Hopper, see ``assets/samples/SOURCES.md``) to try ferkit on."""
    from ferkit.assets import SAMPLES

    return SAMPLES / "grace_hopper.jpg"


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to (H, W, 3) BGR uint8, refusing oversized ones before decoding.

    Args:
        path: any format OpenCV or Pillow reads.
        max_pixels: refuse images with more pixels than this (read from the header).

    Raises:
        MediaError: missing, a folder, empty, unreadable, too large, truncated or not an image.
    """
    path = Path(path)
    kind = path_kind(path)
    if kind == "folder":
        raise MediaError(f"{path}: is a folder, not an image")
    if kind == "other":
        raise MediaError(f"{path}: not a regular file")  # a FIFO or device would block or never end
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not data:
        raise MediaError(f"{path}: empty file")
    header = _header(path, data, max_pixels)
    if header is None:
        # Pillow does not know it, so its size cannot be read before decoding; what OpenCV alone reads
        # (Radiance HDR, PFM, PAM) can unpack a few MB into gigabytes.
        raise NotAnImage(f"{path}: not an image in a format ferkit reads (JPEG, PNG, WebP, BMP, TIFF, GIF, ...), "
                         "or a corrupt one")
    image, complaint = _decode_quietly(data)
    if header == "JPEG" and complaint:
        raise MediaError(f"{path}: corrupt JPEG data ({complaint})")
    if image is None:
        image = _decode_with_pillow(path, data)  # formats OpenCV lacks (GIF, ...)
    if image is None:
        raise MediaError(f"{path}: corrupt or truncated {header} image")
    return image


def _header(path: Path, data: bytes, max_pixels: int) -> str | None:
    """The format Pillow reads from the header (None if it does not know it), after the size check."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                (width, height), fmt = im.size, im.format
                if width * height > max_pixels:
                    raise ImageTooLarge(_too_large(path, width, height, max_pixels))
                if fmt == "PNG":
                    im.verify()  # checks every chunk: OpenCV's decoder would print libpng noise instead
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{path}: image too large (over {max_pixels / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's "truncated", "broken PNG file", ...
        raise MediaError(f"{path}: corrupt or truncated image ({str(e).strip() or type(e).__name__})") from None
    return fmt


_STDERR_LOCK = threading.Lock()


def _decode_quietly(data: bytes) -> tuple[np.ndarray | None, str]:
    """Decode with OpenCV, catching what its codecs print about damaged data.

    libjpeg writes "Corrupt JPEG data: ..." straight to the stderr file descriptor
    and returns a half-grey picture; the caller turns the text into one clear line.
    libpng and OpenCV's own loaders print similar noise for broken PNGs and GIFs,
    which must not reach the user either. Other threads' stderr output during the
    decode would be caught too, hence the lock.
    """
    import cv2

    with _STDERR_LOCK, tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        text = caught.read().decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else ""
    return image, first.removeprefix("Corrupt JPEG data: ")


def _too_large(path: Path, width: int, height: int, max_pixels: int) -> str:
    return (f"{path}: image too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f})")


def _decode_with_pillow(path: Path, data: bytes) -> np.ndarray | None:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError):
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


@dataclass(frozen=True)
class Source:
    """One input of a run.

    Attributes:
        kind: ``image``, ``video`` or ``webcam``.
        location: the file path, or the webcam's index as text.
    """

    kind: str
    location: str

    @property
    def is_stream(self) -> bool:
        return self.kind in ("video", "webcam")


def _kind(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def _is_media(path: Path) -> bool:
    suffix = path.suffix.lower()
    return not path.name.startswith(".") and (suffix in PHOTO_SUFFIXES or suffix in VIDEO_SUFFIXES)


def expand_source(text: str, unreadable: list[tuple[str, str]] | None = None) -> list[Source]:
    """The inputs one command-line SOURCE stands for.

    Args:
        text: an image or video file (any other file is tried as an image), a folder
            (its images and videos, recursively, sorted), a glob such as ``'shots/*.jpg'``,
            or a webcam index such as ``0``.
        unreadable: gets ``(folder, message)`` for each subfolder that could not be listed; without
            it such a subfolder raises.

    Raises:
        MediaError: nothing exists there, it cannot be read, or a folder or glob holds no image or video.
    """
    path = Path(text)
    kind = path_kind(path)
    if text.isdigit() and kind in ("missing", "dangling"):
        return [Source("webcam", text)]
    if kind == "folder":
        return [Source(_kind(p), str(p)) for p in _folder_media(path, unreadable)]
    if kind in ("file", "other"):
        return [Source(_kind(path), text)]
    if glob.has_magic(text):
        found = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
        found = [p for p in found if p.is_file() and _is_media(p)]
        if not found:
            raise MediaError(f"{text}: no image or video matches")
        return [Source(_kind(p), str(p)) for p in found]
    if kind == "dangling":
        raise leads_nowhere(path)
    raise MediaError(f"{path}: no such file or folder")


def _folder_media(folder: Path, unreadable: list[tuple[str, str]] | None) -> list[Path]:
    """The images and videos under ``folder``, sorted, leaving out hidden files and folders."""
    skipped: list[tuple[str, str]] = []

    def note(e: OSError) -> None:
        skipped.append((e.filename, f"{e.filename}: folder cannot be read ({e.strerror or e})"))

    found = []
    for root, dirs, names in os.walk(folder, onerror=note):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # hidden folders are not walked into
        found += [Path(root, name) for name in names]
    found.sort()
    if skipped and (skipped[0][0] == str(folder) or unreadable is None):
        raise MediaError(skipped[0][1])
    if unreadable is not None:
        unreadable += skipped
    found = [p for p in found if _is_media(p)]
    if not found:
        raise MediaError(f"{folder}: folder has no images or videos")
    return found
