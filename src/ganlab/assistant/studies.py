"""The lab's four studies. Each runs, writes its plots, and returns a markdown section plus the
numbers for results.json; ``lab.py`` strings them together into one report."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ganlab.assistant.assistant import Assistant
from ganlab.assistant.backends.base import Backend
from ganlab.assistant.comparison import pick_examples, run_comparison, summary_rows
from ganlab.assistant.models import spec_by_name
from ganlab.assistant.report import grouped_bars, markdown_table, quote, sweep_figure
from ganlab.assistant.sweeps import run_sweeps
from ganlab.assistant.tracking import Tracker
from ganlab.errors import ConfigError
from ganlab.utils.config import instantiate, instantiate_partial
from ganlab.utils.mappings import plain_dict

log = logging.getLogger(__name__)


@dataclass
class StudyOutput:
    markdown: str
    data: dict[str, Any]
    plots: dict[str, Path] = field(default_factory=dict)


@dataclass
class LabContext:
    cfg: DictConfig
    assistants: dict[str, Assistant]
    run_dir: Path
    tracker: Tracker
    extra_backends: list[Backend] = field(default_factory=list)

    def assistant(self, key: str) -> Assistant:
        if key not in self.assistants:
            raise ConfigError(f"no assistant {key!r} loaded; loaded: {sorted(self.assistants)}")
        return self.assistants[key]

    def backend_for_model(self, model_name: str) -> Backend:
        """A loaded backend running ``model_name``, loading it once more if no assistant uses it."""
        for assistant in self.assistants.values():
            if assistant.model.name == model_name:
                return assistant.backend
        make = instantiate_partial(self.cfg.backend, "backend")
        backend = make(spec=spec_by_name(model_name), models_dir=self.cfg.models_dir)
        self.extra_backends.append(backend)
        return backend


def _pivot(rows: list[dict[str, Any]], row_key: str, column_key: str, value: str) -> list[dict]:
    columns = list(dict.fromkeys(r[column_key] for r in rows))
    table = []
    for name in dict.fromkeys(r[row_key] for r in rows):
        line = {row_key: name}
        for column in columns:
            line[column] = next(
                r[value] for r in rows if r[row_key] == name and r[column_key] == column
            )
        table.append(line)
    return table


_COMMON_COLUMNS = ("suite", "score", "n", "latency_s", "tokens_per_s")


def _metric_tables(rows: list[dict[str, Any]], label: str) -> str:
    """The columns every suite has in one table, then each suite's own metrics (refusal rates,
    per-label accuracy, perplexity, ...) in a table of its own, since they share no columns."""
    parts = [markdown_table(rows, [label, *_COMMON_COLUMNS])]
    for suite in dict.fromkeys(r["suite"] for r in rows):
        chosen = [r for r in rows if r["suite"] == suite]
        extra = [k for k in dict.fromkeys(k for r in chosen for k in r) if k not in _COMMON_COLUMNS]
        extra.remove(label)
        if extra:
            parts += [f"**{suite}**\n", markdown_table(chosen, [label, *extra])]
    return "\n".join(parts)


def _assistant_list(assistants: Mapping[str, Assistant]) -> str:
    return ", ".join(f"{a.name} ({a.model.title})" for a in assistants.values())


def _examples_markdown(examples: list[dict[str, Any]]) -> str:
    parts = []
    for example in examples:
        score = example["score"]
        verdict = "unscored" if score is None else f"score {score:.2f}"
        parts.append(
            f"**{example['assistant']} · {example['suite']} · {example['item']}** "
            f"({verdict}; expected: {example['gold']})\n\n"
            f"{quote(example['prompt'], 400)}\n\n{quote(example['reply'])}\n"
        )
    return "\n".join(parts)


def compare(context: LabContext) -> StudyOutput:
    """Every assistant on every configured suite; scores, speed, examples."""
    cfg = context.cfg.compare
    suites = {key: instantiate(suite_cfg, f"suite {key}") for key, suite_cfg in cfg.suites.items()}
    if cfg.get("fluency_reference"):
        for suite in suites.values():
            if hasattr(suite, "reference"):
                suite.reference = context.backend_for_model(cfg.fluency_reference)
    results = run_comparison(context.assistants, suites, cfg.limit)
    rows = summary_rows(results)
    examples = [e for r in results for e in pick_examples(r, cfg.examples)]
    plots = {
        "compare/scores": grouped_bars(
            rows,
            "suite",
            "assistant",
            "score",
            context.run_dir / "compare_scores.png",
            "Mean score per suite (1 = best)",
            "score",
        ),
        "compare/speed": grouped_bars(
            rows,
            "suite",
            "assistant",
            "tokens_per_s",
            context.run_dir / "compare_speed.png",
            "Generation speed",
            "tokens / s",
        ),
    }
    context.tracker.table("compare/summary", rows)
    context.tracker.table("compare/examples", examples)
    markdown = "\n".join(
        [
            "## Model comparison\n",
            f"Assistants: {_assistant_list(context.assistants)}. "
            f"Same system prompt and parameters; items per suite: {cfg.limit or 'all'}.\n",
            "### Mean score per suite\n",
            markdown_table(_pivot(rows, "assistant", "suite", "score")),
            "### All metrics\n",
            _metric_tables(rows, "assistant"),
            "![scores](compare_scores.png)\n\n![speed](compare_speed.png)\n",
            "### Examples\n",
            _examples_markdown(examples),
        ]
    )
    return StudyOutput(markdown, {"rows": rows, "examples": examples}, plots)


SWEEP_METRICS = ("distinct_2", "self_bleu", "words", "repetition", "deterministic")


def sweep(context: LabContext) -> StudyOutput:
    """One generation parameter at a time on one assistant."""
    cfg = context.cfg.sweep
    assistant = context.assistant(cfg.assistant)
    grid = plain_dict(cfg.grid)
    base = plain_dict(cfg.base)
    points = run_sweeps(assistant, list(cfg.prompts), grid, base, cfg.samples)
    rows = [point.row() for point in points]
    plots = {
        f"sweep/{parameter}": sweep_figure(
            rows, parameter, SWEEP_METRICS, context.run_dir / f"sweep_{parameter}.png"
        )
        for parameter in grid
    }
    context.tracker.table("sweep/points", rows)
    first_prompt = cfg.prompts[0]
    samples = [
        {"parameter": p.parameter, "value": p.value, "reply": p.samples[first_prompt][0]}
        for p in points
    ]
    markdown = "\n".join(
        [
            "## Generation parameters, one at a time\n",
            f"Assistant {assistant.name}; base parameters {base}; {len(cfg.prompts)} prompts x "
            f"{cfg.samples} seeds per value. Diversity (distinct-n, self-BLEU) is measured "
            "among the replies to the same prompt; *deterministic* = share of prompts where the "
            "first seed, asked again, gave the identical reply.\n",
            markdown_table(rows),
            *[f"![{parameter}](sweep_{parameter}.png)\n" for parameter in grid],
            f"### First reply to “{first_prompt}” at each setting\n",
            markdown_table(samples),
        ]
    )
    return StudyOutput(markdown, {"points": rows, "samples": samples}, plots)


def prompts(context: LabContext) -> StudyOutput:
    """Prompting techniques on the same held-out items of each suite."""
    from ganlab.assistant.prompting.base import split_items

    cfg = context.cfg.prompts
    assistant = context.assistant(cfg.assistant)
    rows, examples, fitted = [], [], {}
    for key, suite_cfg in cfg.suites.items():
        suite = instantiate(suite_cfg, f"suite {key}")
        dev, test = split_items(suite.items(), cfg.dev_fraction, cfg.seed)
        test = test[: cfg.limit] if cfg.limit else test
        for name, technique_cfg in cfg.techniques.items():
            technique = instantiate(technique_cfg, f"prompting technique {name}")
            technique.fit(dev, assistant, suite)
            result = suite.run(technique.responder(assistant), name, items=test)
            fitted[f"{key}/{name}"] = (
                technique.describe_fit() if hasattr(technique, "describe_fit") else {}
            )
            log.info("%s on %s: %.3f", name, suite.name, result.mean_score)
            rows.extend(summary_rows([result], label="technique"))
            examples.extend(pick_examples(result, 1))
    selections = [
        {
            "suite": key.split("/")[0],
            "chosen": fit["chosen"].get(assistant.name),
            **fit["dev_scores"].get(assistant.name, {}),
        }
        for key, fit in fitted.items()
        if "chosen" in fit
    ]
    plot = grouped_bars(
        rows,
        "suite",
        "technique",
        "score",
        context.run_dir / "prompts_scores.png",
        f"Prompting techniques ({assistant.name})",
        "score on held-out items",
    )
    context.tracker.table("prompts/summary", rows)
    markdown = "\n".join(
        [
            "## Prompting techniques\n",
            f"Assistant {assistant.name}. Each suite is split once (seed {cfg.seed}): "
            f"{cfg.dev_fraction:.0%} dev items feed the techniques that learn (few-shot pool, "
            "prompt selection); every technique is scored on the same remaining test items.\n",
            markdown_table(_pivot(rows, "technique", "suite", "score")),
            _metric_tables(rows, "technique"),
            "![techniques](prompts_scores.png)\n",
            "### What automatic selection chose (mean dev score per candidate)\n",
            markdown_table(selections),
            "### Examples (prompt as sent)\n",
            _examples_markdown(examples),
        ]
    )
    return StudyOutput(
        markdown, {"rows": rows, "examples": examples, "fit": fitted}, {"prompts/scores": plot}
    )


def rag(context: LabContext) -> StudyOutput:
    """Retrieval quality, then answers with and without retrieval."""
    from ganlab.assistant.rag.evaluation import (
        build_retriever,
        evaluate_rag,
        load_questions,
        retrieval_only,
    )

    cfg = context.cfg.rag
    retriever = build_retriever(cfg)
    questions = load_questions(cfg.questions)
    recall = retrieval_only(retriever, questions, list(cfg.recall_ks))
    assistant = context.assistant(context.cfg.rag_assistant)
    report = evaluate_rag(assistant, retriever, questions, cfg.k, context.cfg.get("rag_limit"))
    context.tracker.summary(
        {
            **{f"rag/retrieval/{k}": v for k, v in recall.items()},
            **{f"rag/answers/{k}": v for k, v in report.metrics.items()},
        }
    )
    context.tracker.table("rag/examples", report.examples)
    shown = report.examples[:3]
    markdown = "\n".join(
        [
            "## Retrieval-augmented generation\n",
            f"Corpus {cfg.corpus}; {len(questions)} labelled questions; "
            f"assistant {assistant.name}; top-{cfg.k} chunks.\n",
            "### Retrieval alone\n",
            markdown_table([recall]),
            "### Answers with and without retrieval\n",
            markdown_table([report.metrics]),
            "### Examples\n",
            *[_rag_example(example) for example in shown],
        ]
    )
    return StudyOutput(
        markdown, {"retrieval": recall, "answers": report.metrics, "examples": report.examples}
    )


def _rag_example(example: Mapping[str, Any]) -> str:
    return (
        f"**{example['question']}**\n\nretrieved: {example.get('retrieved_titles')}\n\n"
        f"with retrieval:\n\n{quote(example.get('reply_rag', ''))}\n\n"
        f"closed book:\n\n{quote(example.get('reply_closed', ''))}\n"
    )


STUDIES = {"compare": compare, "sweep": sweep, "prompts": prompts, "rag": rag}


def check_studies(names: Mapping[str, Any] | list[str]) -> list[str]:
    names = list(names)
    unknown = [name for name in names if name not in STUDIES]
    if unknown or not names:
        raise ConfigError(f"studies={names} must be a non-empty list from {sorted(STUDIES)}")
    return names
