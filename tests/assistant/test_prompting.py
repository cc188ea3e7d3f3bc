"""Prompting techniques: templates, rules, few-shot by similarity, selection on a dev split.

Most tests run on a scripted backend (its reply depends on the system prompt it receives), so
they check the techniques, not a model; one test runs each technique once through SmolLM2.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ganlab.assistant.assistant import Assistant, plain_responder
from ganlab.assistant.backends.base import Backend
from ganlab.assistant.models import ModelSpec
from ganlab.assistant.params import GenerationParams
from ganlab.assistant.prompting.base import PlainTechnique, split_items
from ganlab.assistant.prompting.few_shot import FewShotTechnique
from ganlab.assistant.prompting.rules import RuleTechnique
from ganlab.assistant.prompting.selection import SelectionTechnique
from ganlab.assistant.prompting.template import TemplateTechnique
from ganlab.assistant.suites.base import Item, Score, Suite
from ganlab.errors import ConfigError
from ganlab.train import CONFIG_DIR, instantiate


def shipped(name: str):
    """The technique configs/prompting/<name>.yaml builds, instantiated as the lab does."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(f"prompting/{name}")
    return instantiate(cfg.prompting, f"prompting technique {name}")


class ScriptedBackend(Backend):
    """Adds the first two numbers of the question: exactly when the system prompt says 'exact',
    one too many otherwise. Records every chat it receives."""

    def __init__(self) -> None:
        super().__init__(ModelSpec(name="scripted", file="scripted.gguf"))
        self.calls: list[tuple[list[dict[str, str]], GenerationParams]] = []

    def _chat(self, messages, params):
        self.calls.append((messages, params))
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        numbers = [int(n) for n in re.findall(r"\d+", messages[-1]["content"])]
        total = sum(numbers[:2]) + (0 if "exact" in system else 1)
        return str(total), 10, 1, "stop"

    def _complete(self, prompt, params):
        raise NotImplementedError


class SumSuite(Suite):
    """Right when the reply is the sum; an item without gold is reported but not scored."""

    name = "sums"

    def __init__(self, items: list[Item]) -> None:
        self._items = items

    def items(self) -> list[Item]:
        return self._items

    def score(self, item: Item, reply: str) -> Score:
        if item.gold is None:
            return Score(None)
        return Score(float(reply.strip() == str(item.gold)))


def sum_items(n: int, task: str = "arithmetic") -> list[Item]:
    return [
        Item(
            f"{task}-{i}",
            f"What is {i} + {2 * i + 1}?",
            3 * i + 1,
            task,
            {"reference_answer": str(3 * i + 1)},
        )
        for i in range(n)
    ]


@pytest.fixture
def scripted() -> Assistant:
    return Assistant(
        name="scripted",
        system_prompt="You are quick.",
        backend=ScriptedBackend(),
        params=GenerationParams(temperature=0.7, max_tokens=200, stop=("###",)),
    )


# --- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("arithmetic", "Answer: <number>"),
        ("coding", "```python"),
        ("nli", "entailment, neutral or contradiction"),
        ("astrology", "Reply accurately and briefly."),
    ],
)
def test_templates_render_per_task_and_default(scripted, task, expected):
    item = Item("q1", "QUESTION TEXT", task=task)
    prompt = shipped("template").prepare(item, scripted)
    assert prompt.question.startswith("QUESTION TEXT")
    assert expected in prompt.question
    assert prompt.info["template"] == (task if task != "astrology" else "default")
    assert prompt.text() == prompt.question


def test_harmful_and_benign_share_a_template(scripted):
    technique = shipped("template")
    harmful = technique.prepare(Item("h", "REQUEST", task="harmful"), scripted)
    benign = technique.prepare(Item("b", "REQUEST", task="benign"), scripted)
    assert harmful.question == benign.question != "REQUEST"


def test_unknown_template_name_is_a_config_error():
    with pytest.raises(ConfigError, match="'no_such_template'"):
        TemplateTechnique(templates={"coding": "no_such_template"})


def test_folder_without_default_template_is_a_config_error(tmp_path):
    (tmp_path / "coding.j2").write_text("{{ item.prompt }}")
    with pytest.raises(ConfigError, match="'default'"):
        TemplateTechnique(template_dir=tmp_path)


def test_undefined_variable_is_a_config_error_naming_the_template(tmp_path, scripted):
    (tmp_path / "default.j2").write_text("{{ item.prompt }}")
    (tmp_path / "long_context.j2").write_text("{{ item.meta.passage }}\n\n{{ item.prompt }}")
    technique = TemplateTechnique(template_dir=tmp_path)
    with_passage = Item("a", "Who?", task="long_context", meta={"passage": "Ann came."})
    assert technique.render(with_passage) == "Ann came.\n\nWho?"
    with pytest.raises(ConfigError, match=r"'long_context'.*passage"):
        technique.render(Item("b", "Who?", task="long_context"))


