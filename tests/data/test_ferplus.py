import numpy as np
import pytest
from conftest import FERPLUS_CSV, FERPLUS_ROWS, require, synthetic_faces, write_fer2013_csv, write_ferplus

from ferkit.data import DataError, apply_ferplus, blend_ferplus, load_fer2013_csv, load_ferplus
from ferkit.data.ferplus import NO_LABEL, ferplus_majority
from ferkit.labels import INDEX

@pytest.fixture
def pair(tmp_path):
    n = len(FERPLUS_ROWS)
    csv = write_fer2013_csv(tmp_path / "fer2013.csv", synthetic_faces(n), [0] * n, [r[0] for r, _ in FERPLUS_ROWS])
    return load_fer2013_csv(csv), write_ferplus(tmp_path / "fer2013new.csv", FERPLUS_ROWS)


def test_majority_rule():
    v = np.zeros((4, 7), dtype=np.int64)  # ferkit class order
    v[0, [INDEX["angry"], INDEX["neutral"]]] = 5  # a tie
    v[1, INDEX["sad"]] = 6  # beats 4 unknown
    v[2, INDEX["fear"]] = 1  # unnamed: not a face
    label = ferplus_majority(v, unknown=np.array([0, 4, 0, 0]), not_face=np.array([0, 0, 0, 10]),
                             named=np.array([True, True, False, True]))
    assert label.tolist() == [NO_LABEL, INDEX["sad"], NO_LABEL, NO_LABEL]


def test_load_merges_contempt_into_disgust(pair):
    _, ferplus = pair
    votes = load_ferplus(ferplus)
    assert votes.votes[2, INDEX["disgust"]] == 4 and votes.votes.shape == (6, 7)
    assert votes.named.tolist() == [True, True, True, False, True, True]
    assert votes.split.tolist() == ["train", "train", "val", "val", "test", "test"]


def test_apply_keeps_majority_rows_with_soft_labels(pair):
    ds, ferplus = pair
    out = apply_ferplus(ds, ferplus, soft=True)
    kept = [i for i, (_, label) in enumerate(FERPLUS_ROWS) if label]
    assert out.source.tolist() == [f"fer2013:{i}" for i in kept]
    assert out.labels.tolist() == [INDEX[label] for _, label in FERPLUS_ROWS if label]
    np.testing.assert_array_equal(out.faces, ds.faces[kept])
    np.testing.assert_allclose(out.soft_labels.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out.soft_labels[0, [INDEX["neutral"], INDEX["happy"]]], [6 / 7, 1 / 7], rtol=1e-6)
    assert apply_ferplus(ds, ferplus, soft=False).soft_labels is None


def test_blend_keeps_fer2013_labels_and_mixes_in_the_votes(pair):
    ds, ferplus = pair
    out = blend_ferplus(ds, ferplus, 0.25)
    assert np.array_equal(out.labels, ds.labels) and len(out) == len(ds)  # no face dropped or relabelled
    votes = load_ferplus(ferplus)
    one_hot = np.eye(7)[ds.labels]
    for i, (_, label) in enumerate(FERPLUS_ROWS):
        expected = 0.75 * one_hot[i] + 0.25 * votes.distribution()[i] if label else one_hot[i]
        np.testing.assert_allclose(out.soft_labels[i], expected, rtol=1e-6)
    np.testing.assert_allclose(out.soft_labels.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(blend_ferplus(ds, ferplus, 0.0).soft_labels, one_hot)
    with pytest.raises(DataError, match=r"FER\+ weight must be in \[0, 1\], got 1.5"):
        blend_ferplus(ds, ferplus, 1.5)


def test_apply_joins_a_subset_by_row(pair):
    ds, ferplus = pair
    out = apply_ferplus(ds.by_split("test"), ferplus)
    assert out.source.tolist() == ["fer2013:5"] and out.labels.tolist() == [INDEX["fear"]]


def test_misaligned_files_are_refused(pair, tmp_path):
    ds, _ = pair
    shifted = write_ferplus(tmp_path / "shifted.csv", FERPLUS_ROWS[1:] + FERPLUS_ROWS[:1])
    with pytest.raises(DataError, match="not row-aligned"):
        apply_ferplus(ds, shifted)
    short = write_ferplus(tmp_path / "short.csv", FERPLUS_ROWS[:3])
    with pytest.raises(DataError, match=r"FER\+ has 3 rows but the dataset has FER2013 row 6"):
        apply_ferplus(ds, short)


def test_faces_not_from_the_csv_are_refused(pair):
    ds, ferplus = pair
    ds.source[0] = "fer2013_images:train/angry/Training_1.jpg"
    with pytest.raises(DataError, match="join FER2013 by CSV row"):
        apply_ferplus(ds, ferplus)


def test_bad_ferplus_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_ferplus(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("emotion,pixels,Usage\n0,1 2,Training\n")
    with pytest.raises(DataError, match="expected FER\\+ columns"):
        load_ferplus(wrong)
    broken = write_ferplus(tmp_path / "broken.csv", FERPLUS_ROWS)
    broken.write_text(broken.read_text().replace("fer2.png,0,0,0,0,3", "fer2.png,0,0,x,0,3"))
    with pytest.raises(DataError, match="row 3 \\(line 4\\): vote counts must be integers"):
        load_ferplus(broken)


def test_real_ferplus_majority(fer2013):
    votes = load_ferplus(require(FERPLUS_CSV))
    assert len(votes) == len(fer2013) == 35887
    out = apply_ferplus(fer2013, votes, soft=True)
    assert not set(np.flatnonzero(~votes.named)) & {int(s.split(":")[1]) for s in out.source}  # NF rows gone
    assert 33000 < len(out) < len(fer2013)
    assert {s: len(out.by_split(s)) for s in ("train", "val", "test")} == {"train": 26964, "val": 3400, "test": 3378}
    assert (out.soft_labels.argmax(axis=1) == out.labels).all()
