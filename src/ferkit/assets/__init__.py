"""Files shipped inside the package. The one place their paths are spelled; imports nothing heavy."""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DEFAULT_MODEL = ASSETS / "default_model.pt"
SAMPLES = ASSETS / "samples"
