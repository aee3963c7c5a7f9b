import pytest
from conftest import (
    FER2013_CSV, FER2013_ZIP, FERPLUS_CSV, FERPLUS_ROWS, require, synthetic_faces, write_fer2013_csv, write_ferplus,
    write_image,
)

from ferkit.data import DataError, detect_format, load_dataset
from ferkit.data.ferplus import HEADER


@pytest.fixture
def sources(tmp_path):
    """One tiny source of each format ferkit reads."""
    faces = synthetic_faces(4)
    paths = {
        "fer2013_csv": write_fer2013_csv(tmp_path / "fer.csv.gz", faces, [0, 1, 2, 3],
                                         ["Training", "Training", "PublicTest", "PrivateTest"]),
        "fer2013_images": tmp_path / "fer_images",
        "affectnet_kaggle": tmp_path / "kaggle",
        "affectnet_official": tmp_path / "official",
    }
    write_image(paths["fer2013_images"] / "train/fear/Training_1.png", faces[0])
    write_image(paths["fer2013_images"] / "test/fear/PublicTest_2.png", faces[1])
    write_image(paths["affectnet_kaggle"] / "Train/fear/x.png", faces[2])
    official = paths["affectnet_official"]
    write_image(official / "Manually_Annotated_Images/1/a.png", faces[3])
    (official / "Manually_Annotated_file_lists").mkdir()
    (official / "Manually_Annotated_file_lists/training.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
        "1/a.png,0,0,48,48,,4,0,0\n")
    return paths


def test_each_format_is_detected_and_loaded(sources):
    for kind, path in sources.items():
        assert detect_format(path) == kind
        ds = load_dataset(path)
        assert len(ds) >= 1 and ds.faces.shape[1:] == (48, 48)
    assert load_dataset(sources["fer2013_images"]).split.tolist() == ["val", "train"]
    assert load_dataset(sources["affectnet_official"]).labels.tolist() == [2]  # AffectNet 4 (fear)


def test_ferplus_through_load_dataset(tmp_path):
    n = len(FERPLUS_ROWS)
    csv = write_fer2013_csv(tmp_path / "f.csv", synthetic_faces(n), [0] * n, [r[0] for r, _ in FERPLUS_ROWS])
    ferplus = write_ferplus(tmp_path / "fer2013new.csv", FERPLUS_ROWS)
    ds = load_dataset(csv, ferplus=ferplus, soft=True)
    assert len(ds) == sum(1 for _, label in FERPLUS_ROWS if label) and ds.soft_labels is not None
    with pytest.raises(DataError, match="soft labels come from FER\\+"):
        load_dataset(csv, soft=True)


def test_unsupported_paths(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "absent")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(DataError, match="not a dataset ferkit reads"):
        load_dataset(other)
    ferplus = tmp_path / "fer2013new.csv"
    ferplus.write_text(",".join(HEADER) + "\n")
    with pytest.raises(DataError, match="this is the FER\\+ vote file: pass it as --ferplus"):
        load_dataset(ferplus)


def test_real_sources_agree(fer2013, fer2013_zip):
    require(FER2013_CSV), require(FER2013_ZIP), require(FERPLUS_CSV)
    for split in ("train", "val", "test"):
        assert fer2013.by_split(split).class_counts() == fer2013_zip.by_split(split).class_counts()
    with pytest.raises(DataError, match="load fer2013.csv"):
        load_dataset(FER2013_ZIP, ferplus=FERPLUS_CSV)
