"""``ferkit data summary`` driven through a subprocess, as a user runs it."""

import json

import pytest
from conftest import (
    FER2013_COUNTS, FER2013_CSV, FER2013_TRUNCATED, FER2013_ZIP, FERPLUS_CSV, expected_per_class, require, run_cli,
    synthetic_faces, write_fer2013_csv, write_image,
)


def _summary(*args):
    result = run_cli("data", "summary", *args, "--json", user_cache=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_standard_counts(summary):
    assert summary["n"] == 35887
    for split, (n, _) in FER2013_COUNTS.items():
        assert summary["splits"][split] == {"n": n, "per_class": expected_per_class(split)}
    d = summary["duplicates"]
    assert (d["test_in_train"], d["val_in_train"], d["test_in_val"]) == (288, 280, 44)
    assert summary["near_blank"]["n"] == 13


def test_real_csv_summary_with_ferplus(fer2013):  # the fixture fills the cache the subprocess reads
    summary = _summary(require(FER2013_CSV), "--ferplus", require(FERPLUS_CSV))
    _assert_standard_counts(summary)
    assert (summary["duplicates"]["groups"], summary["duplicates"]["rows"]) == (1514, 3365)
    ferplus = summary["ferplus"]
    assert ferplus["n"] + ferplus["dropped"] == 35887
    assert sum(ferplus["splits"]["test"]["per_class"].values()) == ferplus["splits"]["test"]["n"]


def test_real_zip_summary(fer2013_zip):
    _assert_standard_counts(_summary(require(FER2013_ZIP)))


def test_text_output(tmp_path):
    csv = write_fer2013_csv(tmp_path / "f.csv", synthetic_faces(2), [3, 3], ["Training", "PrivateTest"])
    result = run_cli("data", "summary", csv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fer2013: 2 faces") and "near-blank faces (pixel std < 2): 0" in result.stdout
    assert [ln.split()[:2] for ln in result.stdout.splitlines()[2:5]] == [["train", "1"], ["val", "0"], ["test", "1"]]


def _error(*args) -> str:
    result = run_cli("data", "summary", *args)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ferkit: error: ")
    return result.stderr


def test_truncated_real_file_is_one_line():
    path = require(FER2013_TRUNCATED)
    assert f"{path}: row 152 (line 153): expected 3 fields" in _error(path)


def test_bad_inputs_are_one_line(tmp_path):
    assert "no such file or folder" in _error(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n1,2,3\n")
    assert "expected columns emotion,pixels,Usage" in _error(wrong)
    short = tmp_path / "short.csv"
    short.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    assert "row 1 (line 2): 3 pixel values, expected 2304" in _error(short)
    write_image(tmp_path / "tree/train/grumpy/Training_1.png", synthetic_faces(1)[0])
    assert "'grumpy'" in _error(tmp_path / "tree")


def test_unreadable_image_is_reported(tmp_path):
    write_image(tmp_path / "tree/train/angry/Training_1.png", synthetic_faces(1)[0])
    (tmp_path / "tree/train/angry/Training_2.jpg").write_bytes(b"\xff\xd8 truncated")
    result = run_cli("data", "summary", tmp_path / "tree", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skipped"] == {"n": 1, "files": ["train/angry/Training_2.jpg"]}


@pytest.mark.parametrize("args", [["data"], ["data", "summary"]])
def test_usage_errors(args):
    assert run_cli(*args).returncode == 2
