import numpy as np

from ferkit.inference.crop import crop_faces, square_around, to_grey
from ferkit.inference.detectors import FaceBox


def test_square_is_centred_and_grows_with_margin():
    box = FaceBox(100, 50, 40, 60)
    x0, y0, side = square_around(box, 0.0)
    assert (x0, y0, side) == (90, 50, 60)
    x0, y0, side = square_around(box, 0.25)
    assert side == 90 and x0 + side / 2 == 120 and y0 + side / 2 == 80


def test_crop_takes_the_box_and_resizes():
    grey = np.zeros((200, 200), np.uint8)
    grey[50:150, 50:150] = 200
    faces = crop_faces(grey, [FaceBox(50, 50, 100, 100)], margin=0.0)
    assert faces.shape == (1, 48, 48) and faces.dtype == np.uint8
    assert (faces == 200).all()
    wider = crop_faces(grey, [FaceBox(50, 50, 100, 100)], margin=0.25)[0]
    assert wider[0, 0] == 0 and wider[24, 24] == 200  # the margin brings in the background


def test_crop_at_the_edge_repeats_edge_pixels():
    grey = np.tile(np.arange(100, dtype=np.uint8), (100, 1))  # brightness = column
    face = crop_faces(grey, [FaceBox(0, 30, 40, 40)], size=(40, 40), margin=0.25)[0]
    assert face.shape == (40, 40)
    assert (face[:, :5] == 0).all()  # the part left of the image repeats column 0


def test_to_grey_accepts_bgr_bgra_and_grey():
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red
    assert to_grey(bgr)[0, 0] == 76
    assert to_grey(np.dstack([bgr, np.zeros((4, 4), np.uint8)]))[0, 0] == 76
    assert to_grey(bgr[..., 0]) is not None


def test_align_levels_the_eyes():
    import cv2

    from ferkit.inference.crop import eye_angle

    image = np.full((200, 200), 128, np.uint8)
    cv2.circle(image, (70, 90), 6, 0, -1)
    cv2.circle(image, (130, 110), 6, 0, -1)
    box = FaceBox(50, 50, 100, 100, 1.0, landmarks=((130.0, 110.0), (70.0, 90.0)))  # order does not matter
    assert eye_angle(box) == np.degrees(np.arctan2(20, 60))

    def eye_rows(face):
        ys, xs = np.nonzero(face < 60)
        return ys[xs < 48].mean(), ys[xs >= 48].mean()

    left, right = eye_rows(crop_faces(image, [box], (96, 96), align=True)[0])
    assert abs(left - right) < 1
    left, right = eye_rows(crop_faces(image, [box], (96, 96))[0])
    assert right - left > 15  # upright crop: still tilted
    upright = FaceBox(50, 50, 100, 100)  # no landmarks: align leaves the crop upright
    np.testing.assert_array_equal(crop_faces(image, [upright], align=True), crop_faces(image, [upright]))
