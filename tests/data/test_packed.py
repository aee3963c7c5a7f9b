"""``ferkit data pack``: a dataset as one .npz.xz that loads back row for row."""

import lzma

import numpy as np
import pytest
from conftest import run_cli, synthetic_faces, write_fer2013_csv

from ferkit.data import DataError, detect_format, load_dataset, load_fer2013_csv, load_packed, save_packed


@pytest.fixture
def small_csv(tmp_path):
    usages = ["Training"] * 6 + ["PublicTest"] * 3 + ["PrivateTest"] * 3
    return write_fer2013_csv(tmp_path / "f.csv", synthetic_faces(12), [i % 7 for i in range(12)], usages)


def test_round_trip_keeps_every_row_of_the_chosen_splits(small_csv, tmp_path):
    source = load_fer2013_csv(small_csv, use_cache=False)
    path = save_packed(source, tmp_path / "p.npz.xz", splits=("train", "val"))
    assert detect_format(path) == "packed"
    packed = load_dataset(path)
    keep = np.isin(source.split, ["train", "val"])
    assert len(packed) == 9 and (packed.split != "test").all()
    np.testing.assert_array_equal(packed.faces, source.faces[keep])
    np.testing.assert_array_equal(packed.labels, source.labels[keep])
    np.testing.assert_array_equal(packed.source, source.source[keep])
    assert packed.labels.dtype == np.int64 and packed.name == source.name


def test_cli_pack_then_summary(small_csv, tmp_path):
    out = tmp_path / "p.npz.xz"
    result = run_cli("data", "pack", str(small_csv), str(out), "--splits", "train")
    assert result.returncode == 0, result.stderr
    assert "6 faces (train)" in result.stdout
    summary = run_cli("data", "summary", str(out))
    assert summary.returncode == 0 and "6 faces" in summary.stdout


@pytest.mark.parametrize("payload, message", [
    (b"", "corrupt or truncated"),
    (lzma.compress(b"not an npz"), "corrupt or truncated"),
    (b"\xfd7zXZ\x00 cut short", "corrupt or truncated"),
])
def test_bad_packed_files_are_one_line_errors(tmp_path, payload, message):
    path = tmp_path / "bad.npz.xz"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        load_packed(path)


def test_an_npz_of_something_else_is_refused(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, faces=np.zeros((1, 48, 48), np.uint8))
    path = tmp_path / "other.npz.xz"
    path.write_bytes(lzma.compress(buffer.getvalue()))
    with pytest.raises(DataError, match="not a packed ferkit dataset"):
        load_packed(path)


def test_pack_refuses_a_wrong_name_and_unknown_split(small_csv, tmp_path):
    source = load_fer2013_csv(small_csv, use_cache=False)
    with pytest.raises(DataError, match="must end in .npz.xz"):
        save_packed(source, tmp_path / "p.npz")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        save_packed(source, tmp_path / "p.npz.xz", splits=("dev",))