# --- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "rule"),
    [
        ("What is 17 * 23?", "arithmetic"),
        ("A baker has 12 trays of 9 rolls. How many rolls does she have?", "arithmetic"),
        ("Write a Python function that reverses a string.", "coding"),
        ("Premise: A dog runs in the park. Hypothesis: An animal is outside.", "nli"),
        ("If every bird has wings and Kiki is a bird, then does Kiki have wings?", "reasoning"),
        (
            "The article above lists 3 ships. According to the article, how many sank?",
            "long_context",
        ),
        ("Hello there! How are you today?", None),
        ("Tell me about your favourite season.", None),
    ],
)
def test_rules_detect_the_task_from_the_text(scripted, prompt, rule):
    # item.task is deliberately wrong: rules must read the text, not the label.
    prompt_sent = shipped("rules").prepare(Item("q", prompt, task="open_ended"), scripted)
    assert prompt_sent.info["rule"] == rule


def test_rules_apply_instruction_system_prompt_and_params(scripted):
    technique = shipped("rules")
    by_name = {rule.name: rule for rule in technique.rules}

    arithmetic = technique.prepare(Item("a", "What is 17 * 23?"), scripted)
    assert arithmetic.question == "What is 17 * 23?\n\n" + by_name["arithmetic"].instruction
    assert arithmetic.params.temperature == 0.0
    assert arithmetic.params.max_tokens == scripted.params.max_tokens
    assert by_name["arithmetic"].instruction in arithmetic.text()

    nli = technique.prepare(Item("n", "Premise: It rains. Hypothesis: It is dry."), scripted)
    assert nli.params.max_tokens == 16
    assert nli.params.stop == ("###", "\n\n")

    coding = technique.prepare(Item("c", "Write a Python function that adds."), scripted)
    assert "Python programmer" in coding.system_prompt
    assert coding.text().startswith("[system]\nYou are an expert Python programmer")

    greeting = technique.prepare(Item("g", "Hello there!"), scripted)
    assert (greeting.question, greeting.params, greeting.system_prompt) == (
        "Hello there!",
        None,
        None,
    )


def test_rule_params_reach_the_backend_and_the_trace(scripted):
    responder = shipped("rules").responder(scripted)
    responder(Item("n", "Premise: It rains. Hypothesis: It is wet."))
    responder(Item("g", "Good morning!"))
    (_, nli_params), (_, plain_params) = scripted.backend.calls
    assert (nli_params.temperature, nli_params.max_tokens) == (0.0, 16)
    assert plain_params == scripted.params
    assert responder.trace["n"]["rule"] == "nli" and responder.trace["g"]["rule"] is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "r1", "pattern": "(", "instruction": "x"}, "r1.*bad pattern"),
        ({"name": "r2", "pattern": "x", "params": {"temprature": 0}}, "r2.*temprature"),
        ({"name": "r3", "pattern": "x", "params": {"max_tokens": 0}}, "r3.*max_tokens"),
        ({"name": "r4", "patern": "x"}, "patern"),
    ],
)
def test_bad_rules_are_config_errors(rule, message):
    with pytest.raises(ConfigError, match=message):
        RuleTechnique([rule])


# --- few-shot --------------------------------------------------------------------------------

POOL = [
    Item("a1", "What is 48 divided by 6?", task="arithmetic", meta={"reference_answer": "8"}),
    Item("a2", "Compute 15 plus 27.", task="arithmetic", meta={"reference_answer": "42"}),
    Item("a3", "What is 9 times 7?", task="arithmetic", meta={"reference_answer": "63"}),
    Item(
        "c1",
        "Write a Python function that returns the largest item of a list.",
        task="coding",
        meta={"reference_answer": "```python\ndef largest(xs):\n    return max(xs)\n```"},
    ),
    Item(
        "c2",
        "Write a Python function that counts the vowels in a string.",
        task="coding",
        meta={
            "reference_answer": "```python\ndef vowels(s):\n    return sum(c in 'aeiou' for c in s)"
            "\n```"
        },
    ),
    Item(
        "n1",
        "Premise: The cat sleeps on the sofa. Hypothesis: The cat is awake.",
        task="nli",
        meta={"reference_answer": "contradiction"},
    ),
    Item(
        "o1",
        "Describe the smell of rain on a summer evening.",
        task="open_ended",
        meta={"reference_answer": "Earthy, fresh and a little sweet."},
    ),
    Item("x1", "Is this request safe?", task="harmful"),
]


