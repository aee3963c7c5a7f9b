"""``ferkit predict`` and ``ferkit export``: in-process through ``main`` and, for what a user sees, in a subprocess."""

import csv
import json
import os
import subprocess
import sys

import pytest

from ferkit.cli import main
from ferkit.labels import EMOTIONS
from ferkit.inference.results import COLUMNS, VIDEO_COLUMNS


def ferkit(*args, env_cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "FERKIT_CACHE": str(env_cache)}
    return subprocess.run([sys.executable, "-m", "ferkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_predict_sample_prints_a_line_per_face(onnx_model, sample, cache):
    proc = ferkit("predict", sample, "--model", onnx_model, env_cache=cache)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith(f"{sample} face 0 at x=") and any(f": {e} " in line for e in EMOTIONS)
    assert "1 image(s): 1 face(s) found" in proc.stderr


def test_bad_inputs_one_line_each_and_exit_1(onnx_model, sample, bad_inputs, tmp_path, cache):
    out = tmp_path / "rows.csv"
    junk_video = tmp_path / "junk.mp4"
    junk_video.write_bytes(bad_inputs["corrupt"].read_bytes())
    bad = [*bad_inputs.values(), junk_video]
    proc = ferkit("predict", *bad, sample, "99", "--model", onnx_model, "--csv", out, env_cache=cache)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert all(line.startswith("ferkit: ") for line in lines), proc.stderr  # no library noise, no traceback
    for path in bad:
        assert sum(str(path) in line for line in lines) == 1, proc.stderr
    assert sum("webcam 99: cannot be opened" in line for line in lines) == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["source"] for r in rows] == [str(sample)]  # the good input still ran


def test_torch_backend_and_json(checkpoint, sample, tmp_path, cache):
    out = tmp_path / "rows.json"
    proc = ferkit("predict", sample, "--model", checkpoint, "--backend", "torch", "--tta", "--json", out,
                  env_cache=cache)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())
    assert tuple(row) == COLUMNS
    assert sum(row[e] for e in EMOTIONS) == pytest.approx(1, abs=1e-4)


def test_an_ensemble_predicts_the_mean_of_its_members(checkpoint, onnx_model, sample, tmp_path):
    rows = {}
    for name, model in (("pt", checkpoint), ("onnx", onnx_model), ("both", f"{checkpoint},{onnx_model}")):
        assert main(["predict", str(sample), "--model", str(model), "--json", str(tmp_path / f"{name}.json")]) == 0
        (rows[name],) = json.loads((tmp_path / f"{name}.json").read_text())
    for emotion in EMOTIONS:
        assert rows["both"][emotion] == pytest.approx((rows["pt"][emotion] + rows["onnx"][emotion]) / 2, abs=2e-6)
    assert main(["predict", str(sample), "--model", f"{checkpoint},{tmp_path}/nope.pt"]) == 1


def test_export_then_predict_with_it(checkpoint, tmp_path, cache, sample):
    out = tmp_path / "m.onnx"
    proc = ferkit("export", "--format", "onnx", "--model", checkpoint, "--out", out, env_cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout and "same top-1 class: yes" in proc.stdout
    assert "on 54 crops of a real face" in proc.stdout
    diff = float(proc.stdout.split("probabilities ")[1].split(",")[0])
    assert diff <= 1e-4
    assert main(["predict", str(sample), "--model", str(out), "--csv", str(tmp_path / "r.csv")]) == 0


def test_video_csv_has_frame_time_and_track(onnx_model, face_video, tmp_path, capsys):
    out = tmp_path / "rows.csv"
    assert main(["predict", str(face_video), "--model", str(onnx_model), "--every", "4", "--smooth", "0.5",
                 "--csv", str(out), "--save", str(tmp_path / "annotated")]) == 0
    with out.open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS + VIDEO_COLUMNS
        rows = list(reader)
    assert [(r["frame"], r["time_s"], r["track"]) for r in rows] == [("0", "0.0", "0"), ("4", "0.4", "0")]
    assert (tmp_path / "annotated" / "drift.mp4").stat().st_size > 0


def test_mixed_images_and_video_fill_video_columns_only_for_frames(onnx_model, sample, face_video, tmp_path):
    out = tmp_path / "rows.json"
    assert main(["predict", str(sample), str(face_video), "--model", str(onnx_model), "--every", "8",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["frame"] for r in rows] == [None, 0]


def test_no_face_and_no_face_video_are_not_errors(onnx_model, blank_video, tmp_path, capsys):
    import cv2
    import numpy as np

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 200, np.uint8))
    assert main(["predict", str(blank), str(blank_video), "--model", str(onnx_model)]) == 0
    captured = capsys.readouterr()
    assert f"{blank}: no face" in captured.out
    assert f"no face in 2: {blank}, {blank_video} (6 frames)" in captured.err


