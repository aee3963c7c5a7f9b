import cv2
import numpy as np
import pytest

from ferkit.inference.media import MediaError, Source, as_image, expand_source, read_image


def test_reads_the_sample(sample):
    image = read_image(sample)
    assert image.shape == (600, 512, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("kind, message", [
    ("empty", "empty file"),
    ("corrupt", "not an image"),
    ("text", "not an image"),
    ("truncated", "corrupt or truncated"),
    ("truncated_jpeg", "corrupt or truncated JPEG image"),
    ("garbled", "corrupt JPEG data .premature end of data segment"),
    ("huge", "too large .10000x8000 = 80 megapixels; the limit is 50"),
    ("missing", "no such file"),
    ("folder", "is a folder"),
])
def test_bad_images_give_one_clear_line(bad_inputs, kind, message):
    with pytest.raises(MediaError, match=message) as err:
        read_image(bad_inputs[kind])
    assert str(bad_inputs[kind]) in str(err.value) and "\n" not in str(err.value)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        read_image(fifo)


def test_pixel_limit_is_checked_from_the_header(sample):
    with pytest.raises(MediaError, match="too large"):
        read_image(sample, max_pixels=512 * 600 - 1)


def test_alpha_and_gif(tmp_path, sample_image):
    from PIL import Image

    bgra = cv2.cvtColor(sample_image, cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert read_image(tmp_path / "a.png").shape == (600, 512, 3)
    Image.fromarray(sample_image[:, :, ::-1]).save(tmp_path / "b.gif")
    assert read_image(tmp_path / "b.gif").shape == (600, 512, 3)


def test_expand_folder_glob_and_webcam(tmp_path, sample):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for rel in ("b.jpg", "a.png", "sub/c.JPG", "clip.mp4", ".hidden/d.jpg", "notes.txt", ".e.jpg", "sub/f.gif"):
        (tmp_path / rel).write_bytes(b"x")
    found = expand_source(str(tmp_path))
    assert [s.location for s in found] == [str(tmp_path / r)
                                           for r in ("a.png", "b.jpg", "clip.mp4", "sub/c.JPG", "sub/f.gif")]
    assert [s.kind for s in found] == ["image", "image", "video", "image", "image"]
    assert [s.location for s in expand_source(str(tmp_path / "*.jpg"))] == [str(tmp_path / "b.jpg")]
    assert expand_source("0") == [Source("webcam", "0")]
    assert expand_source(str(tmp_path / "notes.txt")) == [Source("image", str(tmp_path / "notes.txt"))]


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nothing.jpg", "no such file or folder"),
    (lambda p: p / "*.webp", "no image or video matches"),
    (lambda p: p, "folder has no images or videos"),
])
def test_expand_errors(tmp_path, make, message):
    with pytest.raises(MediaError, match=message):
        expand_source(str(make(tmp_path)))


def test_links_that_lead_nowhere(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    for name in ("loop", "dangling.jpg"):
        with pytest.raises(MediaError, match=f"{name}: a symbolic link that leads nowhere"):
            expand_source(str(tmp_path / name))


def test_unreadable_file(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "locked.jpg"
    path.write_bytes(b"x")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod does not stop root, who runs CI here
    with pytest.raises(MediaError, match="locked.jpg: cannot be read .Permission denied"):
        read_image(path)


def test_unreadable_subfolder_is_reported_and_the_rest_is_found(tmp_path, monkeypatch):
    import os

    (tmp_path / "closed").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    walk = os.walk

    def walk_denied(top, onerror=None, **kw):  # what os.walk does when it may not list a folder
        for root, dirs, names in walk(top, **kw):
            if root.endswith("closed"):
                onerror(PermissionError(13, "Permission denied", root))
                continue
            yield root, dirs, names

    monkeypatch.setattr(os, "walk", walk_denied)  # chmod does not stop root, who runs CI here
    skipped = []
    assert [s.location for s in expand_source(str(tmp_path), skipped)] == [str(tmp_path / "a.jpg")]
    assert skipped == [(str(tmp_path / "closed"), f"{tmp_path / 'closed'}: folder cannot be read (Permission denied)")]
    with pytest.raises(MediaError, match="closed: folder cannot be read"):
        expand_source(str(tmp_path))  # no list to report it in: it is not dropped silently
    with pytest.raises(MediaError, match="closed: folder cannot be read .Permission denied"):
        expand_source(str(tmp_path / "closed"), [])  # the folder named itself cannot be read


def test_a_path_through_a_folder_that_cannot_be_searched(tmp_path, monkeypatch):
    from pathlib import Path

    def denied(self, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "stat", denied)
    with pytest.raises(MediaError, match="x.jpg: cannot be read .Permission denied"):
        expand_source(str(tmp_path / "x.jpg"))
    with pytest.raises(MediaError, match="x.jpg: cannot be read .Permission denied"):
        read_image(tmp_path / "x.jpg")


def test_arrays_are_taken_as_bgr_or_grey_uint8(sample_image):
    grey = cv2.cvtColor(sample_image, cv2.COLOR_BGR2GRAY)
    assert as_image(sample_image) is sample_image
    assert as_image(cv2.cvtColor(sample_image, cv2.COLOR_BGR2BGRA)).shape == sample_image.shape
    assert np.array_equal(as_image(grey[:, :, None]), grey)
    with pytest.raises(ValueError, match="must be uint8 .0-255., got float32"):
        as_image(sample_image.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"must be \(H, W\) grey or \(H, W, 3\) BGR, got shape \(4, 5, 2\)"):
        as_image(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(ValueError, match="numpy array or a file path, got list"):
        as_image([[0]])
