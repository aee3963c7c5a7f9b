import cv2
import numpy as np
import pytest

from ferkit.inference.recognizer import Recognizer, predict
from ferkit.labels import EMOTIONS


@pytest.fixture(scope="module")
def recognizer(onnx_model):
    return Recognizer(onnx_model)


def test_predict_the_sample(recognizer, sample, sample_face):
    result = recognizer.predict(sample)
    assert result.source == str(sample)
    (face,) = result.faces
    assert face.box.iou(sample_face) > 0.5
    assert face.label in EMOTIONS and face.probs.shape == (len(EMOTIONS),)
    assert face.probs.sum() == pytest.approx(1, abs=1e-5)
    assert face.confidence == face.probs.max()


def test_tta_averages_the_mirrored_face(onnx_model, sample_image):
    plain, tta = Recognizer(onnx_model), Recognizer(onnx_model, tta=True)
    face = plain.predict(sample_image).faces[0]
    crop = plain.crop(sample_image, [face.box])
    expected = (plain.classify(crop) + plain.classify(crop[:, :, ::-1].copy())) / 2
    got = tta.predict(sample_image).faces[0].probs
    np.testing.assert_allclose(got, expected[0], atol=1e-6)
    assert not np.allclose(got, face.probs, atol=1e-4)


def test_batches_do_not_change_results(onnx_model):
    faces = np.random.default_rng(1).integers(0, 256, (10, 48, 48), dtype=np.uint8)
    whole = Recognizer(onnx_model).classify(faces)
    np.testing.assert_allclose(Recognizer(onnx_model, batch_size=3).classify(faces), whole, atol=1e-6)
    assert Recognizer(onnx_model).classify(faces[:0]).shape == (0, len(EMOTIONS))


def test_classify_checks_its_input(recognizer):
    with pytest.raises(ValueError, match=r"\(N, 48, 48\) uint8"):
        recognizer.classify(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        recognizer.classify(np.zeros((2, 48, 48), np.float32))


def test_crops_mode_classifies_the_whole_image(recognizer, sample_image):
    face48 = np.random.default_rng(2).integers(0, 256, (48, 48), dtype=np.uint8)
    (face,) = recognizer.predict(face48, crops=True).faces
    assert (face.box.x, face.box.y, face.box.w, face.box.h) == (0, 0, 48, 48)
    np.testing.assert_allclose(face.probs, recognizer.classify(face48[None])[0], atol=1e-6)
    big = recognizer.predict(sample_image, crops=True).faces[0]
    assert (big.box.w, big.box.h) == (512, 600)


def test_many_images_share_batches_and_keep_their_order(recognizer, sample_image):
    blank = np.full((100, 100, 3), 127, np.uint8)
    results = recognizer.predict_many([sample_image, blank, sample_image], ["a", "b", "c"])
    assert [r.source for r in results] == ["a", "b", "c"]
    assert [len(r) for r in results] == [1, 0, 1]
    np.testing.assert_allclose(results[0][0].probs, results[2][0].probs, atol=1e-6)


def test_one_call_helper_and_haar(onnx_model, sample):
    result = predict(sample, onnx_model, detector="haar")
    assert len(result) == 1


def test_torch_backend_gives_the_same_result(checkpoint, onnx_model, sample):
    a = Recognizer(checkpoint, backend="torch").predict(sample)[0]
    b = Recognizer(onnx_model).predict(sample)[0]
    assert a.label == b.label and np.abs(a.probs - b.probs).max() <= 1e-4


def test_align_uses_the_detectors_landmarks(onnx_model, sample_image, sample_face):
    from ferkit.inference.crop import crop_faces, to_grey
    from ferkit.inference.detectors import FaceBox

    f = sample_face
    tilted = FaceBox(f.x, f.y, f.w, f.h, 1.0, landmarks=((f.x + 50.0, f.y + 70.0), (f.x + 130.0, f.y + 90.0)))

    class Fixed:  # any object with detect() is a detector
        name = "fixed"

        def detect(self, image):
            return [tilted]

    rec = Recognizer(onnx_model, detector=Fixed(), align=True)
    expected = crop_faces(to_grey(sample_image), [tilted], align=True)
    np.testing.assert_array_equal(rec.crop(sample_image, [tilted]), expected)
    assert not np.array_equal(expected, crop_faces(to_grey(sample_image), [tilted]))
    np.testing.assert_allclose(rec.predict(sample_image).faces[0].probs, rec.classify(expected)[0], atol=1e-6)


def test_min_face_reaches_a_named_detector(onnx_model, group_photo):
    from ferkit.inference.detectors import DetectorError, create_detector

    photo = group_photo(24)
    assert len(Recognizer(onnx_model).predict(photo)) < 6
    assert len(Recognizer(onnx_model, min_face=24).predict(photo)) == 6
    with pytest.raises(DetectorError, match="min_face must be at least 1 pixel, got 0"):
        Recognizer(onnx_model, min_face=0)
    with pytest.raises(DetectorError, match="min_face is an option of a named detector"):
        Recognizer(onnx_model, detector=create_detector("haar"), min_face=24)


def test_arrays_of_other_layouts_and_types(recognizer, sample_image, sample_face):
    bgra = cv2.cvtColor(sample_image, cv2.COLOR_BGR2BGRA)  # cv2.imread(png, IMREAD_UNCHANGED) with alpha
    assert recognizer.predict(bgra)[0].box.iou(sample_face) > 0.5
    with pytest.raises(ValueError, match="must be uint8"):
        recognizer.predict(sample_image.astype(np.float32) / 255)  # would look black and find no face


def test_a_bad_margin_fails_when_the_recognizer_is_made(onnx_model):
    with pytest.raises(ValueError, match="margin must be between -0.25 and 1.0"):
        Recognizer(onnx_model, margin=float("nan"))