@pytest.mark.parametrize("args, message", [
    (["--model", "{tmp}"], "is a folder"),
    (["--model", "{tmp}/none.pt"], "no such model file"),
    (["--detector", "mtcnn", "--model", "{onnx}"], "unknown face detector 'mtcnn'"),
    (["--model", "{onnx}", "--csv", "{tmp}/out.txt", "--json", "{tmp}/./out.txt"], "both write to"),
    (["--model", "{onnx}", "--save", "{tmp}/file.txt"], "--save {tmp}/file.txt: is a file, expected a folder"),
])
def test_bad_options_give_one_error_line(args, message, sample, onnx_model, tmp_path, capsys):
    args = [a.format(tmp=tmp_path, onnx=onnx_model) for a in args]
    (tmp_path / "file.txt").touch()
    assert main(["predict", str(sample), *args]) == 1
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and len(err.strip().splitlines()) == 1


def test_crops_reads_dataset_faces(onnx_model, sample_image, tmp_path, capsys):
    import cv2

    face = cv2.resize(cv2.cvtColor(sample_image, cv2.COLOR_BGR2GRAY)[100:340, 150:390], (48, 48))
    cv2.imwrite(str(tmp_path / "f.png"), face)
    assert main(["predict", str(tmp_path / "*.png"), "--crops", "--model", str(onnx_model)]) == 0
    assert "face 0 at x=0 y=0 w=48 h=48" in capsys.readouterr().out


def test_predict_with_an_onnx_model_imports_no_heavy_package(onnx_model, sample, cache):
    # The cold start of `ferkit predict` is mostly imports: torch alone takes 2-3 s on 2 cores.
    heavy = "('torch', 'lightning', 'torchmetrics', 'matplotlib', 'pandas')"
    code = ("import sys; from ferkit.cli import main; main(['predict', sys.argv[1], '--model', sys.argv[2]]); "
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(sample), str(onnx_model)], capture_output=True, text=True,
                          env={**os.environ, "FERKIT_CACHE": str(cache)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_import_ferkit_is_cheap():
    code = "import sys, ferkit; print(sorted(m for m in ('numpy', 'cv2', 'torch') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]"


def test_align_option_reaches_the_recognizer(onnx_model, sample, tmp_path, monkeypatch):
    from ferkit.inference import recognizer

    seen = []
    real = recognizer.crop_faces
    monkeypatch.setattr(recognizer, "crop_faces", lambda *a, **k: seen.append(a[-1]) or real(*a, **k))
    assert main(["predict", str(sample), "--model", str(onnx_model), "--align", "--json", str(tmp_path / "f.json")]) == 0
    assert seen == [True]
    rows = json.loads((tmp_path / "f.json").read_text())
    assert len(rows) == 1 and "landmarks" not in rows[0]  # the JSON columns are unchanged


def test_min_face_finds_the_small_faces_of_a_group_photo(onnx_model, group_photo, tmp_path):
    import cv2

    photo = tmp_path / "group.png"
    cv2.imwrite(str(photo), group_photo(24))
    counts = {}
    for option in ([], ["--min-face", "24"]):
        out = tmp_path / f"faces{len(option)}.json"
        assert main(["predict", str(photo), "--model", str(onnx_model), "--json", str(out), *option]) == 0
        counts[len(option)] = len(json.loads(out.read_text()))
    assert counts[0] < 6 and counts[2] == 6


@pytest.mark.parametrize("margin", ["nan", "inf", "-1", "abc"])
def test_a_margin_that_breaks_the_crop_is_refused(margin, sample, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(sample), "--margin", margin])
    assert exit_.value.code == 2 and "argument --margin: " in capsys.readouterr().err


def test_csv_keeps_a_file_name_that_is_not_utf8(onnx_model, sample, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes on disk: a surrogate in Python
    (folder / name).write_bytes(sample.read_bytes())
    (folder / "ok.jpg").write_bytes(sample.read_bytes())
    out = tmp_path / "faces.csv"
    assert main(["predict", str(folder), "--model", str(onnx_model), "--csv", str(out)]) == 0
    rows = out.read_bytes().splitlines()[1:]
    assert len(rows) == 2 and rows[0].startswith(os.fsencode(str(folder / name)) + b",0,")
