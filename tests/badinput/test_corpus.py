"""Every bad input through the Python API, the CLI and the server: a result or one clear line, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ferkit.errors import FerkitError

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
_NOISE = ("Traceback", "[ WARN", "[ERROR", "libpng", "Corrupt JPEG", "Premature end")


def test_corpus_is_large_enough(corpus, bad_models):
    bad_models = {k: v for k, v in bad_models.items() if k != "marker"}
    assert len(corpus) + len(bad_models) >= 50


@pytest.fixture(scope="module")
def recognizer(checkpoint):
    from ferkit import Recognizer

    return Recognizer(checkpoint)


def _one_clear_line(text: str, name: str) -> None:
    assert "\n" not in text.strip(), text
    assert name in text, text
    assert not any(n in text for n in _NOISE), text


def test_python_api(case, corpus, recognizer, capfd):
    path = corpus[case.name]
    if case.api == "ok":
        result = recognizer.predict(path)
        assert result.image is not None and result.image.dtype.name == "uint8" and result.image.ndim == 3
        if case.name == "exif_rotated":  # 512x600 portrait stored with "rotate 90": read as 600 wide
            assert result.image.shape[:2] == (512, 600)
    else:
        with pytest.raises(FerkitError) as caught:
            recognizer.predict(path)
        _one_clear_line(str(caught.value), path.name)
    err = capfd.readouterr().err
    assert not any(n in err for n in _NOISE), err


def test_cli_predict(case, corpus, checkpoint, capfd):
    from ferkit.cli import main

    path = corpus[case.name]
    code = main(["predict", str(path), "--model", str(checkpoint), "--no-progress"])
    out, err = capfd.readouterr()
    assert not any(n in out + err for n in _NOISE), err
    if case.cli == "ok":
        assert code == 0, err
    elif case.cli == "error":
        assert code == 1
        skipped = [line for line in err.splitlines() if path.name in line]
        assert len(skipped) == 1, err
    else:
        assert code in (0, 1)


@pytest.fixture(scope="module")
def client(checkpoint):
    from fastapi.testclient import TestClient

    from ferkit.serve.app import create_app

    with TestClient(create_app(model=str(checkpoint))) as c:
        yield c


def test_server(upload_case, corpus, client):
    case = upload_case
    path = corpus[case.name]
    r = client.post("/v1/predict", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == case.status, r.text
    body = r.json()
    if case.server == "ok":
        assert isinstance(body["faces"], list) and body["image"]["width"] > 0
    else:
        assert set(body) == {"error"}
        _one_clear_line(body["error"], path.name)


def test_cli_subprocess_reports_each_bad_input_once(corpus, checkpoint, cases):
    """The real command over the whole corpus at once: it goes on past each bad input and names it once."""
    run = subprocess.run([sys.executable, "-m", "ferkit", "predict", "--model", str(checkpoint), "--no-progress",
                          *[str(corpus[c.name]) for c in cases]], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert not any(n in run.stderr for n in _NOISE), run.stderr
    for case in cases:
        named = [line for line in run.stderr.splitlines() if corpus[case.name].name + ":" in line]
        assert len(named) == (1 if case.cli == "error" else 0) or case.cli == "any", (case.name, run.stderr)


def test_bad_models_are_refused_everywhere(model_case, bad_models, corpus, capfd, monkeypatch):
    import uvicorn

    from ferkit import Recognizer
    from ferkit.cli import main

    model = bad_models[model_case]
    with pytest.raises(FerkitError) as caught:
        Recognizer(model)
    _one_clear_line(str(caught.value), model.name)
    capfd.readouterr()
    sample = corpus["1x1_png"]
    assert main(["predict", str(sample), "--model", str(model)]) == 1
    err = capfd.readouterr().err
    assert err.startswith("ferkit: error: ") and err.count("\n") == 1 and model.name in err, err

    def started(*args, **kwargs):
        raise AssertionError("the server started with a bad model")

    monkeypatch.setattr(uvicorn, "run", started)
    assert main(["serve", "--model", str(model), "--port", "0"]) == 1
    err = capfd.readouterr().err
    assert err.startswith("ferkit: error: ") and err.count("\n") == 1 and model.name in err, err
    assert not bad_models["marker"].exists(), "unpickling the model ran its code"


def test_pickle_checkpoint_is_refused_by_the_serve_command(bad_models):
    run = subprocess.run([sys.executable, "-m", "ferkit", "serve", "--model", str(bad_models["pickle_runs_code"]),
                          "--port", "0"], capture_output=True, text=True, timeout=180)
    assert run.returncode == 1 and run.stdout == ""
    errors = [line for line in run.stderr.splitlines() if line.startswith("ferkit: error: ")]
    assert len(errors) == 1 and "refused to load" in errors[0] and "Traceback" not in run.stderr
    assert not bad_models["marker"].exists()
    assert run.stderr.count("\n") == 1, run.stderr  # the refusal line and nothing else
