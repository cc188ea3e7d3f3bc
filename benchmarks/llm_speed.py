"""llama.cpp speed per model and thread count: prompt reading and generation, quiet and busy.

    python benchmarks/llm_speed.py [--models smollm2_135m_instruct gemma3_270m ...]
        [--threads 1 2] [--tokens 64] [--rounds 3] [--out docs/results/llm_speed.json]

Two rates, because the lab's suites mix them: *prefill* (prompt tokens read per second, from a
~700-token prompt and a one-token reply) dominates long-context and RAG items; *generation*
(reply tokens per second, from the time of a 64-token reply minus the one-token reply's) dominates
open-ended answers. On a 2-core machine 2 threads are faster while nothing else runs, but
llama.cpp's threads meet at a barrier after every layer, so when another process takes one core
the second thread stalls them all. The busy core here is a second Python process spinning;
settings are interleaved round after round so that drifts in the machine hit all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from ganlab.assistant.backends.llama_cpp import LlamaCppBackend
from ganlab.assistant.models import catalogue, spec_by_name
from ganlab.assistant.params import GenerationParams

SHORT = [{"role": "user", "content": "Write a paragraph about the history of bread."}]
LONG = [
    {
        "role": "user",
        "content": " ".join(
            f"Line {n}: the sensor in room {n % 17} read {20 + n % 9} degrees at {n % 24}:00."
            for n in range(40)
        )
        + "\nWhich room had the first reading?",
    }
]


def measure(backend: LlamaCppBackend, tokens: int) -> dict[str, float]:
    one = GenerationParams(temperature=0.0, max_tokens=1, stop=())
    many = GenerationParams(temperature=0.0, max_tokens=tokens, stop=())
    prefill = backend.chat(LONG, one)
    first = backend.chat(SHORT, one)
    full = backend.chat(SHORT, many)
    return {
        "prefill": prefill.prompt_tokens / prefill.seconds,
        "generation": (full.completion_tokens - 1) / (full.seconds - first.seconds),
        "prompt_tokens": prefill.prompt_tokens,
    }


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: the whole catalogue")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--out")
    args = parser.parse_args()

    names = args.models or sorted(catalogue())
    backends = {
        (name, t): LlamaCppBackend(spec_by_name(name), args.models_dir, n_ctx=2048, n_threads=t)
        for name in names
        for t in args.threads
    }
    samples: dict[tuple[str, str, str], list[float]] = {}
    prompt_tokens: dict[str, int] = {}
    for _ in range(args.rounds):
        for load in ("quiet", "one core busy"):
            spinner = None
            if load != "quiet":
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                for (name, threads), backend in backends.items():
                    backend.chat(SHORT, GenerationParams(max_tokens=4))  # warm up after a change
                    rates = measure(backend, args.tokens)
                    prompt_tokens[name] = int(rates.pop("prompt_tokens"))
                    setting = f"{threads} thread{'s' if threads > 1 else ''}, {load}"
                    for kind, rate in rates.items():
                        samples.setdefault((name, setting, kind), []).append(rate)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()

    report: dict = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "generated_tokens": args.tokens,
        "prefill_prompt_tokens": prompt_tokens,
        "rounds": args.rounds,
        "median_tokens_per_s": {},
        "tokens_per_s": {},
    }
    print(f"{'model':<28} {'setting':<26} {'prefill':>9} {'generation':>11}  (tokens/s)")
    for (name, setting, kind), values in samples.items():
        report["tokens_per_s"].setdefault(name, {}).setdefault(setting, {})[kind] = [
            round(v, 1) for v in values
        ]
        median = round(statistics.median(values), 1)
        report["median_tokens_per_s"].setdefault(name, {}).setdefault(setting, {})[kind] = median
    for name, settings in report["median_tokens_per_s"].items():
        for setting, rates in settings.items():
            print(f"{name:<28} {setting:<26} {rates['prefill']:>9.1f} {rates['generation']:>11.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
