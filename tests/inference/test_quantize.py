"""The int8 model: ``quantize_onnx``, ``ferkit export --int8``, ``--int8`` on the backends, and the shipped file."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from ferkit.assets import DEFAULT_INT8_MODEL, DEFAULT_MODEL
from ferkit.cli import int8_loses_too_much, main
from ferkit.data.cache import file_digest
from ferkit.inference.backends import BackendError, OnnxBackend, TorchBackend, open_backend
from ferkit.inference.onnx_export import sample_faces
from ferkit.inference.quantize import (QuantCheck, calibration_faces, calibration_split, check_quantized,
                                      quantize_onnx)

FER2013_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


@pytest.fixture(scope="module")
def face_csv(tmp_path_factory) -> Path:
    """A FER2013-format CSV of real face crops (the bundled portrait's), all in PublicTest."""
    faces = sample_faces()
    lines = ["emotion,pixels,Usage"] + [f"{i % 7},{' '.join(map(str, f.ravel()))},PublicTest"
                                        for i, f in enumerate(faces)]
    path = tmp_path_factory.mktemp("calib") / "faces.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def int8_default(tmp_path_factory) -> Path:
    """The shipped model quantized here on the portrait's crops."""
    return quantize_onnx(None, tmp_path_factory.mktemp("int8") / "m.int8.onnx", sample_faces())


def test_int8_file_describes_itself_and_its_source(int8_default):
    meta = {p.key: p.value for p in onnx.load(str(int8_default)).metadata_props}
    assert meta["precision"] == "int8" and meta["source_digest"] == file_digest(DEFAULT_MODEL)
    assert "test" not in json.loads(meta["metrics"])  # the checkpoint's test figures are not the int8 model's
    assert OnnxBackend(int8_default).info.precision == "int8"
    assert int8_default.stat().st_size < 0.5 * DEFAULT_MODEL.stat().st_size  # int8 weights


def test_int8_stays_close_to_torch_on_real_faces(int8_default):
    faces = sample_faces()
    fp32, int8 = TorchBackend(DEFAULT_MODEL)(faces), OnnxBackend(int8_default)(faces)
    np.testing.assert_allclose(int8.sum(1), 1, atol=1e-4)
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.9
    assert np.abs(fp32 - int8).mean() < 0.02


def test_shipped_int8_model_was_made_from_the_shipped_model():
    meta = {p.key: p.value for p in onnx.load(str(DEFAULT_INT8_MODEL)).metadata_props}
    assert meta["precision"] == "int8"
    assert meta["source_digest"] == file_digest(DEFAULT_MODEL), "re-make it: see docs/TRAINING.md"
    assert open_backend(None, int8=True).info.path == str(DEFAULT_INT8_MODEL)


@pytest.mark.skipif(not FER2013_CSV.exists(), reason="shared data absent")
def test_shipped_int8_model_keeps_privatetest_accuracy():
    from ferkit.data import load_dataset

    test = load_dataset(FER2013_CSV).by_split("test")
    check = check_quantized(None, DEFAULT_INT8_MODEL, test.faces, test.labels)
    assert check.accuracy_int8 >= check.accuracy_fp32 - 0.005
    assert check.same_top1 >= 0.95


def test_int8_refuses_what_it_cannot_run(checkpoint, onnx_model):
    with pytest.raises(BackendError, match="onnx backend only"):
        open_backend(None, "torch", int8=True)
    with pytest.raises(BackendError, match=r"tiny\.pt: no int8 version; make one with ferkit export --int8"):
        open_backend(checkpoint, int8=True)
    with pytest.raises(BackendError, match=r"tiny\.onnx: not an int8 model \(fp32\)"):
        open_backend(onnx_model, int8=True)


def test_shipped_int8_model_is_refused_beside_another_shipped_checkpoint(checkpoint, monkeypatch):
    import ferkit.inference.backends as backends

    monkeypatch.setattr(backends, "default_model_file", lambda: checkpoint)
    with pytest.raises(BackendError, match="made from another checkpoint than the shipped tiny.pt"):
        open_backend(None, int8=True)


def test_calibration_never_reads_the_test_split(face_csv):
    with pytest.raises(BackendError, match="not test"):
        calibration_split(face_csv, "test")
    faces = calibration_faces(calibration_split(face_csv, "val"), count=10)
    assert faces.shape == (10, 48, 48)


def test_cli_export_int8_writes_checks_and_reports(face_csv, tmp_path, capsys):
    out = tmp_path / "m.int8.onnx"
    assert main(["export", "--format", "onnx", "--int8", "--calibration", str(face_csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "calibrated on 54 val faces" in printed
    assert "checked against PyTorch on the 54 val faces: same top-1 class" in printed
    assert OnnxBackend(out).info.precision == "int8"


@pytest.mark.parametrize("faces, lost, too_much", [(3589, 35, False), (3589, 36, True), (3589, -20, False),
                                                  (54, 1, False), (54, 2, True)])
def test_int8_gate_allows_one_percent_or_one_face(faces, lost, too_much):
    fp32 = 0.5
    check = QuantCheck(faces=faces, same_top1=0.97, max_abs_diff=0.1, accuracy_fp32=fp32,
                       accuracy_int8=fp32 - lost / faces)
    assert int8_loses_too_much(check) is too_much


def test_export_of_an_onnx_file_says_it_needs_a_checkpoint(onnx_model, face_csv, tmp_path, capsys):
    for extra in ([], ["--int8", "--calibration", str(face_csv)]):
        assert main(["export", "--model", str(onnx_model), "--out", str(tmp_path / "x.onnx"), *extra]) == 1
        assert "tiny.onnx: already an ONNX model; export takes a ferkit checkpoint (.pt)" in capsys.readouterr().err


def test_cli_export_int8_needs_calibration_and_calibration_needs_int8(face_csv, capsys):
    assert main(["export", "--int8"]) == 2
    assert "--int8 needs --calibration DATA" in capsys.readouterr().err
    assert main(["export", "--calibration", str(face_csv)]) == 2
    assert "--calibration goes with --int8" in capsys.readouterr().err


def test_cli_predict_int8_on_the_sample(sample, capsys):
    assert main(["predict", str(sample), "--int8", "--no-progress"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{sample} face 0 at x=")
