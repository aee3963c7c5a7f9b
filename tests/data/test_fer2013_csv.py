import numpy as np
import pytest
from conftest import (
    FER2013_COUNTS, FER2013_TRUNCATED, expected_per_class, fer2013_csv_text, require, synthetic_faces,
    write_fer2013_csv,
)

from ferkit.data import DataError, load_fer2013_csv
from ferkit.data import fer2013_csv as module


def test_real_csv_has_the_standard_counts(fer2013):
    assert len(fer2013) == 35887
    assert fer2013.faces.dtype == np.uint8 and fer2013.faces.shape == (35887, 48, 48)
    for split, (n, _) in FER2013_COUNTS.items():
        part = fer2013.by_split(split)
        assert len(part) == n
        assert part.class_counts() == expected_per_class(split)
    assert fer2013.source[0] == "fer2013:0" and fer2013.source[-1] == "fer2013:35886"


def test_real_truncated_file_names_file_and_row():
    path = require(FER2013_TRUNCATED)
    with pytest.raises(DataError) as e:
        load_fer2013_csv(path)
    message = str(e.value)
    assert str(path) in message and "row 152 (line 153)" in message and "truncated" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["faces.csv", "faces.csv.gz"])
def test_round_trip(tmp_path, name):
    faces = synthetic_faces(5)
    path = write_fer2013_csv(tmp_path / name, faces, [0, 3, 6, 2, 1],
                             ["Training", "Training", "PublicTest", "PrivateTest", "Training"])
    ds = load_fer2013_csv(path)
    np.testing.assert_array_equal(ds.faces, faces)
    assert ds.labels.tolist() == [0, 3, 6, 2, 1]
    assert ds.split.tolist() == ["train", "train", "val", "test", "train"]
    assert ds.source.tolist() == [f"fer2013:{i}" for i in range(5)]


def test_crlf_and_blank_lines(tmp_path):
    faces = synthetic_faces(3, seed=1)
    text = fer2013_csv_text(faces, [1, 2, 3], ["Training"] * 3, newline="\r\n")
    path = tmp_path / "crlf.csv"
    path.write_text(text.replace("\r\n1,", "\r\n\r\n1,", 1), newline="")
    ds = load_fer2013_csv(path)
    np.testing.assert_array_equal(ds.faces, faces)
    assert ds.labels.tolist() == [1, 2, 3]


def test_chunks_of_rows_join_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "ROWS_PER_CHUNK", 2)  # 7 rows: chunks of 2, 2, 2, 1
    faces = synthetic_faces(7, seed=2)
    ds = load_fer2013_csv(write_fer2013_csv(tmp_path / "f.csv", faces, [0] * 7, ["Training"] * 7))
    np.testing.assert_array_equal(ds.faces, faces)


def _broken(tmp_path, edit) -> str:
    """Write 3 good rows, let ``edit`` break the text, and return the one-line error."""
    text = fer2013_csv_text(synthetic_faces(3, seed=3), [0, 1, 2], ["Training"] * 3)
    path = tmp_path / "broken.csv"
    path.write_text(edit(text))
    with pytest.raises(DataError) as e:
        load_fer2013_csv(path, use_cache=False)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    return str(e.value)


def _edit_row(row: int, edit):
    def apply(text: str) -> str:
        lines = text.split("\n")
        lines[row] = edit(lines[row])
        return "\n".join(lines)
    return apply


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace("emotion,pixels,Usage", "label,image,split"), "expected columns emotion,pixels,Usage"),
    (_edit_row(2, lambda ln: ln.replace(" ", " 7 ", 1)), "row 2 (line 3): 2305 pixel values, expected 2304"),
    (_edit_row(2, lambda ln: ln.rsplit(" ", 1)[0] + ",Training"), "row 2 (line 3): 2303 pixel values"),
    (_edit_row(3, lambda ln: ln.replace(" ", " 256 ", 1).replace(" ", "", 1)), "row 3 (line 4)"),
    (_edit_row(1, lambda ln: ln.replace(" ", " 1x ", 1)), "row 1 (line 2): unexpected character 'x'"),
    (_edit_row(1, lambda ln: "7" + ln[1:]), "row 1 (line 2): emotion '7' is not a class id 0-6"),
    (_edit_row(2, lambda ln: ln.replace("Training", "Validation")), "row 2 (line 3): unknown Usage 'Validation'"),
    (_edit_row(3, lambda ln: ln.rsplit(",", 1)[0]), "row 3 (line 4): expected 3 fields"),
    (lambda t: "", "empty file"),
    (lambda t: t.split("\n")[0] + "\n", "no data rows"),
])
def test_broken_input_is_one_clear_line(tmp_path, edit, expected):
    assert expected in _broken(tmp_path, edit)


def test_value_above_255_names_the_value(tmp_path):
    message = _broken(tmp_path, _edit_row(2, lambda ln: ln.replace(",", ",300 ", 1).rsplit(" ", 1)[0] + ",Training"))
    assert "row 2 (line 3): pixel value 300 outside 0-255" in message


def test_missing_path_folder_and_bad_gzip(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_fer2013_csv(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_fer2013_csv(tmp_path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(DataError, match="cannot read"):
        load_fer2013_csv(bad)


def test_second_load_reads_the_cache_and_new_content_does_not(tmp_path, monkeypatch):
    faces = synthetic_faces(2, seed=4)
    path = write_fer2013_csv(tmp_path / "c.csv", faces, [4, 5], ["Training", "PrivateTest"])
    first = load_fer2013_csv(path)

    def fail(*_):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(module, "decode_fer2013_csv", fail)
    again = load_fer2013_csv(path)
    np.testing.assert_array_equal(again.faces, first.faces)
    assert again.split.tolist() == ["train", "test"] and again.name == "fer2013"

    write_fer2013_csv(path, faces, [4, 6], ["Training", "PrivateTest"])  # same name, new content
    with pytest.raises(AssertionError, match="decoded again"):
        load_fer2013_csv(path)
