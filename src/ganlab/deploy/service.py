"""The HTTP generation service (FastAPI).

    POST /v1/generate  {"labels": 5 | [0, 1, 2], "n": 4, "seed": 0, "format": "png|npz|json"}
    GET  /healthz      liveness
    GET  /v1/model     what is loaded, the limits, and batching counters

``n`` images are drawn per label. Every error reply, FastAPI's own request validation
included, is :class:`ErrorReply`: ``{"detail": "<one line>"}`` (422 for an invalid request,
400 for a body that is not UTF-8 text, 413 for a body over the size cap). The seed used is
returned in the ``X-Seed`` header, so any response can be reproduced. The OpenAPI document at
``/openapi.json`` describes exactly these replies: the 200 of ``/v1/generate`` is
``image/png``, ``application/octet-stream`` (NPZ) or ``application/json``, as ``format`` says.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ganlab.deploy.backends import GeneratorBackend
from ganlab.deploy.batcher import Batcher
from ganlab.images import encode_npz, encode_png, seeded_noise, to_uint8

MAX_SEED = 2**63 - 1
DEFAULT_MAX_BODY_BYTES = 64 * 1024
NPZ_MEDIA_TYPE = "application/octet-stream"


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: StrictInt | list[StrictInt] = Field(description="class or classes to draw")
    n: StrictInt = Field(1, ge=1, description="images per label")
    seed: StrictInt | None = Field(None, ge=0, le=MAX_SEED, description="noise seed")
    format: Literal["png", "npz", "json"] = "png"


class ErrorReply(BaseModel):
    """The body of every 4xx reply: one line that names the bad value and what was expected."""

    detail: str = Field(description="what was wrong, on one line")


Pixel = Annotated[int, Field(ge=0, le=255)]


class GeneratedImages(BaseModel):
    """The 200 reply of ``format=json``: the images as nested lists of uint8 pixels."""

    seed: int = Field(ge=0, le=MAX_SEED)
    labels: list[Annotated[int, Field(ge=0)]] = Field(
        description="the class of each image, ``n`` per requested label"
    )
    shape: list[int] = Field(description="the shape of ``images``")
    images: list[list[list[Pixel]]] | list[list[list[list[Pixel]]]] = Field(
        description="[N, H, W] for one channel, else [N, C, H, W]"
    )


class Health(BaseModel):
    status: Literal["ok"]


class BatchingCounters(BaseModel):
    requests: int
    batches: int
    images: int
    largest_batch: int


class CardDescription(BaseModel):
    """What the generator draws (``ganlab.models.GeneratorCard``)."""

    kind: str
    dataset: str
    class_names: list[str] = Field(description="the name of each class, index = label")
    channels: int
    img_size: int
    evaluator: str


class ModelDescription(BaseModel):
    n_classes: int
    latent_dim: int
    channels: int
    img_size: int
    source: str
    backend: Literal["torch", "onnxruntime"]
    card: CardDescription
    max_images_per_request: int
    max_batch: int
    batch_window_ms: float
    max_body_bytes: int
    batching: BatchingCounters


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SEED_HEADER = {
    "X-Seed": {
        "description": "the noise seed used; send it back as ``seed`` to get the same images",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_GENERATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": GeneratedImages,
        "description": "a PNG grid (one row per label), an NPZ archive or JSON, as ``format`` says",
        "content": {"image/png": _BINARY, NPZ_MEDIA_TYPE: _BINARY},
        "headers": _SEED_HEADER,
    },
    # FastAPI's body parser: a body it cannot decode as text (not UTF-8) is 400, not 422.
    400: {"model": ErrorReply, "description": "the body cannot be read as JSON text"},
    422: {"model": ErrorReply, "description": "the request is invalid"},
}
# Every route reads its body through the size cap, so every route can answer 413.
_APP_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorReply, "description": "the request body is over the size cap"},
}


def _one_line(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())[1:]) or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return " ".join("; ".join(parts).split())


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(ErrorReply(detail=detail).model_dump(), status_code=status)


class BodySizeLimit:
    """Answer 413 to a request whose body is over ``max_bytes``, before the app parses it.

    A declared ``Content-Length`` over the cap is refused without reading the body. Otherwise
    (chunked bodies, or a client that sends more than it declared) the body is counted as it
    arrives and held (at most ``max_bytes``) until it is complete, then replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> JSONResponse:
        return _error(413, f"request body is over {self.max_bytes} bytes, this server's cap")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; nobody is left to answer
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for a disconnect as usual
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


def create_app(
    backend: GeneratorBackend,
    max_images: int = 256,
    max_batch: int = 1024,
    batch_window_ms: float = 2.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """An app serving ``backend``; at most ``max_images`` images per request and request
    bodies of at most ``max_body_bytes`` (a JSON request needs well under 1 KiB per label)."""
    batcher = Batcher(backend, max_batch=max(max_batch, max_images), window_ms=batch_window_ms)
    info = backend.info

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="ganlab generator", lifespan=lifespan, responses=_APP_RESPONSES)
    app.state.batcher = batcher
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _one_line(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # 404/405 from the router and the checks below: the same one-line shape.
        reply = _error(error.status_code, " ".join(str(error.detail).split()))
        reply.headers.update(error.headers or {})
        return reply

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/model", response_model=ModelDescription)
    async def model() -> dict:
        return {
            **dataclasses.asdict(info),
            "max_images_per_request": max_images,
            "max_batch": batcher.max_batch,
            "batch_window_ms": batch_window_ms,
            "max_body_bytes": max_body_bytes,
            "batching": dataclasses.asdict(batcher.stats),
        }

    @app.post("/v1/generate", response_model=None, responses=_GENERATE_RESPONSES)
    async def generate(request: GenerateRequest) -> Response:
        classes = [request.labels] if isinstance(request.labels, int) else request.labels
        if not classes:
            raise HTTPException(422, "labels: give at least one class")
        bad = [c for c in classes if not 0 <= c < info.n_classes]
        if bad:
            raise HTTPException(422, f"labels: {bad[0]} is outside 0..{info.n_classes - 1}")
        total = len(classes) * request.n
        if total > max_images:
            raise HTTPException(
                422, f"n x labels = {total} images; this server allows at most {max_images}"
            )
        seed = request.seed if request.seed is not None else secrets.randbits(63)
        labels = np.repeat(np.asarray(classes, dtype=np.int64), request.n)
        noise = seeded_noise(total, info.latent_dim, seed)
        pixels = to_uint8(await batcher.generate(noise, labels))
        headers = {"X-Seed": str(seed)}
        if request.format == "png":
            body = encode_png(pixels, per_row=request.n)
            return Response(body, media_type="image/png", headers=headers)
        if request.format == "npz":
            body = encode_npz(pixels, labels)
            return Response(body, media_type=NPZ_MEDIA_TYPE, headers=headers)
        images = pixels[:, 0] if pixels.shape[1] == 1 else pixels
        payload = {"seed": seed, "labels": labels.tolist(), "shape": list(images.shape)}
        return JSONResponse({**payload, "images": images.tolist()}, headers=headers)

    return app
