"""llama.cpp generation speed per thread count, on a quiet machine and with one core kept busy.

    python benchmarks/llm_threads.py [--model smollm2_135m_instruct] [--threads 1 2]
        [--tokens 64] [--rounds 3] [--out result.json]

The assistant lab runs llama.cpp with ``backend.n_threads``. On a 2-core machine 2 threads are
faster while nothing else runs, but llama.cpp's threads meet at a barrier after every layer, so
when another process takes one core the second thread stalls them all. The busy core here is a
second Python process spinning; settings are interleaved round after round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from ganlab.assistant.backends.llama_cpp import LlamaCppBackend
from ganlab.assistant.models import spec_by_name
from ganlab.assistant.params import GenerationParams

PROMPT = [{"role": "user", "content": "Write a paragraph about the history of bread."}]


def tokens_per_second(backend: LlamaCppBackend, tokens: int) -> float:
    reply = backend.chat(PROMPT, GenerationParams(temperature=0.0, max_tokens=tokens, stop=()))
    return reply.completion_tokens / reply.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m_instruct")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--out")
    args = parser.parse_args()

    spec = spec_by_name(args.model)
    backends = {
        t: LlamaCppBackend(spec, args.models_dir, n_ctx=1024, n_threads=t) for t in args.threads
    }
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for load in ("quiet", "one core busy"):
            spinner = None
            if load != "quiet":
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                for threads, backend in backends.items():
                    tokens_per_second(backend, 8)  # warm the caches after the load changed
                    rate = tokens_per_second(backend, args.tokens)
                    rates.setdefault(f"{threads} threads, {load}", []).append(rate)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
    report = {
        "model": args.model,
        "cores": os.cpu_count(),
        "tokens_per_measurement": args.tokens,
        "tokens_per_s": {name: [round(r, 1) for r in v] for name, v in rates.items()},
        "median_tokens_per_s": {name: round(statistics.median(v), 1) for name, v in rates.items()},
    }
    for name, value in report["median_tokens_per_s"].items():
        print(f"{name:<28} {value:>7.1f} tokens/s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
