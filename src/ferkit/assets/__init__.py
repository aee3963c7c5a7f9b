"""Files shipped inside the package. The one place their paths are spelled; imports nothing heavy."""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DEFAULT_MODEL = ASSETS / "default_model.pt"
# The same model quantized to int8 (ferkit.inference.quantize), made by the command in docs/TRAINING.md.
DEFAULT_INT8_MODEL = ASSETS / "default_model.int8.onnx"
SAMPLES = ASSETS / "samples"
