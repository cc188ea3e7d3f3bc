"""The HTTP generation service (FastAPI).

    POST /v1/generate  {"labels": 5 | [0, 1, 2], "n": 4, "seed": 0, "format": "png|npz|json"}
    GET  /healthz      liveness
    GET  /v1/model     what is loaded, the limits, and batching counters

``n`` images are drawn per label. Every invalid request gets 422 with a one-line ``detail``.
The seed used is returned in the ``X-Seed`` header, so any response can be reproduced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ganlab.deploy.backends import GeneratorBackend
from ganlab.deploy.batcher import Batcher
from ganlab.images import encode_npz, encode_png, seeded_noise, to_uint8

MAX_SEED = 2**63 - 1


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: StrictInt | list[StrictInt] = Field(description="class or classes to draw")
    n: StrictInt = Field(1, ge=1, description="images per label")
    seed: StrictInt | None = Field(None, ge=0, le=MAX_SEED, description="noise seed")
    format: Literal["png", "npz", "json"] = "png"


def _one_line(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())[1:]) or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(
    backend: GeneratorBackend,
    max_images: int = 256,
    max_batch: int = 1024,
    batch_window_ms: float = 2.0,
) -> FastAPI:
    """An app serving ``backend``; at most ``max_images`` images per request."""
    batcher = Batcher(backend, max_batch=max(max_batch, max_images), window_ms=batch_window_ms)
    info = backend.info

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="ganlab generator", lifespan=lifespan)
    app.state.batcher = batcher

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _one_line(error)})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model() -> dict:
        return {
            **dataclasses.asdict(info),
            "max_images_per_request": max_images,
            "max_batch": batcher.max_batch,
            "batch_window_ms": batch_window_ms,
            "batching": dataclasses.asdict(batcher.stats),
        }

    @app.post("/v1/generate")
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
            return Response(body, media_type="application/octet-stream", headers=headers)
        images = pixels[:, 0] if pixels.shape[1] == 1 else pixels
        payload = {"seed": seed, "labels": labels.tolist(), "shape": list(images.shape)}
        return JSONResponse({**payload, "images": images.tolist()}, headers=headers)

    return app
