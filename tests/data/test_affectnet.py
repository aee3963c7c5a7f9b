import numpy as np
import pytest
from conftest import synthetic_faces, write_image, zip_folder

from ferkit.data import DataError, load_affectnet_kaggle, load_affectnet_official
from ferkit.labels import INDEX

LIST_HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def _official(root, rows_by_list):
    """Write an official-release fixture: each image is 120x100 grey 30 with a 60x40 face box of value `level`."""
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    for name, rows in rows_by_list.items():
        lines = [LIST_HEADER]
        for rel, expression, level in rows:
            image = np.full((100, 120), 30, dtype=np.uint8)
            image[20:60, 10:70] = level  # face box x=10 y=20 w=60 h=40
            write_image(root / "Manually_Annotated_Images" / rel, image)
            lines.append(f'{rel},10,20,60,40,"1.0;2.0;3.0;4.0",{expression},0.5,-0.2')
        (lists / name).write_text("\n".join(lines) + "\n")
    return root


def test_official_crops_maps_and_drops(tmp_path):
    root = _official(tmp_path / "affectnet", {
        "training.csv": [("1/a.png", 1, 200), ("1/b.png", 7, 150), ("2/c.png", 8, 90), ("2/d.png", 10, 90)],
        "validation.csv": [("3/e.png", 6, 100)],
    })
    ds = load_affectnet_official(root)
    assert ds.source.tolist() == ["affectnet:1/a.png", "affectnet:1/b.png", "affectnet:3/e.png"]
    assert ds.labels.tolist() == [INDEX["happy"], INDEX["disgust"], INDEX["angry"]]  # contempt -> disgust
    assert ds.split.tolist() == ["train", "train", "test"]
    # The crop holds only the face box: every pixel is the box's level, none of the background's 30.
    assert [np.unique(f).tolist() for f in ds.faces] == [[200], [150], [100]]


def test_official_missing_image_is_skipped(tmp_path):
    root = _official(tmp_path / "a", {"training.csv": [("1/a.png", 0, 50), ("1/b.png", 3, 60)]})
    (root / "Manually_Annotated_Images/1/b.png").unlink()
    ds = load_affectnet_official(root)
    assert ds.labels.tolist() == [INDEX["neutral"]] and ds.extra["skipped"] == ["1/b.png"]


def test_official_bad_lists(tmp_path):
    root = _official(tmp_path / "a", {"training.csv": [("1/a.png", 0, 50)]})
    lst = root / "Manually_Annotated_file_lists/training.csv"
    lst.write_text(lst.read_text().replace("expression", "emotion"))
    with pytest.raises(DataError, match="missing AffectNet columns expression"):
        load_affectnet_official(root, use_cache=False)
    lst.write_text(LIST_HEADER + "\n1/a.png,10,20,60,40,x,12,0,0\n")
    with pytest.raises(DataError, match="line 2: not a valid AffectNet row .*expression id 12"):
        load_affectnet_official(root, use_cache=False)
    with pytest.raises(DataError, match="image folder not found"):
        load_affectnet_official(root, images=tmp_path / "nowhere")


def _kaggle(root, names):
    faces = synthetic_faces(len(names), seed=7)
    for name, face in zip(names, faces):
        write_image(root / name, np.kron(face, np.ones((2, 2), dtype=np.uint8)))  # 96x96 like the re-uploads
    return root


def test_kaggle_split_folders_any_case(tmp_path):
    root = _kaggle(tmp_path / "k", ["Train/Anger/1.png", "Train/contempt/2.png", "Test/Happy/3.png",
                                    "Test/surprise/4.jpg"])
    ds = load_affectnet_kaggle(root)
    assert ds.source.tolist() == ["affectnet:Test/Happy/3.png", "affectnet:Test/surprise/4.jpg",
                                  "affectnet:Train/Anger/1.png", "affectnet:Train/contempt/2.png"]
    assert ds.labels.tolist() == [INDEX[e] for e in ("happy", "surprise", "angry", "disgust")]
    assert ds.split.tolist() == ["test", "test", "train", "train"]
    assert ds.faces.shape == (4, 48, 48)
    zipped = load_affectnet_kaggle(zip_folder(root, tmp_path / "k.zip", top="AffectNet"))
    assert zipped.source.tolist() == ds.source.tolist()


def test_kaggle_labels_csv_wins_over_folders(tmp_path):
    root = _kaggle(tmp_path / "k", ["anger/a.png", "fear/b.png", "sad/c.png"])
    (root / "labels.csv").write_text("pth,label\nanger/a.png,happy\nfear/b.png,fear\nsad/missing.png,sad\n")
    ds = load_affectnet_kaggle(root)
    assert ds.source.tolist() == ["affectnet:anger/a.png", "affectnet:fear/b.png"]
    assert ds.labels.tolist() == [INDEX["happy"], INDEX["fear"]]
    assert ds.split.tolist() == ["train", "train"] and ds.extra["skipped"] == ["sad/missing.png"]


def test_kaggle_bad_input(tmp_path):
    root = _kaggle(tmp_path / "k", ["anger/a.png", "smirk/b.png"])
    with pytest.raises(DataError, match="'smirk'"):
        load_affectnet_kaggle(root)
    (root / "labels.csv").write_text("path,emotion\n")
    with pytest.raises(DataError, match="expected columns pth,label"):
        load_affectnet_kaggle(root)
    (root / "labels.csv").write_text("pth,label\nanger/a.png,bored\n")
    with pytest.raises(DataError, match="labels.csv: line 2: unknown emotion class 'bored'"):
        load_affectnet_kaggle(root)
