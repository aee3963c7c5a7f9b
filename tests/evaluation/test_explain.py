import cv2
import numpy as np
import pytest

from ferkit.evaluation.explain import CROP_PAD, ExplainError, explain


def test_photo_faces_get_a_map_each(checkpoint, photos):
    image = cv2.imread(str(photos / "images" / "d.jpg"))  # the portrait on a wider canvas
    e = explain(image, checkpoint)
    assert len(e.result) == 1 and e.faces.shape == (1, 48, 48) and e.cams.shape == (1, 48, 48)
    drawn = e.plot()
    assert drawn.shape == image.shape
    box = e.result[0].box
    # the map is blended inside the face only: far from it the photo is untouched
    assert (drawn[box.y + 5:box.y + box.h - 5, box.x + 5:box.x + box.w // 2] != image[
        box.y + 5:box.y + box.h - 5, box.x + 5:box.x + box.w // 2]).any()
    np.testing.assert_array_equal(drawn[-10:, :20], image[-10:, :20])


def test_a_face_crop_is_explained_whole(checkpoint, photos):
    crop = cv2.imread(str(photos / "images" / "a.jpg"))[112:322, 170:350]
    e = explain(crop, checkpoint, crops=True)
    assert e.faces.shape == (1, 48, 48)
    assert e.plot().shape == (crop.shape[0] + CROP_PAD[0], crop.shape[1] + CROP_PAD[1], 3)


def test_no_face_and_onnx_are_refused(checkpoint, tmp_path):
    with pytest.raises(ExplainError, match="no face found"):
        explain(np.full((120, 120, 3), 128, np.uint8), checkpoint)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ExplainError, match=r"\(\.pt\)"):
        explain(np.zeros((64, 64, 3), np.uint8), onnx)
