"""The label mappings as the loaders use them (ferkit.labels is their single source)."""

import numpy as np
import pytest

from ferkit.data import DataError
from ferkit.data.ferplus import _MERGE
from ferkit.data.image_tree import class_indices
from ferkit.labels import AFFECTNET_IDS, EMOTIONS, FERPLUS_VOTE_COLUMNS, INDEX, affectnet_index


def test_fer2013_order_is_native():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_affectnet_ids():
    expected = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "angry",
                7: "disgust"}
    assert {i: EMOTIONS[j] for i, j in AFFECTNET_IDS.items() if j is not None} == expected
    assert [affectnet_index(i) for i in (8, 9, 10)] == [None, None, None]


def test_ferplus_columns_merge_contempt_into_disgust():
    mapped = {c: EMOTIONS[int(np.argmax(row))] for c, row in zip(FERPLUS_VOTE_COLUMNS, _MERGE)}
    assert mapped == {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                      "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "disgust"}
    assert (_MERGE.sum(axis=1) == 1).all()


def test_folder_names_any_spelling_and_case(tmp_path):
    names = ["Anger", "contempt", "DISGUST", "fear", "Happy", "neutral", "Sad", "surprise", "angry"]
    index = class_indices(tmp_path, names)
    assert index["Anger"] == index["angry"] == INDEX["angry"]
    assert index["contempt"] == INDEX["disgust"]
    with pytest.raises(DataError, match=str(tmp_path)):
        class_indices(tmp_path, ["angry", "bored"])
