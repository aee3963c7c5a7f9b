import json

import cv2
import numpy as np
import pytest

from ferkit.inference.detectors import FaceBox
from ferkit.inference.results import COLUMNS, VIDEO_COLUMNS, Face, ImageResult
from ferkit.labels import EMOTIONS


@pytest.fixture
def result(sample_image, sample_face):
    probs = np.array([0.05, 0.05, 0.1, 0.6, 0.1, 0.05, 0.05], np.float32)
    return ImageResult("portrait.jpg", [Face(sample_face, probs)], sample_image)


def test_face_views(result):
    face = result[0]
    assert face.label == "happy" and face.index == EMOTIONS.index("happy")
    assert face.confidence == pytest.approx(0.6)
    assert list(face.probabilities) == list(EMOTIONS)


def test_rows_have_the_table_columns(result):
    (row,) = result.rows()
    assert tuple(row) == COLUMNS
    assert row["label"] == "happy" and row["x"] == result[0].box.x
    frame = ImageResult("clip.mp4", [Face(result[0].box, result[0].probs, track=3)], frame=4, time_s=0.4)
    (row,) = frame.rows()
    assert tuple(row) == COLUMNS + VIDEO_COLUMNS and row["track"] == 3


def test_json_round_trip(result):
    d = json.loads(result.to_json())
    assert d["source"] == "portrait.jpg" and "frame" not in d
    assert d["faces"][0]["label"] == "happy"
    assert d["faces"][0]["box"]["w"] == result[0].box.w
    assert d["faces"][0]["probabilities"]["happy"] == pytest.approx(0.6)


def test_pandas_view(result):
    pd = pytest.importorskip("pandas")
    df = result.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(COLUMNS) and len(df) == 1
    assert ImageResult("x", []).to_pandas().shape == (0, len(COLUMNS))


def test_plot_draws_on_a_copy(result, sample_image, tmp_path):
    before = sample_image.copy()
    canvas = result.plot()
    assert canvas.shape == sample_image.shape
    assert (sample_image == before).all()  # the kept image is untouched
    b = result[0].box
    changed = np.any(canvas != sample_image, axis=2)
    assert changed[b.y, b.x:b.x + b.w].mean() > 0.9  # the box's top edge
    assert changed[b.y:b.y + 60, b.x + b.w + 4:b.x + b.w + 60].mean() > 0.3  # the probability bars
    beside = (slice(b.y, b.y + 60), slice(b.x + b.w + 4, b.x + b.w + 60))
    assert (result.plot(probabilities=False)[beside] == sample_image[beside]).all()
    path = result.save(tmp_path / "out" / "a.png")
    assert cv2.imread(str(path)).shape == sample_image.shape


def test_plot_needs_the_image():
    with pytest.raises(ValueError, match="not kept"):
        ImageResult("x.jpg", [Face(FaceBox(0, 0, 5, 5), np.ones(7) / 7)]).plot()


def test_a_face_that_fills_the_image_gets_its_label_inside_and_bars_below_it():
    from ferkit.inference.results import COLOURS

    image = np.full((200, 200, 3), 255, np.uint8)
    probs = np.array([0.05, 0.05, 0.1, 0.6, 0.1, 0.05, 0.05], np.float32)
    canvas = ImageResult("crop.jpg", [Face(FaceBox(0, 0, 200, 200), probs)], image).plot()
    inner = canvas[:, 5:40]  # left of centre, inside the box's 1-px border (drawn in the label's colour too)
    tag = np.all(inner == COLOURS["happy"], axis=2).any(axis=1)  # the label's background
    rows = np.flatnonzero(tag)
    assert len(rows) > 5 and rows.min() <= 2  # drawn, at the top of the image: not below it, off the canvas
    drawn = np.flatnonzero((inner != 255).any(axis=(1, 2)) & ~tag)
    assert drawn[drawn > rows.max()].size and not drawn[drawn < rows.min()].size  # the bars start under it
