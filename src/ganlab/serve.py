"""Serve a trained generator over HTTP.

    ganlab-serve generator.onnx --port 8000            # onnxruntime backend
    ganlab-serve logs/.../last.ckpt --max-images 64    # torch backend

Listens on 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse

from ganlab.deploy.backends import BACKENDS, load_backend
from ganlab.errors import ConfigError, one_line_errors


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="HTTP service for a trained generator.")
    parser.add_argument("model", help=".onnx file, checkpoint (.ckpt) or exported weights folder")
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-images", type=int, default=256, help="per request (256)")
    parser.add_argument("--max-batch", type=int, default=1024, help="per generator call (1024)")
    parser.add_argument("--batch-window-ms", type=float, default=2.0, help="coalescing wait (2)")
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: one per core)"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.max_images < 1 or args.max_batch < 1 or args.batch_window_ms < 0 or args.threads < 0:
        raise ConfigError(
            "--max-images and --max-batch must be >= 1, --batch-window-ms and --threads >= 0"
        )

    import uvicorn

    from ganlab.deploy.service import create_app

    backend = load_backend(args.model, args.backend, args.threads)
    app = create_app(backend, args.max_images, args.max_batch, args.batch_window_ms)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
