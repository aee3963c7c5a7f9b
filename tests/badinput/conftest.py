"""A corpus of bad and unusual inputs, generated here (nothing committed, nothing downloaded).

Each ``Case`` says what every channel must do with it: ``ok`` (a result, maybe with
no face), ``error`` (refused with one line naming the input), or ``any`` (either,
never a crash). ``server`` is None for what cannot be uploaded (folders, FIFOs).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pngs import png_claiming


@dataclass(frozen=True)
class Case:
    name: str
    suffix: str
    api: str  # ferkit.predict
    cli: str  # ferkit predict
    server: str | None  # POST /v1/predict; None: not something a client can upload
    status: int = 200  # the server's answer


def _err(name, suffix, status=422, cli="error"):
    return Case(name, suffix, "error", cli, "error", status)


def _ok(name, suffix):
    return Case(name, suffix, "ok", "ok", "ok")


IMAGE_CASES = [
    _err("empty", ".jpg"), _err("text_as_jpg", ".jpg", 415), _err("random_bytes", ".jpg", 415),
    _err("html_as_png", ".png", 415), _err("pdf_header", ".jpg", 415), _err("zip_as_jpg", ".jpg", 415),
    _err("truncated_jpeg", ".jpg"), _err("jpeg_header_only", ".jpg"), _err("jpeg_soi_only", ".jpg", 415),
    _err("garbled_jpeg", ".jpg"), _err("truncated_png", ".png"), _err("png_signature_only", ".png", 415),
    _err("png_bad_crc", ".png", 415), _err("truncated_gif", ".gif", 415),
    _err("png_20000x20000_header", ".png", 413), _err("png_10000x8000_header", ".png", 413),
    _err("jpeg_60000x60000_header", ".jpg", 413), _err("gif_30000x30000_header", ".gif", 413),
    _err("radiance_hdr", ".hdr", 415),  # OpenCV alone reads it, so its size cannot be checked before decoding
    _ok("1x1_png", ".png"), _ok("1x1_jpeg", ".jpg"), _ok("2x2_grey_png", ".png"), _ok("png_16bit_grey", ".png"),
    _ok("png_16bit_rgb", ".png"), _ok("cmyk_jpeg", ".jpg"), _ok("rgba_png", ".png"), _ok("la_png", ".png"),
    _ok("palette_png", ".png"), _ok("animated_gif", ".gif"), _ok("still_gif", ".gif"), _ok("exif_rotated", ".jpg"),
    _ok("grey_jpeg", ".jpg"), _ok("progressive_jpeg", ".jpg"), _ok("bmp", ".bmp"), _ok("tiff", ".tif"),
    _ok("webp", ".webp"), _ok("wrong_suffix_png_as_jpg", ".jpg"), _ok("blank_no_face", ".png"),
    # videos: the API and the server take still images only; the CLI reads them as videos
    Case("corrupt_video", ".mp4", "error", "error", "error", 415),
    Case("empty_video", ".mp4", "error", "error", "error", 422),
    Case("truncated_video", ".mp4", "error", "any", "error", 415),
    Case("video_no_face", ".mp4", "error", "ok", "error", 415),
    Case("folder", "", "error", "error", None), Case("fifo", "", "error", "error", None),
    Case("missing", ".jpg", "error", "error", None),
    Case("unreadable", ".jpg", "error", "error", None),
]

# Cases where OpenCV still prints to stderr next to ferkit's one line (reported against inference/media.py).
MODEL_CASES = ["pickle_runs_code", "text_as_model", "markdown_as_model", "jpeg_as_model", "empty_model",
               "torch_not_ferkit", "truncated_checkpoint", "missing_model", "folder_as_model", "garbage_onnx",
               "wrong_labels"]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """ONNX exports of the tests' checkpoints go to the session's tmp folder, not ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    from ferkit.models import create_model
    from ferkit.training.checkpoint import Checkpoint

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return Checkpoint.from_model("resnet_swish_xs", create_model("resnet_swish_xs")).save(path)


