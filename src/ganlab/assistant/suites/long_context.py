"""Finding one fact in a long document: a fictional freight company's depot log.

Each item's passage is built deterministically from its seed: a few dozen depot entries, each
with a town, a manager, a door code and a pallet count (all unique within the passage), mixed
with filler remarks. The question asks for one field of one depot, placed at a chosen depth
(0 = first entry, 1 = last), so results can be read as accuracy against position. Passages stay
under ~2,000 tokens for all three catalogue tokenizers (backends run with a 4,096-token
context).

A reply scores 1 when it contains the asked value and none of the other depots' values for
that field, so listing every code in the log does not earn the point.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ganlab.assistant.scoring.answers import contains_answer
from ganlab.assistant.suites.base import Item, Score, Suite
from ganlab.assistant.suites.item_files import read_records
from ganlab.errors import DataFileError

TOWNS = (
    "Marrow Bay", "Quillfield", "Osterby", "Fenwick Cross", "Haldane", "Port Ellery",
    "Brackmoor", "Tillbrook", "Carrow Heath", "Delphin", "Eskdale Vale", "Grimsholt",
    "Larkhaven", "Millbrae", "Northcote", "Pellworth", "Ravensby", "Saltmere", "Thornwick",
    "Upton Marsh", "Wexley", "Yarrowby", "Ashcombe", "Bellhaven", "Coldharbour", "Dunmore",
    "Elderwick", "Farrowdale", "Glenholt", "Hollins End", "Ivybridge Row", "Kestrel Point",
    "Lowmoor", "Merriton", "Nettlebed", "Orchard Hythe", "Pinfold", "Redgate", "Stonecrop",
    "Wrenfield",
)  # fmt: skip
FIRST_NAMES = (
    "Odile", "Tomasz", "Ingrid", "Kwame", "Lucia", "Ravi", "Sanne", "Bartholomew", "Yusuf",
    "Marisol", "Henrik", "Aiko", "Desmond", "Fenella", "Gustavo", "Noor", "Petra", "Callum",
    "Zofia", "Emeka",
)  # fmt: skip
SURNAMES = (
    "Fenn", "Okafor", "Lindqvist", "Marchetti", "Haddad", "Pryce", "Vos", "Abernathy",
    "Castellanos", "Duval", "Nakamura", "Quist", "Rowntree", "Szabo", "Thorne", "Umberfield",
    "Valdez", "Whitlock", "Yilmaz", "Zeller",
)  # fmt: skip
ENTRY_TEMPLATES = (
    "Depot {number} ({town}) is managed by {manager}. It shipped {pallets} pallets last "
    "quarter, and its loading-bay door code is {code}.",
    "In {town}, {manager} runs depot {number}; the loading-bay door code there is {code}, and "
    "last quarter's volume was {pallets} pallets.",
    "{manager} manages the {town} depot (number {number}). Loading-bay door code: {code}. "
    "Pallets shipped last quarter: {pallets}.",
)
FILLERS = (
    "A roof inspection found no problems.",
    "Two forklifts were serviced during the quarter.",
    "Staff asked for a second coffee machine.",
    "The yard lights were replaced with LED units.",
    "Heavy rain delayed deliveries for one week.",
    "A new recycling scheme for shrink wrap started in the spring.",
    "The fire drill was completed in under four minutes.",
    "Night shifts were reduced during the summer.",
    "One loading ramp is waiting for repairs.",
    "The depot passed its annual safety audit.",
    "Seasonal workers joined for the holiday rush.",
    "The car park was resurfaced.",
)
QUESTIONS = {
    "manager": "Who manages the depot in {town}? Reply with the name only.",
    "code": "What is the loading-bay door code of the depot in {town}? Reply with the code only.",
    "pallets": (
        "How many pallets did the depot in {town} ship last quarter? Reply with the number only."
    ),
}
INSTRUCTION = "Below is a depot log. Read it, then answer the question that follows it."


@dataclass(frozen=True)
class Depot:
    number: int
    town: str
    manager: str
    code: str
    pallets: int

    def field(self, name: str) -> str:
        return str(getattr(self, name))


def build_depots(seed: int, count: int) -> list[Depot]:
    """``count`` depots whose towns, managers, codes and pallet counts are all distinct."""
    if not 2 <= count <= len(TOWNS):
        raise DataFileError(f"long_context: entries must be in [2, {len(TOWNS)}], got {count}")
    rng = random.Random(seed)
    towns = rng.sample(TOWNS, count)
    names = rng.sample([f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES], count)
    codes: dict[str, None] = {}  # insertion-ordered, unlike a set
    while len(codes) < count:
        letter = rng.choice("BCDFGHJKLMNPRSTVWXZ")
        codes[f"{letter}{rng.randint(2, 9)}-{rng.randint(100, 999)}"] = None
    pallets = rng.sample(range(1200, 9800), count)
    numbers = rng.sample(range(10, 99), count)
    return [
        Depot(number, town, name, code, count_)
        for number, town, name, code, count_ in zip(
            numbers, towns, names, codes, pallets, strict=True
        )
    ]


def render_log(depots: list[Depot], seed: int) -> str:
    rng = random.Random(seed + 1)
    lines = ["Larkspur Freight - quarterly depot log (fictional)", ""]
    for depot in depots:
        entry = rng.choice(ENTRY_TEMPLATES).format(
            number=depot.number,
            town=depot.town,
            manager=depot.manager,
            code=depot.code,
            pallets=f"{depot.pallets:,}",
        )
        lines.append(f"- {entry} {rng.choice(FILLERS)}")
    return "\n".join(lines)


class LongContextSuite(Suite):
    name = "long_context"
    description = "one fact buried at a chosen depth in a ~2k-token depot log (1 if found)"

    def items(self) -> list[Item]:
        return [self._item(record) for record in read_records("long_context.jsonl")]

    def _item(self, record: dict) -> Item:
        try:
            seed, count, depth, field = (record[k] for k in ("seed", "entries", "depth", "field"))
        except KeyError as missing:
            raise DataFileError(f"long_context.jsonl: {record['id']!r} lacks {missing}") from None
        if field not in QUESTIONS or not 0.0 <= depth <= 1.0:
            raise DataFileError(
                f"long_context.jsonl: {record['id']!r} needs field in {sorted(QUESTIONS)} "
                f"and depth in [0, 1]"
            )
        depots = build_depots(seed, count)
        position = round(depth * (count - 1))
        target = depots[position]
        question = QUESTIONS[field].format(town=target.town)
        prompt = f"{INSTRUCTION}\n\n{render_log(depots, seed)}\n\nQuestion: {question}"
        return Item(
            id=record["id"],
            prompt=prompt,
            gold=target.field(field),
            task="long_context",
            meta={
                "field": field,
                "depth": depth,
                "position": position,
                "entries": count,
                "question": question,
                "distractors": [d.field(field) for d in depots if d is not target],
                "reference_answer": target.field(field),
            },
        )

    def score(self, item: Item, reply: str) -> Score:
        found = contains_answer(reply, item.gold)
        others = [d for d in item.meta["distractors"] if contains_answer(reply, d)]
        return Score(float(found and not others), {"found": found, "other_values": others})
