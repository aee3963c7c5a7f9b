"""The checkpoints committed under teachers/ (teachers, and the `m` the shipped soup was fine-tuned from): each loads,
and is the file its README describes."""

import hashlib
from pathlib import Path

import pytest

from ferkit.training.checkpoint import load_checkpoint

TEACHERS = Path(__file__).parents[2] / "teachers"


@pytest.mark.parametrize("path", sorted(TEACHERS.glob("*.pt")), ids=lambda p: p.name)
def test_committed_teacher_loads_and_is_the_file_its_readme_describes(path):
    # A teacher replaced without its README (or a truncated file) would change the recipes that name it silently.
    checkpoint = load_checkpoint(path)
    assert checkpoint.arch == ("resnet_swish_m" if path.name.startswith("m-") else "resnet_swish_s")
    listed = (TEACHERS / "README.md").read_text()
    assert f"`{path.name}`" in listed
    assert hashlib.sha256(path.read_bytes()).hexdigest() in listed
