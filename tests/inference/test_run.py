import cv2
import pytest

from ferkit.inference.recognizer import Recognizer
from ferkit.inference.run import PredictRun


@pytest.fixture(scope="module")
def recognizer(onnx_model):
    return Recognizer(onnx_model)


def test_bad_inputs_are_reported_and_the_run_goes_on(recognizer, sample, bad_inputs):
    run = PredictRun(recognizer)
    inputs = run.expand([str(sample), *(str(p) for p in bad_inputs.values()), str(sample)])
    results = list(run.run(inputs))
    assert [r.source for r in results] == [str(sample), str(sample)]
    s = run.summary
    assert (s.images, s.faces) == (2, 2) and not s.ok
    reasons = dict(s.errors)
    assert set(reasons) == {str(p) for p in bad_inputs.values()}
    assert "folder has no images" in reasons[str(bad_inputs["folder"])]
    assert "too large" in reasons[str(bad_inputs["huge"])]
    assert any("skipped" in line for line in s.lines())


def test_video_is_tracked_and_saved_annotated(recognizer, face_video, tmp_path):
    run = PredictRun(recognizer, every=2, smooth=0.5, save_dir=tmp_path)
    results = list(run.run(run.expand([str(face_video)])))
    assert [r.frame for r in results] == [0, 2, 4, 6]
    assert [r.time_s for r in results] == [0.0, 0.2, 0.4, 0.6]
    assert all(len(r) == 1 for r in results)
    assert {r[0].track for r in results} == {0}  # one face drifting: one track
    assert run.summary.ok and (run.summary.videos, run.summary.frames) == (1, 4)
    saved = cv2.VideoCapture(str(tmp_path / "drift.mp4"))
    assert int(saved.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    assert saved.get(cv2.CAP_PROP_FPS) == pytest.approx(5)


def test_video_without_faces_is_noted_not_failed(recognizer, blank_video):
    run = PredictRun(recognizer)
    assert list(run.run(run.expand([str(blank_video)]))) != []
    assert run.summary.ok and run.summary.no_face == [f"{blank_video} (6 frames)"]


def test_saved_images_keep_their_names_without_clashes(recognizer, sample, tmp_path):
    out = tmp_path / "out"
    run = PredictRun(recognizer, save_dir=out)
    list(run.run(run.expand([str(sample), str(sample)])))
    assert sorted(p.name for p in out.iterdir()) == ["grace_hopper.jpg", "grace_hopper_1.jpg"]


def test_crops_folder(recognizer, sample_image, tmp_path):
    face = cv2.resize(cv2.cvtColor(sample_image, cv2.COLOR_BGR2GRAY), (48, 48))
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"face{i}.png"), face)
    run = PredictRun(recognizer, crops=True)
    results = list(run.run(run.expand([str(tmp_path)])))
    assert [len(r) for r in results] == [1, 1, 1]
    assert results[0][0].box.w == 48


def test_summary_names_at_most_ten_inputs_without_a_face():
    from ferkit.inference.run import Summary

    lines = Summary(images=12, no_face=[f"{i}.jpg" for i in range(12)]).lines()
    assert lines[1] == "no face in 12: " + ", ".join(f"{i}.jpg" for i in range(10)) + ", ..."


def test_a_truncated_video_is_processed_up_to_its_end_and_said_to_end_early(recognizer, sample_image, tmp_path):
    frame = cv2.resize(sample_image, (320, 376))
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 376))
    for _ in range(20):
        writer.write(frame)
    writer.release()
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the header still declares 20 frames

    run = PredictRun(recognizer)
    results = list(run.run(run.expand([str(whole), str(cut)])))
    assert 5 <= sum(r.source == str(cut) for r in results) < 20
    s = run.summary
    assert s.ok and len(s.ended_early) == 1 and s.ended_early[0].startswith(f"{cut} (")
    assert s.ended_early[0].endswith(" of 20 frames)")
    assert any(line.startswith("ended before the frame count") for line in s.lines())
