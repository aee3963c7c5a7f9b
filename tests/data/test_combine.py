import numpy as np
import pytest
from conftest import synthetic_faces

from ferkit.data import DataError, FaceDataset, combine


def _ds(n, name, soft=False, seed=0):
    labels = np.arange(n) % 7
    return FaceDataset(faces=synthetic_faces(n, seed), labels=labels, split=np.array(["train"] * n),
                       source=np.array([f"{name}:{i}" for i in range(n)]), name=name,
                       soft_labels=np.full((n, 7), 1 / 7, dtype=np.float32) if soft else None)


def test_weights_are_set_per_source():
    out = combine([(_ds(3, "fer2013"), 1.0), (_ds(2, "affectnet", seed=1), 0.25)])
    assert len(out) == 5 and out.name == "fer2013+affectnet"
    assert out.weight.tolist() == [1.0, 1.0, 1.0, 0.25, 0.25] and out.weight.dtype == np.float32
    assert out.source.tolist()[3] == "affectnet:0"


def test_weights_multiply_existing_ones():
    inner = combine([(_ds(2, "a"), 0.5)])
    assert combine([(inner, 2.0), (_ds(1, "b"), 1.0)]).weight.tolist() == [1.0, 1.0, 1.0]


def test_hard_labels_become_one_hot_beside_soft_ones():
    out = combine([(_ds(2, "ferplus", soft=True), 1.0), (_ds(3, "affectnet"), 1.0)])
    assert out.soft_labels.shape == (5, 7)
    np.testing.assert_array_equal(out.soft_labels[2:].argmax(axis=1), [0, 1, 2])
    np.testing.assert_array_equal(out.soft_labels[2:].sum(axis=1), 1.0)
    assert combine([(_ds(2, "a"), 1.0)]).soft_labels is None


def test_bad_arguments():
    with pytest.raises(DataError, match="at least one"):
        combine([])
    with pytest.raises(DataError, match="must be >= 0"):
        combine([(_ds(1, "a"), -1.0)])
