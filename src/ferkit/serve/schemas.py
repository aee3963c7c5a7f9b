"""The JSON the server answers, as Pydantic models: they document the API at ``/docs``.

The face fields are ``ferkit.inference.results.Face.to_dict()``'s, so a client
reads the same result as a Python caller of ``Recognizer.predict``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Box(BaseModel):
    x: int = Field(description="left edge, pixels")
    y: int = Field(description="top edge, pixels")
    w: int
    h: int
    score: float = Field(description="the detector's confidence in [0, 1]")


class FaceOut(BaseModel):
    box: Box
    label: str = Field(description="the most likely emotion")
    confidence: float = Field(description="its calibrated probability")
    probabilities: dict[str, float] = Field(description="every emotion's calibrated probability")


class ImageSize(BaseModel):
    width: int
    height: int


class Timing(BaseModel):
    decode_ms: float
    detect_ms: float = Field(description="face detection and cropping")
    classify_ms: float = Field(description="waiting for the batch to fill, then the classifier")
    total_ms: float


class Prediction(BaseModel):
    source: str = Field(description="the uploaded file's name")
    faces: list[FaceOut] = Field(description="the faces found, the detector's best first; empty when none")
    image: ImageSize
    model: str
    detector: str
    tta: bool
    timing: Timing


class ModelCard(BaseModel):
    name: str
    arch: str
    classes: list[str]
    input_size: list[int]
    temperature: float | None = Field(description="null for an ensemble: each member applies its own")
    test_accuracy: float | None = Field(description="from the checkpoint's metrics, when it has them")
    backend: str
    precision: str = Field(description="fp32, or int8 for a quantized model")
    colours: dict[str, str] = Field(description="a CSS colour per class, as ferkit draws them")


class Health(BaseModel):
    status: str
    model: str
    batching: dict[str, float | int]


class ErrorOut(BaseModel):
    error: str = Field(description="one line saying what is wrong")