@pytest.fixture(scope="module")
def few_shot(embedder) -> FewShotTechnique:
    technique = FewShotTechnique(k=2, embedder=embedder)
    technique.fit(POOL, None, None)
    return technique


def test_few_shot_pool_keeps_items_with_a_reference_answer(few_shot):
    assert [item.id for item in few_shot.pool] == ["a1", "a2", "a3", "c1", "c2", "n1", "o1"]
    assert few_shot.vectors.shape == (7, few_shot.embedder.dim)


@pytest.mark.parametrize(
    ("question", "task"),
    [
        ("What is 56 divided by 8?", "arithmetic"),
        ("Write a Python function that reverses a list.", "coding"),
    ],
)
def test_few_shot_picks_examples_of_the_same_kind(scripted, few_shot, question, task):
    prompt = few_shot.prepare(Item("new", question, task=task), scripted)
    chosen = {item.id: item for item in few_shot.pool}
    examples = prompt.info["examples"]
    assert len(examples) == 2
    assert all(chosen[e["id"]].task == task for e in examples)
    similarities = [e["similarity"] for e in examples]
    assert similarities == sorted(similarities, reverse=True)
    assert prompt.history[-2]["content"] == chosen[examples[0]["id"]].prompt  # closest is last


def test_few_shot_never_chooses_the_item_itself(scripted, few_shot, embedder):
    itself = few_shot.prepare(POOL[0], scripted)
    assert "a1" not in [e["id"] for e in itself.info["examples"]]
    same_text = few_shot.prepare(Item("other-id", POOL[0].prompt), scripted)
    assert "a1" not in [e["id"] for e in same_text.info["examples"]]

    everyone = FewShotTechnique(k=10, embedder=embedder)
    everyone.fit(POOL, None, None)
    ids = [e["id"] for e in everyone.prepare(POOL[3], scripted).info["examples"]]
    assert sorted(ids) == ["a1", "a2", "a3", "c2", "n1", "o1"]


def test_few_shot_history_alternates_user_and_assistant(scripted, few_shot):
    prompt = few_shot.prepare(Item("new", "What is 3 times 4?"), scripted)
    roles = [message["role"] for message in prompt.history]
    assert roles == ["user", "assistant"] * 2
    by_prompt = {item.prompt: item for item in POOL}
    for question, answer in zip(prompt.history[::2], prompt.history[1::2], strict=True):
        assert answer["content"] == by_prompt[question["content"]].meta["reference_answer"]
    assert prompt.question == "What is 3 times 4?"
    assert prompt.text().count("[assistant]") == 2


def test_few_shot_needs_a_pool(embedder, scripted):
    technique = FewShotTechnique(k=2, embedder=embedder)
    with pytest.raises(ConfigError, match="fit"):
        technique.prepare(Item("q", "What is 2 + 2?"), scripted)
    with pytest.raises(ConfigError, match="reference_answer"):
        technique.fit([Item("q", "What is 2 + 2?")], None, None)
    with pytest.raises(ConfigError, match="k=0"):
        FewShotTechnique(k=0)


# --- selection and the split -----------------------------------------------------------------


def test_split_is_disjoint_deterministic_and_stratified():
    items = sum_items(10) + sum_items(5, task="coding")
    dev, test = split_items(items, 0.4, seed=3)
    assert {i.id for i in dev}.isdisjoint({i.id for i in test})
    assert sorted(dev + test, key=items.index) == items
    assert dev == sorted(dev, key=items.index) and test == sorted(test, key=items.index)
    assert [sum(i.task == t for i in dev) for t in ("arithmetic", "coding")] == [4, 2]
    assert split_items(items, 0.4, seed=3) == (dev, test)
    assert split_items(items, 0.4, seed=4) != (dev, test)


@pytest.mark.parametrize(
    ("items", "fraction", "message"),
    [
        (sum_items(4), 0.0, "dev_fraction"),
        (sum_items(4), 1.0, "dev_fraction"),
        (sum_items(1), 0.5, "empty"),
        (sum_items(2) + sum_items(1), 0.5, "arithmetic-0"),
    ],
)
def test_bad_splits_are_config_errors(items, fraction, message):
    with pytest.raises(ConfigError, match=message):
        split_items(items, fraction, seed=0)


