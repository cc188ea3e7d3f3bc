"""Serve a trained generator over HTTP.

    ganlab-serve generator.onnx --port 8000            # onnxruntime backend
    ganlab-serve logs/.../last.ckpt --max-images 64    # torch backend

Listens on 127.0.0.1 unless ``--host`` says otherwise. The address is bound before the model
is loaded and the bound socket is handed to uvicorn, so a bad or busy port is one line
(``error: ...``, exit 2) at once, and nothing can take the port between the check and the
start.
"""

from __future__ import annotations

import logging
import socket

from ganlab.deploy.backends import BACKENDS, load_backend
from ganlab.errors import ConfigError, OneLineArgumentParser, one_line_errors
from ganlab.models.conditional_generator import require_kind

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not yet listening), or a ConfigError that says why not.

    Options as uvicorn sets them, so a port that uvicorn could use is accepted here.
    """
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port; give 1..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot listen on --host {host} --port {port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    from ganlab.deploy.service import DEFAULT_MAX_BODY_BYTES

    parser = OneLineArgumentParser(
        prog="ganlab-serve", description="HTTP service for a trained generator."
    )
    parser.add_argument("model", help=".onnx file, checkpoint (.ckpt) or exported weights folder")
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="1..65535 (8000)")
    parser.add_argument("--max-images", type=int, default=256, help="per request (256)")
    parser.add_argument("--max-batch", type=int, default=1024, help="per generator call (1024)")
    parser.add_argument("--batch-window-ms", type=float, default=2.0, help="coalescing wait (2)")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"larger request bodies get 413 ({DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: one per core)"
    )
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    args = parser.parse_args(argv)
    for flag in ("max_images", "max_batch", "max_body_bytes"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: give 1 or more")
    if args.threads < 0:
        raise ConfigError(f"--threads {args.threads}: give 0 (one per core) or more")
    # A chained comparison with NaN is False, so NaN (which float() accepts) is refused too.
    if not 0 <= args.batch_window_ms < float("inf"):
        raise ConfigError(f"--batch-window-ms {args.batch_window_ms}: give a finite number >= 0")

    sock = bind(args.host, args.port)
    try:
        import uvicorn

        from ganlab.deploy.service import create_app

        backend = load_backend(args.model, args.backend, args.threads)
        require_kind(backend.info.card, "gan", "ganlab-serve", args.model)
        app = create_app(
            backend, args.max_images, args.max_batch, args.batch_window_ms, args.max_body_bytes
        )
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level)
        where = f"[{args.host}]" if ":" in args.host else args.host
        logging.getLogger("uvicorn.error").info(
            "serving on http://%s:%d (press CTRL+C to quit)", where, args.port
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


if __name__ == "__main__":
    main()
