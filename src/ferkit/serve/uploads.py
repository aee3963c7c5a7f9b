"""Reading an image out of a request: a multipart upload or the raw body, never more than the cap.

The body is read chunk by chunk and refused as soon as it passes the cap, so an
oversized upload costs neither the memory nor the time of reading it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferkit.errors import FerkitError

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Room for the multipart boundaries and part headers around a file at the cap.
_MULTIPART_SLACK = 64 * 1024
_FILE_FIELDS = ("file", "image")
_HOW = "send the image as a multipart file part (file=@photo.jpg) or as the raw request body"


class UploadError(FerkitError, ValueError):
    """A request whose body is not a usable upload; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """The image bytes a client sent.

    Attributes:
        data: the file's bytes.
        name: the file name the client gave, else ``upload``.
        fields: the other form fields (multipart only), e.g. ``detector``, ``tta``.
    """

    data: bytes
    name: str
    fields: dict[str, str]


def too_large(size: int | str, limit: int) -> UploadError:
    return UploadError(f"upload too large ({size} bytes; the limit is {limit} bytes)", 413)


async def read_upload(request, limit: int = DEFAULT_MAX_UPLOAD_BYTES) -> Upload:
    """The image of a ``POST``: the ``file`` part of a multipart form, or else the whole body.

    Args:
        request: a Starlette/FastAPI ``Request``.
        limit: most bytes accepted for the image.

    Raises:
        UploadError: too large (413), empty or a malformed form (400/422).
    """
    from starlette.requests import Request

    # Any other type is the raw body, x-www-form-urlencoded included: curl --data-binary @photo.jpg sends that.
    kind = request.headers.get("content-type", "")
    multipart = kind.startswith("multipart/form-data")
    cap = limit + (_MULTIPART_SLACK if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(declared, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large(f"over {size}", limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not multipart:
        return _checked(Upload(body, "upload", {}), limit)

    async def replay() -> dict:  # the form parser reads the body we already hold
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except Exception as e:  # noqa: BLE001 - Starlette raises several types for a malformed form
        detail = getattr(e, "detail", None) or str(e) or type(e).__name__
        raise UploadError(f"malformed multipart form ({detail})", 400) from None
    try:
        part = next((form[k] for k in _FILE_FIELDS if k in form and hasattr(form[k], "read")), None)
        if part is None:
            raise UploadError(f"multipart form has no 'file' part; {_HOW}", 422)
        data = await part.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return _checked(Upload(data, _file_name(part.filename), fields), limit)
    finally:
        await form.close()


def _file_name(name: str | None) -> str:
    """The client's file name as errors quote it: one line, at most 200 characters."""
    name = "".join(c if c.isprintable() else "?" for c in (name or ""))[:200]
    return name or "upload"


def _checked(upload: Upload, limit: int) -> Upload:
    if len(upload.data) > limit:
        raise too_large(len(upload.data), limit)
    if not upload.data:
        raise UploadError(f"{upload.name}: empty upload (0 bytes)", 422)
    return upload
