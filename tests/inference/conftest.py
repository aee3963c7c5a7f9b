"""Fixtures for the inference tests: a tiny random checkpoint, its ONNX export, and media written here.

Nothing is downloaded or read from outside the repository: the one real photo is
the bundled sample; videos and broken files are generated.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scenes
from pngs import png_claiming
from scenes import SAMPLE_FACE


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """The ONNX cache of every test lives in the test session's tmp folder, not in ~/.cache."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A resnet_swish_xs checkpoint with random weights whose outputs depend on the face
    (BN statistics taken from real and noise faces, residual branches switched on),
    and a temperature of 2 so that its use is visible."""
    import torch

    from ferkit.data.preprocess import to_input
    from ferkit.inference.onnx_export import sample_faces
    from ferkit.models import create_model
    from ferkit.training.checkpoint import Checkpoint, DEFAULT_NORMALIZATION

    torch.manual_seed(0)
    model = create_model("resnet_swish_xs")
    noise = np.random.default_rng(0).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)  # a fresh model zeroes some: its outputs barely move
                m.momentum = None  # running statistics = the average over the batch below
        model.train()(to_input(np.concatenate([sample_faces(), noise]), DEFAULT_NORMALIZATION))
        model.head[-1].weight.mul_(4)
        model.temperature.fill_(2.0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return Checkpoint.from_model("resnet_swish_xs", model.eval()).save(path)


@pytest.fixture(scope="session")
def onnx_model(checkpoint, tmp_path_factory) -> Path:
    from ferkit.inference.onnx_export import export_onnx

    return export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="session")
def sample_face():
    from ferkit.inference.detectors import FaceBox

    return FaceBox(*SAMPLE_FACE)


@pytest.fixture(scope="session")
def sample() -> Path:
    from ferkit.inference.media import sample_image_path

    return sample_image_path()


@pytest.fixture(scope="session")
def sample_image(sample) -> np.ndarray:
    return cv2.imread(str(sample))


@pytest.fixture(scope="session")
def group_photo(sample_image):
    """``group_photo(face_width)``: ``scenes.group_photo`` of the bundled portrait."""
    return lambda face_width: scenes.group_photo(sample_image, face_width)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def face_video(sample_image, tmp_path_factory) -> Path:
    """8 frames of 320x240 at 10 fps: the portrait's face drifting right by 4 px a frame."""
    small = cv2.resize(sample_image, (160, 188))
    frames = []
    for i in range(8):
        frame = np.full((240, 320, 3), 90, np.uint8)
        x = 40 + 4 * i
        frame[20:208, x:x + 160] = small
        frames.append(frame)
    return write_video(tmp_path_factory.mktemp("video") / "drift.mp4", frames)


@pytest.fixture(scope="session")
def blank_video(tmp_path_factory) -> Path:
    """6 frames of a grey gradient: a video with no face."""
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    frames = [cv2.cvtColor(np.roll(ramp, 10 * i, axis=1), cv2.COLOR_GRAY2BGR) for i in range(6)]
    return write_video(tmp_path_factory.mktemp("video") / "blank.mp4", frames)


@pytest.fixture
def bad_inputs(tmp_path, sample_image) -> dict[str, Path]:
    """One file per way an input can be broken, keyed by what is wrong with it."""
    png = cv2.imencode(".png", sample_image)[1].tobytes()
    jpeg = bytearray(cv2.imencode(".jpg", sample_image)[1].tobytes())
    jpeg[2000:2400] = b"U" * 400  # damaged entropy-coded data: libjpeg complains and decodes grey
    files = {
        "empty": b"",
        "corrupt": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        "text": b"emotion,pixels,Usage\nnot an image\n",
        "truncated": png[: len(png) // 2],
        "truncated_jpeg": bytes(jpeg[: len(jpeg) * 3 // 4]),
        "garbled": bytes(jpeg),
        "huge": png_claiming(10_000, 8_000),
    }
    suffix = {"text": ".txt", "truncated": ".png", "huge": ".png"}
    out = {}
    for name, data in files.items():
        path = tmp_path / f"{name}{suffix.get(name, '.jpg')}"
        path.write_bytes(data)
        out[name] = path
    out["missing"] = tmp_path / "missing.jpg"
    out["folder"] = tmp_path / "empty_folder"
    out["folder"].mkdir()
    return out
