"""Video and webcam: frames in, faces tracked across frames, probabilities smoothed over time.

The tracker matches each frame's boxes to the previous ones by IoU (enough for
faces that move a fraction of their size between processed frames); the
smoother keeps an exponential moving average of each track's probabilities, so
a label does not flicker with every frame's noise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ferkit.inference.detectors import FaceBox
from ferkit.inference.media import MediaError, leads_nowhere, path_kind
from ferkit.inference.results import ImageResult


class IoUTracker:
    """Greedy IoU matching of boxes to the tracks of earlier frames.

    Args:
        iou_threshold: a box continues a track when they overlap at least this much.
        max_missed: a track survives this many processed frames without a box, then ends.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 10) -> None:
        self.iou_threshold, self.max_missed = iou_threshold, max_missed
        self._tracks: dict[int, tuple[FaceBox, int]] = {}  # id -> (last box, frames missed)
        self._next = 0
        self.ended: list[int] = []  # tracks that ended in the last update

    def update(self, boxes: list[FaceBox]) -> list[int]:
        """Track ids for this frame's boxes, in their order; new faces get new ids."""
        pairs = sorted(((box.iou(last), i, tid) for i, box in enumerate(boxes)
                        for tid, (last, _) in self._tracks.items()), reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.iou_threshold:
                break
            if ids[i] is None and tid not in taken:
                ids[i] = tid
                taken.add(tid)
        self.ended = []
        for tid, (last, missed) in list(self._tracks.items()):
            if tid not in taken:
                if missed + 1 > self.max_missed:
                    del self._tracks[tid]
                    self.ended.append(tid)
                else:
                    self._tracks[tid] = (last, missed + 1)
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
            self._tracks[ids[i]] = (box, 0)
        return ids


class ProbabilitySmoother:
    """Exponential moving average of each track's probabilities.

    Args:
        alpha: weight of the past, in [0, 1); 0 turns smoothing off.
    """

    def __init__(self, alpha: float) -> None:
        if not 0 <= alpha < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {alpha}")
        self.alpha = alpha
        self._state: dict[int, np.ndarray] = {}

    def __call__(self, track: int, probs: np.ndarray) -> np.ndarray:
        past = self._state.get(track)
        now = probs if past is None or self.alpha == 0 else self.alpha * past + (1 - self.alpha) * probs
        self._state[track] = now
        return now

    def forget(self, tracks: list[int]) -> None:
        for t in tracks:
            self._state.pop(t, None)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a stream.

    Attributes:
        fps: frames per second (30 when a webcam or file does not say).
        width: frame width in pixels.
        height: frame height in pixels.
        frames: frame count, 0 when unknown (webcams, some containers).
    """

    fps: float
    width: int
    height: int
    frames: int


@contextmanager
def _quiet_opencv():
    """OpenCV logs a WARN line per backend that fails to open a source, and FFmpeg its own
    error ("moov atom not found"); the MediaError says it once, in words."""
    import os

    import cv2

    # Read once, when OpenCV first starts FFmpeg; -8 is AV_LOG_QUIET. A user's own setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


class VideoReader:
    """Decoded frames of a video file or a webcam.

    Args:
        source: a video file, or a webcam index such as ``"0"``.
        every: keep one frame in ``every`` (the others are skipped without decoding).

    Raises:
        MediaError: the file or camera cannot be opened.
    """

    def __init__(self, source: str | Path, every: int = 1) -> None:
        import cv2

        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.source, self.every, self.decoded = str(source), every, 0
        self.is_webcam = self.source.isdigit() and not Path(self.source).exists()
        if not self.is_webcam:
            path = Path(self.source)
            kind = path_kind(path)
            if kind == "dangling":
                raise leads_nowhere(path)
            if kind == "missing":
                raise MediaError(f"{path}: no such video file")
            if kind != "file":
                raise MediaError(f"{path}: not a regular file")
            if path.stat().st_size == 0:
                raise MediaError(f"{path}: empty file")
            if not os.access(path, os.R_OK):
                raise MediaError(f"{path}: cannot be read (Permission denied)")
        with _quiet_opencv():
            self._cap = cv2.VideoCapture(int(self.source) if self.is_webcam else self.source)
        if not self._cap.isOpened():
            what = f"webcam {self.source}" if self.is_webcam else self.source
            raise MediaError(f"{what}: cannot be opened as a video" + (" (no such camera?)" if self.is_webcam else ""))
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(
            fps=fps if fps and fps > 0 and np.isfinite(fps) else 30.0,
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            frames=max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))) if not self.is_webcam else 0,
        )

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(frame index, time in seconds, BGR frame) for every kept frame; ``decoded`` counts the frames
        read or skipped so far."""
        start, index = time.monotonic(), 0
        while True:
            if index % self.every:
                if not self._cap.grab():
                    return
            else:
                ok, frame = self._cap.read()
                if not ok:
                    return
                t = time.monotonic() - start if self.is_webcam else index / self.info.fps
                yield index, t, frame
            index += 1
            self.decoded = index

    @property
    def ended_early(self) -> bool:
        """The file ended before the frame count its header declares (beyond the few frames by which
        containers' counts are often off): truncated or damaged."""
        declared = self.info.frames
        return not self.is_webcam and declared > 0 and self.decoded < declared - max(2, declared // 20)

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track_faces(results: Iterator[ImageResult], smooth: float = 0.0,
                tracker: IoUTracker | None = None) -> Iterator[ImageResult]:
    """Give each frame's faces a track id and, with ``smooth`` > 0, smoothed probabilities.

    Args:
        results: one video's frame results, in order.
        smooth: weight of the past in the moving average (0: raw per-frame probabilities).
        tracker: the tracker to use (default: ``IoUTracker()``).
    """
    tracker = tracker or IoUTracker()
    smoother = ProbabilitySmoother(smooth)
    for result in results:
        ids = tracker.update([f.box for f in result.faces])
        smoother.forget(tracker.ended)
        result.faces = [replace(f, track=t, probs=smoother(t, f.probs)) for f, t in zip(result.faces, ids, strict=True)]
        yield result


class AnnotatedVideoWriter:
    """Writes annotated frames to an MP4 file.

    Args:
        path: the ``.mp4`` to write.
        fps: frame rate of the written video.
        size: (width, height) of the frames.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        import cv2

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise MediaError(f"{self.path}: cannot write a video here")

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def close(self) -> None:
        self._writer.release()
