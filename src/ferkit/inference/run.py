"""A prediction run over many inputs: images, folders, globs, videos, webcams.

One bad input never stops the run: its problem becomes one line in the
``Summary`` and the run goes on with the next input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.errors import FerkitError, output_path
from ferkit.inference.media import MediaError, Source, expand_source
from ferkit.inference.recognizer import Recognizer
from ferkit.inference.results import ImageResult

# Images decoded and classified together: amortises the classifier call over a
# folder of dataset crops without holding a whole folder of photos in memory.
IMAGE_CHUNK = 32
SHOW_NO_FACE = 10  # inputs named in the summary's "no face" line; the count covers all
# Suffixes cv2.imwrite can encode; other images are saved annotated as PNG.
_WRITABLE = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass
class Summary:
    """What a run did.

    Attributes:
        images: still images processed.
        videos: videos and webcams processed.
        frames: video frames processed.
        faces: faces found (in images and frames).
        no_face: inputs in which no face was found.
        errors: (input, reason) for every input skipped.
        ended_early: videos whose frames ran out before the count their file declares (truncated?); their
            frames up to there were processed.
    """

    images: int = 0
    videos: int = 0
    frames: int = 0
    faces: int = 0
    no_face: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    ended_early: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """The summary as short human-readable lines."""
        head = f"{self.images} image(s)"
        if self.videos:
            head += f", {self.videos} video(s) ({self.frames} frames)"
        out = [f"{head}: {self.faces} face(s) found"]
        if self.no_face:
            shown = ", ".join(self.no_face[:SHOW_NO_FACE]) + (", ..." if len(self.no_face) > SHOW_NO_FACE else "")
            out.append(f"no face in {len(self.no_face)}: {shown}")
        if self.ended_early:
            out.append(f"ended before the frame count their file declares (truncated?): {', '.join(self.ended_early)}")
        if self.errors:
            out.append(f"{len(self.errors)} input(s) skipped:")
            out += [f"  {reason}" for _, reason in self.errors]
        return out


class PredictRun:
    """Runs a recognizer over command-line style sources: ``run(expand(sources))`` yields the results.

    Args:
        recognizer: does the detection and classification.
        crops: inputs are already face crops (no detection).
        every: in videos, process one frame in ``every``.
        smooth: in videos, weight of the past in each track's probability average (0: off).
        save_dir: write annotated images (same name) and annotated videos (``.mp4``) here.
        progress: show tqdm progress bars (on stderr) for folders and videos.
    """

    def __init__(self, recognizer: Recognizer, *, crops: bool = False, every: int = 1, smooth: float = 0.0,
                 save_dir: str | Path | None = None, progress: bool = False) -> None:
        self.recognizer, self.crops, self.every, self.smooth = recognizer, crops, every, smooth
        self.save_dir = output_path(save_dir, "--save", folder=True) if save_dir is not None else None
        self.progress = progress
        self.summary = Summary()
        self._saved: set[Path] = set()

    def expand(self, texts: Iterable[str]) -> list[Source]:
        """The inputs behind the sources; a source that names nothing is recorded as an error."""
        inputs = []
        for text in texts:
            try:
                inputs += expand_source(text, unreadable=self.summary.errors)
            except MediaError as e:
                self.summary.errors.append((text, str(e)))
        return inputs

    def run(self, inputs: list[Source]) -> Iterator[ImageResult]:
        """Results for every image and processed frame of ``inputs`` (see ``expand``), in order."""
        from tqdm import tqdm

        images = [s for s in inputs if not s.is_stream]
        bar = tqdm(total=len(images), unit="image", disable=not self.progress or len(images) < 2, leave=False)
        try:
            chunk: list[Source] = []
            for source in inputs:
                if source.is_stream:
                    yield from self._images(chunk, bar)
                    chunk = []
                    yield from self._stream(source)
                else:
                    chunk.append(source)
                    if len(chunk) == IMAGE_CHUNK:
                        yield from self._images(chunk, bar)
                        chunk = []
            yield from self._images(chunk, bar)
        finally:
            bar.close()

    def _images(self, sources: list[Source], bar) -> Iterator[ImageResult]:
        from ferkit.inference.media import read_image

        decoded, names = [], []
        for source in sources:
            try:
                decoded.append(read_image(source.location))
                names.append(source.location)
            except MediaError as e:
                self.summary.errors.append((source.location, str(e)))
        results = self.recognizer.predict_many(decoded, names, crops=self.crops) if decoded else []
        for result in results:
            self.summary.images += 1
            self.summary.faces += len(result.faces)
            if not result.faces:
                self.summary.no_face.append(result.source)
            if self.save_dir is not None:
                self._save_image(result)
            yield result
        bar.update(len(sources))

    def _stream(self, source: Source) -> Iterator[ImageResult]:
        from tqdm import tqdm

        from ferkit.inference.video import AnnotatedVideoWriter, VideoReader, track_faces

        name = f"webcam:{source.location}" if source.kind == "webcam" else source.location
        try:
            reader = VideoReader(source.location, self.every)
        except MediaError as e:
            self.summary.errors.append((name, str(e)))
            return
        writer = None
        frames = faces = 0
        total = -(-reader.info.frames // self.every) if reader.info.frames else None
        bar = tqdm(total=total, unit="frame", desc=Path(name).name, disable=not self.progress, leave=False)
        try:
            for result in track_faces(self._frames(reader, name), self.smooth):
                frames += 1
                faces += len(result.faces)
                self.summary.faces += len(result.faces)
                if self.save_dir is not None:
                    if writer is None:
                        h, w = result.image.shape[:2]
                        writer = AnnotatedVideoWriter(self._output_path(name, ".mp4"),
                                                      reader.info.fps / self.every, (w, h))
                    writer.write(result.plot())
                bar.update(1)
                yield result
        except MediaError as e:
            self.summary.errors.append((name, str(e)))
        finally:
            bar.close()
            reader.close()
            if writer is not None:
                writer.close()
        self.summary.videos += 1
        self.summary.frames += frames
        if frames == 0:
            self.summary.errors.append((name, f"{name}: no frame could be decoded"))
            return
        if reader.ended_early:
            self.summary.ended_early.append(f"{name} ({reader.decoded} of {reader.info.frames} frames)")
        if faces == 0:
            self.summary.no_face.append(f"{name} ({frames} frames)")

    def _frames(self, reader, name: str) -> Iterator[ImageResult]:
        for index, t, frame in reader:
            result = self.recognizer.predict_many([frame], [name], crops=self.crops)[0]
            result.frame, result.time_s = index, round(t, 3)
            yield result

    def _output_path(self, name: str, suffix: str | None = None) -> Path:
        """A file in ``save_dir`` named after the input, numbered when two inputs share a name."""
        path = Path(name.replace(":", ""))
        stem, ext = path.stem, suffix or (path.suffix.lower() if path.suffix.lower() in _WRITABLE else ".png")
        out, n = self.save_dir / f"{stem}{ext}", 1
        while out in self._saved:
            out, n = self.save_dir / f"{stem}_{n}{ext}", n + 1
        self._saved.add(out)
        return out

    def _save_image(self, result: ImageResult) -> None:
        path = self._output_path(result.source)
        try:
            result.save(path)
        except OSError as e:
            raise FerkitError(f"--save: {e}") from None
