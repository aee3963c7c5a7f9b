import cv2
import numpy as np
import pytest

from ferkit.inference.detectors import (
    DetectorError, FaceBox, create_detector, detect_faces, list_detectors, working_side)


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_finds_the_sample_face(name, sample_image, sample_face):
    boxes = create_detector(name).detect(sample_image)
    assert len(boxes) == 1
    assert boxes[0].iou(sample_face) > 0.5
    assert 0 <= boxes[0].score <= 1


@pytest.mark.parametrize("name", list_detectors())
def test_grey_input_and_no_face(name, sample_image, sample_face):
    detector = create_detector(name)
    grey = cv2.cvtColor(sample_image, cv2.COLOR_BGR2GRAY)
    assert detector.detect(grey)[0].iou(sample_face) > 0.5
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_boxes_are_mapped_back_from_the_downscaled_copy(sample_image, sample_face):
    big = cv2.resize(sample_image, None, fx=2, fy=2)
    box = detect_faces(big, "yuface", max_side=320)[0]
    f = sample_face
    expected = FaceBox(2 * f.x, 2 * f.y, 2 * f.w, 2 * f.h)
    assert box.iou(expected) > 0.6
    assert box.x + box.w <= big.shape[1] and box.y + box.h <= big.shape[0]


def test_yuface_threads_are_limited_during_detection_only(sample_image):
    # Without the limit yuface's OpenMP spins on every core: 20x slower on a busy machine.
    # With torch imported, yuface runs on torch's OpenMP runtime, whose setting must survive.
    import ctypes

    import torch

    torch.set_num_threads(2)
    detector = create_detector("yuface", threads=1)
    runtimes = detector._openmp._runtimes()
    assert len(runtimes) == 2  # torch's (global) and yuface's own
    with detector._openmp.limit(1):
        assert ctypes.CDLL(None).omp_get_max_threads() == 1
    detector.detect(sample_image)
    assert torch.get_num_threads() == 2


def test_unknown_detector_names_the_available_ones():
    with pytest.raises(DetectorError, match="available: haar, yuface"):
        create_detector("mtcnn")


def test_iou():
    a = FaceBox(0, 0, 10, 10)
    assert a.iou(a) == 1.0
    assert a.iou(FaceBox(20, 20, 5, 5)) == 0.0
    assert a.iou(FaceBox(5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_yuface_landmarks_are_eyes_nose_mouth_in_image_pixels(sample_image):
    for image in (sample_image, cv2.resize(sample_image, None, fx=2, fy=2)):  # also through the downscaled copy
        box = create_detector("yuface").detect(image)[0]
        assert len(box.landmarks) == 5
        (lx, ly), (rx, ry), (nx, ny), (m1x, m1y), (m2x, m2y) = box.landmarks
        assert box.x < lx < nx < rx < box.x + box.w  # the nose between the eyes
        assert box.y < ly < ny < min(m1y, m2y) < box.y + box.h  # eyes above the nose above the mouth
        assert box.to_dict() == {"x": box.x, "y": box.y, "w": box.w, "h": box.h, "score": box.score}
    assert create_detector("haar").detect(sample_image)[0].landmarks == ()


def test_working_side_follows_the_smallest_face_wanted():
    assert working_side(640, 100, 40, floor=256, cap=1024) == 256  # a VGA frame: as small as the floor
    assert working_side(4032, 100, 40, floor=256, cap=1024) == 1024  # a 12 MP photo: capped
    assert working_side(4032, 100, 40, floor=256) == 1613  # no cap: 100 px faces span 40 px
    assert working_side(200, 100, 40, floor=256) == 200  # never upscaled
    with pytest.raises(DetectorError, match="min_face must be at least 1 pixel, got 0"):
        working_side(640, 0, 40)


def test_yuface_finds_the_faces_of_a_large_group_photo(group_photo):
    # 40-px faces in an 1800-px photo: a fixed 256-px copy shrinks them to 6 px, the default finds all six.
    photo = group_photo(40)
    assert create_detector("yuface", max_side=256).detect(photo) == []
    boxes = create_detector("yuface").detect(photo)
    assert len(boxes) == 6
    assert all(30 <= b.w <= 60 for b in boxes)


def test_min_face_finds_smaller_faces(group_photo):
    photo = group_photo(24)
    assert len(create_detector("yuface").detect(photo)) < 6
    assert len(create_detector("yuface", min_face=24).detect(photo)) == 6
    assert create_detector("haar").detect(photo) == []
    assert len(create_detector("haar", min_face=24).detect(photo)) >= 5


@pytest.mark.parametrize("name", list_detectors())
def test_a_bad_min_face_fails_when_the_detector_is_made(name):
    with pytest.raises(DetectorError, match="min_face must be at least 1 pixel, got -5"):
        create_detector(name, min_face=-5)


@pytest.mark.parametrize("name", list_detectors())
def test_a_long_thin_image_has_no_face_and_no_error(name):
    # Shrunk to the working size, its short side must stay at least a pixel (it used to become 0 and crash).
    assert create_detector(name).detect(np.zeros((8, 20000, 3), np.uint8)) == []
    assert create_detector(name).detect(np.zeros((20000, 3), np.uint8)) == []
