from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FER2013_CSV = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
FERPLUS_CSV = REPO.parent / "shared" / "data" / "ferplus" / "fer2013new.csv"


@pytest.fixture
def fer2013_csv() -> Path:
    if not FER2013_CSV.exists():
        pytest.skip(f"{FER2013_CSV} is not here (shared data absent)")
    return FER2013_CSV


@pytest.fixture
def ferplus_csv() -> Path:
    if not FERPLUS_CSV.exists():
        pytest.skip(f"{FERPLUS_CSV} is not here (shared data absent)")
    return FERPLUS_CSV