def _pil(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _video(path: Path, frames: list[np.ndarray]) -> bytes:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def _image_bytes(tmp: Path) -> dict[str, bytes]:
    from ferkit.inference.media import sample_image_path

    sample_file = sample_image_path().read_bytes()
    bgr = cv2.imread(str(sample_image_path()))
    rgb = Image.fromarray(bgr[:, :, ::-1].copy())
    small = rgb.resize((128, 150))
    jpeg = bytearray(cv2.imencode(".jpg", bgr)[1].tobytes())
    garbled = bytearray(jpeg)
    garbled[2000:2400] = b"U" * 400
    png = cv2.imencode(".png", cv2.resize(bgr, (128, 150)))[1].tobytes()
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # inside the IHDR chunk's CRC
    gif = _pil(small.convert("P"), "GIF")
    sof = jpeg.index(b"\xff\xc0")  # baseline frame header: height, width at +5, +7
    huge_jpeg = bytearray(jpeg)
    huge_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    huge_gif = bytearray(gif)
    huge_gif[6:10] = struct.pack("<HH", 30000, 30000)  # logical screen
    huge_gif[gif.index(b",") + 5:gif.index(b",") + 9] = struct.pack("<HH", 30000, 30000)  # the image descriptor
    grey16 = (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    zipped = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.txt", "hello")
    frames = [np.full((96, 128, 3), 40 + 20 * i, np.uint8) for i in range(5)]
    video = _video(tmp / "blank.mp4", frames)
    return {
        "empty": b"", "text_as_jpg": b"emotion,pixels,Usage\n0,1 2 3,Training\n",
        "random_bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "html_as_png": b"<!doctype html><html><body>not a picture</body></html>",
        "pdf_header": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "radiance_hdr": cv2.imencode(".hdr", bgr.astype(np.float32))[1].tobytes(),
        "zip_as_jpg": zipped.getvalue(),
        "truncated_jpeg": bytes(jpeg[: len(jpeg) * 3 // 4]), "jpeg_header_only": bytes(jpeg[:400]),
        "jpeg_soi_only": b"\xff\xd8", "garbled_jpeg": bytes(garbled), "truncated_png": png[: len(png) // 2],
        "png_signature_only": b"\x89PNG\r\n\x1a\n", "png_bad_crc": bytes(bad_crc), "truncated_gif": gif[:40],
        "png_20000x20000_header": png_claiming(20000, 20000),
        "png_10000x8000_header": png_claiming(10000, 8000),
        "jpeg_60000x60000_header": bytes(huge_jpeg), "gif_30000x30000_header": bytes(huge_gif),
        "1x1_png": cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(),
        "1x1_jpeg": cv2.imencode(".jpg", np.zeros((1, 1, 3), np.uint8))[1].tobytes(),
        "2x2_grey_png": cv2.imencode(".png", np.zeros((2, 2), np.uint8))[1].tobytes(),
        "png_16bit_grey": cv2.imencode(".png", grey16)[1].tobytes(),
        "png_16bit_rgb": cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes(),
        "cmyk_jpeg": _pil(rgb.convert("CMYK"), "JPEG"), "rgba_png": _pil(rgb.convert("RGBA"), "PNG"),
        "la_png": _pil(rgb.convert("LA"), "PNG"), "palette_png": _pil(rgb.convert("P"), "PNG"),
        "animated_gif": _pil(small.convert("P"), "GIF", save_all=True,
                             append_images=[small.rotate(10).convert("P"), small.rotate(-10).convert("P")]),
        "still_gif": gif, "exif_rotated": _pil(rgb, "JPEG", exif=exif.tobytes()),
        "grey_jpeg": _pil(rgb.convert("L"), "JPEG"), "progressive_jpeg": _pil(rgb, "JPEG", progressive=True),
        "bmp": _pil(small, "BMP"), "tiff": _pil(small, "TIFF"), "webp": _pil(small, "WEBP"),
        "wrong_suffix_png_as_jpg": png, "blank_no_face": cv2.imencode(".png", np.full((90, 120), 200, np.uint8))[1]
        .tobytes(), "corrupt_video": b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8,
        "empty_video": b"", "truncated_video": video[: len(video) // 3], "video_no_face": video,
        "unreadable": sample_file,
    }


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Every image/video case as a path, by case name."""
    tmp = tmp_path_factory.mktemp("corpus")
    data = _image_bytes(tmp)
    out = {}
    for case in IMAGE_CASES:
        path = tmp / f"{case.name}{case.suffix}"
        if case.name in data:
            path.write_bytes(data[case.name])
        out[case.name] = path
    out["folder"].mkdir()
    os.mkfifo(out["fifo"])
    out["unreadable"].chmod(0)
    return out


class _RunsCode:
    """Unpickling this calls os.system: what a malicious "checkpoint" does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="session")
def bad_models(tmp_path_factory, checkpoint) -> dict[str, Path]:
    """Files passed as --model that must be refused; ``pickle_runs_code.marker`` appears if code ran."""
    import torch

    from ferkit.training.checkpoint import load_checkpoint

    tmp = tmp_path_factory.mktemp("models")
    marker = tmp / "code_ran"
    evil = tmp / "pickle_runs_code.pt"
    with open(evil, "wb") as f:
        pickle.dump({"format": "ferkit-checkpoint", "payload": _RunsCode(marker)}, f)
    torch.save({"weights": torch.zeros(3)}, tmp / "torch_not_ferkit.pt")
    data = checkpoint.read_bytes()
    (tmp / "truncated_checkpoint.pt").write_bytes(data[: len(data) // 2])
    (tmp / "text_as_model.pt").write_text("hello, I am a model\n")
    (tmp / "markdown_as_model.pt").write_text("# not a model\n")  # '#' reads as a pickle opcode
    (tmp / "jpeg_as_model.pt").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (tmp / "empty_model.pt").write_bytes(b"")
    (tmp / "folder_as_model").mkdir()
    (tmp / "garbage_onnx.onnx").write_bytes(b"\x08\x07garbage" * 50)
    relabelled = load_checkpoint(checkpoint)
    relabelled.labels = ("a", "b", "c", "d", "e", "f", "g")
    relabelled.save(tmp / "wrong_labels.pt")
    paths = {p.stem if p.is_file() else p.name: p for p in tmp.iterdir()}
    paths["missing_model"] = tmp / "missing_model.pt"
    paths["marker"] = marker
    return paths


def pytest_generate_tests(metafunc):
    """``case``: every image/video case; ``upload_case``: those a client can upload; ``model_case``: bad models."""
    def params(cases):
        def marks(c):
            if c.name == "unreadable" and _ROOT:
                return [pytest.mark.skip(reason="root reads any file")]
            return []
        return [pytest.param(c, id=c.name, marks=marks(c)) for c in cases]

    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", params(IMAGE_CASES))
    if "upload_case" in metafunc.fixturenames:
        metafunc.parametrize("upload_case", params([c for c in IMAGE_CASES if c.server is not None]))
    if "model_case" in metafunc.fixturenames:
        metafunc.parametrize("model_case", MODEL_CASES)


_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="session")
def cases() -> list[Case]:
    """The image/video case table, for tests that run the whole corpus at once."""
    return [c for c in IMAGE_CASES if not (c.name == "unreadable" and _ROOT)]