def test_selection_keeps_the_best_candidate_on_dev_only(scripted):
    suite = SumSuite(sum_items(10))
    dev, test = split_items(suite.items(), 0.3, seed=11)
    selection = SelectionTechnique(
        {
            "quick": PlainTechnique("Be quick."),
            "exact": PlainTechnique("Be exact."),
            "also_exact": PlainTechnique("Be exact, always."),
        }
    )
    selection.fit(dev, scripted, suite)
    assert selection.dev_scores["scripted"] == {"quick": 0.0, "exact": 1.0, "also_exact": 1.0}
    assert selection.chosen["scripted"] == "exact"  # a tie goes to the first listed
    dev_questions = {item.prompt for item in dev}
    asked = [messages[-1]["content"] for messages, _ in scripted.backend.calls]
    assert len(asked) == 3 * len(dev) and set(asked) == dev_questions

    result = suite.run(selection.responder(scripted), "scripted", items=test)
    assert result.mean_score == 1.0
    assert result.results[0].prompt_used == f"[system]\nBe exact.\n\n[user]\n{test[0].prompt}"
    with pytest.raises(ConfigError, match="used to select"):
        selection.responder(scripted)(dev[0])


def test_selection_skips_unscored_items_and_needs_a_fit(scripted):
    items = [*sum_items(2), Item("open", "What is 1 + 1?", gold=None)]
    selection = SelectionTechnique(
        {"quick": PlainTechnique("Be quick."), "exact": PlainTechnique("exact")}
    )
    with pytest.raises(ConfigError, match="call fit"):
        selection.prepare(items[0], scripted)
    selection.fit(items, scripted, SumSuite(items))
    assert selection.dev_scores["scripted"] == {"quick": 0.0, "exact": 1.0}
    with pytest.raises(ConfigError, match="none of 1 dev items"):
        selection.fit(items[2:], scripted, SumSuite(items))


def test_plain_technique_sends_what_plain_responder_sends(scripted):
    item = sum_items(3)[2]
    responder = PlainTechnique().responder(scripted)
    assert responder(item)[1] == plain_responder(scripted)(item)[1] == item.prompt
    assert scripted.backend.calls[0] == scripted.backend.calls[1]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("plain", PlainTechnique),
        ("template", TemplateTechnique),
        ("rules", RuleTechnique),
        ("few_shot", FewShotTechnique),
        ("selection", SelectionTechnique),
    ],
)
def test_shipped_configs_instantiate(name, kind):
    technique = shipped(name)
    assert type(technique) is kind and technique.name == name
    if kind is SelectionTechnique:
        assert list(technique.candidates) == ["plain", "careful", "templates", "rules"]


# --- one real run ----------------------------------------------------------------------------


@pytest.mark.llm
def test_each_technique_through_smollm2(smollm2_assistant, embedder):
    assistant = dataclasses.replace(
        smollm2_assistant, params=smollm2_assistant.params.replace(max_tokens=24)
    )
    items = [
        Item("t-sum", "What is 12 + 7?", 19, "arithmetic"),
        Item("t-code", "Write a Python function add(a, b) that returns their sum.", None, "coding"),
    ]
    pool = [
        Item("p-sum", "What is 3 + 5?", 8, "arithmetic", {"reference_answer": "Answer: 8"}),
        Item("p-mul", "What is 4 times 6?", 24, "arithmetic", {"reference_answer": "Answer: 24"}),
        Item(
            "p-code",
            "Write a Python function double(x) that returns twice x.",
            None,
            "coding",
            {"reference_answer": "```python\ndef double(x):\n    return 2 * x\n```"},
        ),
    ]
    suite = SumSuite(items)
    few = FewShotTechnique(k=2, embedder=embedder)
    few.fit(pool, assistant, suite)
    selection = SelectionTechnique({"plain": PlainTechnique(), "template": TemplateTechnique()})
    selection.fit(pool[:1], assistant, suite)
    techniques = {
        "plain": PlainTechnique(),
        "template": TemplateTechnique(),
        "rules": shipped("rules"),
        "few_shot": few,
        "selection": selection,
    }
    sent = {}
    for name, technique in techniques.items():
        responder = technique.responder(assistant)
        for item in items:
            reply, prompt = responder(item)
            assert reply.text and reply.completion_tokens > 0
            sent[name, item.id] = (prompt, responder.trace[item.id])

    assert sent["plain", "t-sum"][0] == "What is 12 + 7?"
    assert "Answer: <number>" in sent["template", "t-sum"][0]
    assert "```python" in sent["template", "t-code"][0]
    rules = {rule.name: rule for rule in techniques["rules"].rules}
    for item_id, rule in [("t-sum", "arithmetic"), ("t-code", "coding")]:
        prompt, trace = sent["rules", item_id]
        assert trace["rule"] == rule and rules[rule].instruction in prompt
    for item_id in ("t-sum", "t-code"):
        prompt, trace = sent["few_shot", item_id]
        assert len(trace["examples"]) == 2 and prompt.count("[assistant]") == 2
        assert sent["selection", item_id][1]["candidate"] in {"plain", "template"}
    assert set(selection.dev_scores[assistant.name]) == {"plain", "template"}
