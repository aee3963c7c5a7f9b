"""The FastAPI app: a factory with thin routes over ``PredictService``, and ``run_server`` for the CLI.

``create_app`` loads the model before returning, so a missing or foreign model
file stops the server before it listens. Every error reaches the client as
``{"error": "one line"}``; a bug answers 500 with no traceback (it is logged here).
"""

import dataclasses
import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from ferkit import __version__
from ferkit.errors import FerkitError
from ferkit.serve.config import ServeConfig

STATIC = Path(__file__).resolve().parent / "static"
_ENV = "FERKIT_SERVE_CONFIG"  # how run_server hands its config to each worker process

log = logging.getLogger("ferkit.serve")

_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "detector": {"type": "string"}, "tta": {"type": "boolean"}}}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(config: ServeConfig | None = None, **overrides):
    """Build the app and load its model.

    Args:
        config: the settings (``ServeConfig``); None: the defaults.
        **overrides: ``ServeConfig`` fields to change, e.g. ``model="m.pt", max_batch=1``.

    Returns:
        a FastAPI app with ``/`` (web page), ``/v1/predict``, ``/v1/health``, ``/v1/model`` and ``/docs``.

    Raises:
        FerkitError: the model cannot be used (one line).
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException

    from ferkit.inference.media import MediaError
    from ferkit.serve.schemas import ErrorOut, Health, ModelCard, Prediction
    from ferkit.serve.service import PredictService, media_status
    from ferkit.serve.uploads import UploadError, read_upload

    config = dataclasses.replace(config or ServeConfig(), **overrides)
    service = PredictService(config)

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        yield
        await service.stop()

    app = FastAPI(title="ferkit", version=__version__, lifespan=lifespan,
                  description="Facial expression recognition: upload a photo, get each face's emotion.")
    app.state.service = service

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(UploadError)
    async def _upload_error(request, e: UploadError):
        return error(e.status, str(e))

    @app.exception_handler(MediaError)
    async def _media_error(request, e: MediaError):
        return error(media_status(e), str(e))

    @app.exception_handler(FerkitError)
    async def _ferkit_error(request, e: FerkitError):
        return error(422, str(e))

    @app.exception_handler(HTTPException)
    async def _http_error(request, e: HTTPException):
        return error(e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, e: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in e.errors()]
        return error(422, "; ".join(problems) or "invalid request")

    # A middleware, not an exception handler for Exception: Starlette re-raises after such a handler has
    # answered, so uvicorn logged every bug a second time with its own traceback.
    @app.middleware("http")
    async def _bug(request, call_next):
        try:
            return await call_next(request)
        except Exception:
            log.exception("unexpected error on %s", request.url.path)
            return error(500, "internal server error (logged on the server)")

    failures = {code: {"model": ErrorOut} for code in (400, 413, 415, 422, 500)}

    @app.post("/v1/predict", response_model=Prediction, responses=failures, openapi_extra=_IMAGE_BODY,
              summary="Faces and their expressions in an uploaded image")
    async def predict(request: Request,
                      detector: str | None = Query(None, description="face detector, e.g. yuface or haar"),
                      tta: bool | None = Query(None, description="also classify the mirrored face")) -> dict:
        upload = await read_upload(request, config.max_upload_bytes)
        return await service.predict(upload, detector, tta)

    @app.get("/v1/health", response_model=Health)
    async def health() -> dict:
        return service.health()

    @app.get("/v1/model", response_model=ModelCard)
    async def model() -> dict:
        return service.card

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: uptime checkers, curl -I
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_env():
    """The app of one worker process started by ``run_server`` (uvicorn imports it by name)."""
    return create_app(ServeConfig(**json.loads(os.environ[_ENV])))


def run_server(config: ServeConfig) -> None:
    """Serve until interrupted.

    Args:
        config: the settings; ``workers > 1`` starts that many processes, each loading the model.

    Raises:
        FerkitError: the model cannot be used; raised before listening.
    """
    import uvicorn

    check_listen(config.host, config.port)
    if config.workers == 1:
        uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info")
        return
    from ferkit.inference.backends import open_backend
    from ferkit.inference.detectors import check_detector

    open_backend(config.model, config.backend, int8=config.int8)  # refuse a bad model here, not once per worker
    if config.detector:
        check_detector(config.detector)
    os.environ[_ENV] = json.dumps(config.to_dict())
    uvicorn.run("ferkit.serve.app:app_from_env", factory=True, host=config.host, port=config.port,
                workers=config.workers, log_level="info")


def check_listen(host: str, port: int) -> None:
    """A one-line ``FerkitError`` now, before the model loads, when ``host:port`` cannot be listened on
    (the port is taken, the host is not an address of this machine or does not resolve)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except OSError as e:
        raise FerkitError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
