"""``ferkit evaluate``, ``explain`` and ``compare`` driven through a subprocess, end to end on small slices."""

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def cli_report(run_cli, checkpoint, fer_csv, ferplus_csv, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "report"
    card = out.parent / "docs" / "MODEL_CARD.md"
    result = run_cli("evaluate", "--model", checkpoint, "--data", fer_csv, "--ferplus", ferplus_csv,
                     "--photos", photos, "--out", out, "--limit", 30, "--model-card", card)
    assert result.returncode == 0, result.stderr
    return out, card, result


def test_evaluate_writes_the_report_and_the_card(cli_report):
    out, card, result = cli_report
    assert "accuracy" in result.stdout and "--limit: a quick look" in result.stdout
    assert f"report: {out / 'report.html'}" in result.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 30 and m["data"]["limit"] == 30
    # the recorded command reproduces the report
    assert m["command"].startswith("ferkit evaluate --model ") and "--limit 30" in m["command"]
    assert len(m["figures"]) == 6 and all((out / f).is_file() for f in m["figures"].values())
    assert (out / "report.html").stat().st_size > 50_000 and (out / "report.md").is_file()
    assert card.is_file() and m["model"]["sha256"] in card.read_text()
    assert "**Only the first 30 faces" in card.read_text()


def test_compare_prints_a_table_and_saves_a_chart(run_cli, cli_report, tmp_path):
    out, _, _ = cli_report
    other = tmp_path / "other"
    other.mkdir()
    m = json.loads((out / "metrics.json").read_text())
    m.update(accuracy=0.99, ece=0.5, split="val", n=35, wild=None)
    (other / "metrics.json").write_text(json.dumps(m))
    chart = tmp_path / "chart.png"
    result = run_cli("compare", out, other, "--save", chart)
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0]: line.split()[-2:] for line in result.stdout.splitlines()[2:]}
    assert result.stdout.splitlines()[0].split() == ["metric", "report", "other"]
    assert rows["accuracy"][1] == "0.9900*"  # '*': the best of the row
    assert rows["ECE"][1] == "0.5000" and rows["ECE"][0].endswith("*")  # lower is better
    assert rows["in the wild (weak)"][1] == "-"
    assert "test (30)" in result.stdout and "val (35)" in result.stdout
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_explain_draws_the_map_over_the_photo(run_cli, checkpoint, photos, tmp_path):
    saved = tmp_path / "explained.png"
    result = run_cli("explain", photos / "images" / "a.jpg", "--model", checkpoint, "--save", saved)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("face 0 at x=") and f"wrote {saved}" in result.stdout
    import cv2

    original, drawn = cv2.imread(str(photos / "images" / "a.jpg")), cv2.imread(str(saved))
    assert drawn.shape == original.shape and (drawn != original).any()


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--data", "{missing}", "--model", "{model}"], "no such dataset"),
    (["evaluate", "--data", "{fer}", "--model", "{onnx}"], "not an ONNX export"),
    (["evaluate", "--data", "{fer}", "--model", "{model}", "--photos", "{missing}"], "no such photo set"),
    (["explain", "{blank}", "--model", "{model}"], "no face found"),
    (["compare", "{tmp}"], "no metrics.json"),
])
def test_user_errors_are_one_line(capsys, checkpoint, fer_csv, photos, tmp_path, args, message):
    from ferkit.cli import main

    (tmp_path / "model.onnx").write_bytes(b"onnx")
    values = {"missing": tmp_path / "nope.csv", "blank": photos / "images" / "e.jpg", "tmp": tmp_path,
              "fer": fer_csv, "onnx": tmp_path / "model.onnx", "model": checkpoint}
    assert main([a.format(**values) for a in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferkit: error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not (SHARED / "fer2013" / "fer2013.csv.gz").exists(), reason="shared data absent")
def test_evaluate_real_fer2013_slice(checkpoint, monkeypatch, user_cache):
    """The real CSV with FER+ labels, on a 64-face slice (the decoded CSV comes from the user's cache)."""
    from ferkit.evaluation.report import evaluate

    user_cache(monkeypatch)
    m = evaluate(checkpoint, SHARED / "fer2013" / "fer2013.csv.gz", ferplus=SHARED / "ferplus" / "fer2013new.csv",
                 limit=64).to_dict()
    assert m["n"] == 64 and m["data"]["name"].startswith("fer2013")
    assert 0 < m["n_ferplus"] <= 64 and 0 < m["n_dedup"] <= 64
    assert sum(c["support"] for c in m["per_class"].values()) == 64
