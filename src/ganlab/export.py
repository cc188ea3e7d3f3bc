"""Export a trained generator for production.

ganlab-export weights logs/.../last.ckpt --out exported/        # safetensors + JSON
ganlab-export onnx logs/.../last.ckpt --out generator.onnx      # ONNX + parity check
"""

from __future__ import annotations

import json

from ganlab.errors import OneLineArgumentParser, one_line_errors


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(prog="ganlab-export", description="Export a trained generator.")
    formats = parser.add_subparsers(dest="format", required=True)
    weights = formats.add_parser("weights", help="safetensors + JSON, loadable without Lightning")
    weights.add_argument("checkpoint")
    weights.add_argument("--out", default="exported", help="output folder (default: exported)")
    onnx = formats.add_parser("onnx", help="single-file ONNX with a parity check against torch")
    onnx.add_argument("source", help="checkpoint (.ckpt) or exported weights folder")
    onnx.add_argument("--out", default="generator.onnx")
    onnx.add_argument(
        "--parity-batches", type=int, nargs="+", default=[1, 7, 64, 1024], metavar="N"
    )
    onnx.add_argument(
        "--tolerance", type=float, default=1e-5, help="max abs diff, finite and >= 0 (1e-5)"
    )
    args = parser.parse_args(argv)

    if args.format == "weights":
        from ganlab.deploy.weights import export_weights

        out = export_weights(args.checkpoint, args.out)
        print(f"wrote {out}/generator.safetensors and {out}/generator.json")
    else:
        from ganlab.deploy.onnx_export import export_onnx

        report = export_onnx(args.source, args.out, tuple(args.parity_batches), args.tolerance)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
