import os

import numpy as np
import pytest

from ferkit.inference.detectors import FaceBox
from ferkit.inference.media import MediaError
from ferkit.inference.results import Face, ImageResult
from ferkit.inference.video import IoUTracker, ProbabilitySmoother, VideoReader, track_faces


def test_tracker_follows_moving_boxes_and_opens_new_tracks():
    tracker = IoUTracker()
    a, b = FaceBox(0, 0, 50, 50), FaceBox(200, 0, 50, 50)
    assert tracker.update([a]) == [0]
    assert tracker.update([FaceBox(200, 5, 50, 50), FaceBox(5, 0, 50, 50)]) == [1, 0]
    assert tracker.update([FaceBox(10, 0, 50, 50), b]) == [0, 1]


def test_tracks_end_after_max_missed():
    tracker = IoUTracker(max_missed=2)
    box = FaceBox(0, 0, 50, 50)
    assert tracker.update([box]) == [0]
    assert tracker.update([]) == [] and tracker.update([]) == []
    assert tracker.update([box]) == [0]  # missed twice: still alive
    tracker.update([]), tracker.update([]), tracker.update([])
    assert tracker.ended == [0]
    assert tracker.update([box]) == [1]


def test_smoother():
    p1, p2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    off = ProbabilitySmoother(0.0)
    off(0, p1)
    np.testing.assert_array_equal(off(0, p2), p2)
    half = ProbabilitySmoother(0.5)
    half(0, p1)
    np.testing.assert_allclose(half(0, p2), [0.5, 0.5])
    np.testing.assert_allclose(half(1, p2), p2)  # another track has its own history
    half.forget([0])
    np.testing.assert_allclose(half(0, p2), p2)
    with pytest.raises(ValueError):
        ProbabilitySmoother(1.0)


def test_track_faces_smooths_per_track():
    box = FaceBox(0, 0, 50, 50)
    frames = [ImageResult("v", [Face(box, np.array(p, np.float32))], frame=i)
              for i, p in enumerate([[1, 0], [0, 1], [0, 1]])]
    out = list(track_faces(iter(frames), smooth=0.5))
    assert [r[0].track for r in out] == [0, 0, 0]
    np.testing.assert_allclose([r[0].probs[0] for r in out], [1, 0.5, 0.25])


def test_reader_frames_stride_and_times(face_video):
    with VideoReader(face_video) as reader:
        assert (reader.info.width, reader.info.height, reader.info.fps) == (320, 240, 10)
        assert [i for i, _, _ in reader] == list(range(8))
    with VideoReader(face_video, every=3) as reader:
        got = [(i, t) for i, t, _ in reader]
    assert got == [(0, 0.0), (3, 0.3), (6, 0.6)]


def test_reader_errors(tmp_path, bad_inputs):
    with pytest.raises(MediaError, match="no such video file"):
        VideoReader(tmp_path / "none.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty file"):
        VideoReader(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bad_inputs["corrupt"].read_bytes())
    with pytest.raises(MediaError, match="cannot be opened as a video"):
        VideoReader(junk)
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(MediaError, match="pipe.mp4: not a regular file"):
        VideoReader(tmp_path / "pipe.mp4")
    (tmp_path / "a.mp4").symlink_to(tmp_path / "b.mp4")
    (tmp_path / "b.mp4").symlink_to(tmp_path / "a.mp4")
    with pytest.raises(MediaError, match="a.mp4: a symbolic link that leads nowhere"):
        VideoReader(tmp_path / "a.mp4")
