"""Fixtures for the server tests: a tiny checkpoint, an app on it, and a real uvicorn on a free port.

The shipped model may not exist yet, so every app is given a random-weight
checkpoint explicitly. Nothing is downloaded.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """ONNX exports of the tests' checkpoints go to the session's tmp folder, not ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """resnet_swish_xs with random weights, and a recorded test accuracy for the model card."""
    from ferkit.models import create_model
    from ferkit.training.checkpoint import Checkpoint

    model = create_model("resnet_swish_xs")
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return Checkpoint.from_model("resnet_swish_xs", model, metrics={"test": {"accuracy": 0.6125}}).save(path)


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    from ferkit.inference.media import sample_image_path

    return sample_image_path().read_bytes()


@pytest.fixture(scope="session")
def client(checkpoint):
    from fastapi.testclient import TestClient

    from ferkit.serve.app import create_app

    with TestClient(create_app(model=str(checkpoint), max_upload_bytes=2_000_000)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(checkpoint, tmp_path_factory):
    """``ferkit serve`` in a subprocess (the CLI end to end); yields its base URL."""
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ferkit", "serve", "--port", str(port), "--model",
                                 str(checkpoint)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ferkit serve exited with {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ferkit serve did not answer within 60 s: {log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
