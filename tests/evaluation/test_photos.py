import zipfile

import pytest

from ferkit.evaluation.photos import PhotoSetError, evaluate_photos
from ferkit.inference.recognizer import Recognizer
from ferkit.labels import INDEX


@pytest.fixture(scope="module")
def recognizer(checkpoint):
    return Recognizer(checkpoint, backend="torch")


def check_set(wild):
    by_name = {p.name.rsplit("/", 1)[-1]: p for p in wild.photos}
    assert sorted(by_name) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert [u.rsplit("/", 1)[-1] for u in wild.unreadable] == ["broken.jpg"]
    # weak labels in any case map onto the classes; contempt counts as disgust; unknown ones are counted
    assert by_name["a.jpg"].weak_index == INDEX["happy"]
    assert by_name["b.jpg"].weak_index == INDEX["disgust"]
    assert by_name["c.jpg"].weak_index == INDEX["neutral"]
    assert by_name["d.jpg"].weak_label == "confused" and by_name["d.jpg"].weak_index is None
    assert by_name["e.jpg"].weak_label is None
    assert wild.unmapped_labels == {"confused": 1}
    # the portrait's face is found in all four variants, none in the blank image
    assert [len(by_name[n].result) for n in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg")] == [1, 1, 1, 1, 0]
    assert wild.with_face == 4
    scored = [by_name[n] for n in ("a.jpg", "b.jpg", "c.jpg")]
    assert wild.scored == 3
    assert wild.weak_accuracy == pytest.approx(sum(p.predicted == p.weak_index for p in scored) / 3)
    d = wild.to_dict()
    assert d["photos"] == 5 and d["unreadable"] == 1 and d["weakly_labelled_scored"] == 3
    assert sum(d["predicted_counts"].values()) == 4


def test_folder_with_legend(recognizer, photos):
    wild = evaluate_photos(recognizer, photos, keep_images=2)
    check_set(wild)
    assert wild.has_legend
    # only the images to be shown are kept in memory
    assert sum(p.result.image is not None for p in wild.photos) == 2


def test_zip_gives_the_same(recognizer, photos, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(photos.rglob("*")):
            if f.is_file():
                z.write(f, f"set/{f.relative_to(photos).as_posix()}")
    done = []
    wild = evaluate_photos(recognizer, archive, on_photo=done.append)
    check_set(wild)
    assert sum(done) == 6  # every image counted once, the unreadable one too


def test_no_legend_and_no_images(recognizer, photos, tmp_path):
    (tmp_path / "one.jpg").write_bytes((photos / "images" / "a.jpg").read_bytes())
    wild = evaluate_photos(recognizer, tmp_path)
    assert not wild.has_legend and wild.scored == 0 and wild.weak_accuracy is None
    assert wild.to_dict()["weak_accuracy"] is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PhotoSetError, match="no images"):
        evaluate_photos(recognizer, empty)


def test_legend_without_the_columns(recognizer, photos, tmp_path):
    (tmp_path / "one.jpg").write_bytes((photos / "images" / "a.jpg").read_bytes())
    (tmp_path / "legend.csv").write_text("file,label\none.jpg,happy\n")
    with pytest.raises(PhotoSetError, match="'image' and 'emotion'"):
        evaluate_photos(recognizer, tmp_path)
