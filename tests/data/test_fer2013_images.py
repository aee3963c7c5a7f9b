import numpy as np
import pytest
from conftest import FER2013_COUNTS, expected_per_class, synthetic_faces, write_image, zip_folder

from ferkit.data import DataError, find_duplicates, load_fer2013_images
from ferkit.labels import INDEX

# (path, emotion) of a small tree in the layout of fer2013_images.zip; PNG keeps pixels exact.
TREE = [
    ("train/angry/Training_10.png", "angry"),
    ("train/happy/Training_11.png", "happy"),
    ("test/happy/PublicTest_12.png", "happy"),
    ("test/sad/PrivateTest_13.png", "sad"),
    ("test/neutral/PrivateTest_14.png", "neutral"),
]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "fer_images"
    faces = synthetic_faces(len(TREE), seed=5)
    for (rel, _), face in zip(TREE, faces):
        write_image(root / rel, face)
    (root / "train" / "README.txt").write_text("not an image: ignored")
    return root, dict(zip((rel for rel, _ in TREE), faces))


def _check(ds, faces_by_path):
    by_source = {s.removeprefix("fer2013_images:"): i for i, s in enumerate(ds.source.tolist())}
    assert sorted(by_source) == sorted(faces_by_path)
    for rel, emotion in TREE:
        i = by_source[rel]
        np.testing.assert_array_equal(ds.faces[i], faces_by_path[rel])
        assert ds.labels[i] == INDEX[emotion]
    split = dict(zip(ds.source.tolist(), ds.split.tolist()))
    assert [split[f"fer2013_images:{rel}"] for rel, _ in TREE] == ["train", "train", "val", "test", "test"]
    assert ds.extra["skipped"] == []


def test_folder(tree):
    root, faces = tree
    _check(load_fer2013_images(root), faces)


@pytest.mark.parametrize("top", ["", "fer2013"])
def test_zip_matches_folder(tree, tmp_path, top):
    root, faces = tree
    archive = zip_folder(root, tmp_path / "images.zip", top=top)
    _check(load_fer2013_images(archive), faces)
    assert load_fer2013_images(archive).source.tolist() == load_fer2013_images(root).source.tolist()


def test_unknown_class_folder_is_named(tree):
    root, _ = tree
    write_image(root / "train/smiling/Training_20.png", synthetic_faces(1)[0])
    with pytest.raises(DataError, match=r"unknown emotion class name\(s\) 'smiling'") as e:
        load_fer2013_images(root)
    assert str(root) in str(e.value)


def test_unreadable_image_is_skipped_and_listed(tree):
    root, _ = tree
    (root / "train/angry/Training_21.jpg").write_bytes(b"this is not a jpeg")
    ds = load_fer2013_images(root)
    assert len(ds) == len(TREE)
    assert ds.extra["skipped"] == ["train/angry/Training_21.jpg"]
    assert load_fer2013_images(root).extra["skipped"] == ["train/angry/Training_21.jpg"]  # from the cache


def test_no_readable_image_is_an_error(tmp_path):
    (tmp_path / "train/angry").mkdir(parents=True)
    (tmp_path / "train/angry/Training_1.jpg").write_bytes(b"broken")
    with pytest.raises(DataError, match="none of its 1 images could be read"):
        load_fer2013_images(tmp_path)


def test_name_without_split_prefix_is_an_error(tree):
    root, _ = tree
    write_image(root / "test/sad/photo.png", synthetic_faces(1)[0])
    with pytest.raises(DataError, match="photo.png: name does not start with Training_"):
        load_fer2013_images(root)


def test_bad_layouts(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_fer2013_images(tmp_path / "absent.zip")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"PK but not really")
    with pytest.raises(DataError, match="not a zip archive"):
        load_fer2013_images(not_zip)
    write_image(tmp_path / "t/holdout/angry/Training_1.png", synthetic_faces(1)[0])
    write_image(tmp_path / "t/train/angry/Training_2.png", synthetic_faces(1)[0])
    with pytest.raises(DataError, match="unknown split folder 'holdout'"):
        load_fer2013_images(tmp_path / "t")


def test_real_zip_has_the_standard_counts_and_leaks(fer2013_zip):
    assert len(fer2013_zip) == 35887 and fer2013_zip.extra["skipped"] == []
    for split, (n, _) in FER2013_COUNTS.items():
        assert len(fer2013_zip.by_split(split)) == n
        assert fer2013_zip.by_split(split).class_counts() == expected_per_class(split)
    report = find_duplicates(fer2013_zip)
    assert (report.test_in_train, report.val_in_train, report.test_in_val) == (288, 280, 44)
