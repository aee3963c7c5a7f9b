import numpy as np
from conftest import synthetic_faces

from ferkit.data import FaceDataset, dedup_test_mask, find_duplicates, near_blank_mask
from ferkit.data.duplicates import face_groups


def _ds(faces, splits):
    n = len(faces)
    return FaceDataset(faces=faces, labels=np.zeros(n, dtype=np.int64), split=np.array(splits),
                       source=np.array([f"x:{i}" for i in range(n)]))


def test_groups_leaks_and_dedup_mask():
    a, b, c, d, e = synthetic_faces(5)
    # a: train twice + test (leak); b: val + test; c: test twice; d: val + train (leak); e: unique test
    faces = np.stack([a, a, a, b, b, c, c, d, d, e])
    splits = ["train", "train", "test", "val", "test", "test", "test", "val", "train", "test"]
    ds = _ds(faces, splits)
    report = find_duplicates(ds)
    assert report.to_dict() == dict(groups=4, rows=9, val_in_train=1, test_in_train=1, test_in_val=1,
                                    dedup_test=4)
    assert dedup_test_mask(ds).tolist() == [False, False, False, False, True, True, True, False, False, True]


def test_one_pixel_apart_is_not_a_duplicate():
    a = synthetic_faces(1)[0]
    b = a.copy()
    b[47, 47] ^= 1
    group = face_groups(np.stack([a, b, a]))
    assert group[0] == group[2] != group[1]
    assert find_duplicates(_ds(np.stack([a, b]), ["train", "test"])).test_in_train == 0


def test_near_blank():
    faces = synthetic_faces(3)
    faces[0] = 128
    faces[1] = 100
    faces[1, :3] = 103  # a range of 3 grey levels: std below 2
    assert near_blank_mask(faces).tolist() == [True, True, False]


def test_real_fer2013_duplicates_and_near_blank(fer2013):
    report = find_duplicates(fer2013)
    assert (report.groups, report.rows) == (1514, 3365)
    assert (report.test_in_train, report.val_in_train, report.test_in_val) == (288, 280, 44)
    assert report.dedup_test == dedup_test_mask(fer2013).sum() == 3589 - 288
    assert near_blank_mask(fer2013.faces).sum() == 13
