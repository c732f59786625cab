"""The queries: the cheap one whose latency is measured, the heavy ones of the attack, and the hostile corpus of
``tests/api/hostile`` (one query a file, its expected status and error code in its first line)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "api" / "hostile"
TRANSLATION_TIMEOUT_CASE = "in-list-20000-translation-timeout"
TRANSLATION_HEAVY = "translation-timeout-in-20000"  # its name among the heavy queries
# what an error message must not name (as tests/api/test_hostile.py checks)
LEAKS = re.compile(r"Error\b|Exception|psycopg|sqlalchemy|postgres|host|port|max_stack_depth|pool", re.IGNORECASE)

# one solution of one triple pattern: a scan stopped at its first row
CHEAP = ("cheap-select-limit-1", "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1")


@dataclass(frozen=True)
class Case:
    """A corpus file: its name, the query, the expected status and (optionally) error code."""

    name: str
    text: str
    status: int
    code: str | None


def corpus(folder: Path = CORPUS) -> list[Case]:
    """The hostile corpus, sorted by name."""
    cases = []
    for path in sorted(folder.glob("*.rq")):
        first, text = path.read_text(encoding="utf-8").split("\n", 1)
        expect = first.removeprefix("# expect:").split()
        cases.append(Case(path.stem, text, int(expect[0]), expect[1] if len(expect) > 1 else None))
    return cases


def translation_timeout_query(folder: Path = CORPUS) -> str:
    """The corpus's query whose translation runs past the limit: ``?y IN`` a list of 20,000 numbers (written
    the same way here if the file is missing)."""
    path = folder / f"{TRANSLATION_TIMEOUT_CASE}.rq"
    if path.exists():
        return path.read_text(encoding="utf-8").split("\n", 1)[1]
    return "ASK { VALUES ?y { 1 } FILTER(?y IN (" + ", ".join(str(i) for i in range(20000)) + ")) }\n"


def bind_chain(depth: int) -> str:
    """A BIND chain of ``depth`` doublings over the objects of a two-pattern cross join, counted."""
    binds = " ".join(f"BIND(?y{i}+?y{i} AS ?y{i + 1})" for i in range(depth))
    return f"SELECT (COUNT(*) AS ?n) WHERE {{ ?a ?p ?y0 . ?c ?q ?d . {binds} FILTER(BOUND(?y{depth})) }}"


def heavy_queries() -> list[tuple[str, str]]:
    """``(name, query)`` of the attack: each runs into the statement or the translation timeout (or a limit).

    The BIND chain is 40 deep: at 60 its translation alone takes 3-5 s on a 2-core machine, so that it ends in the
    translation limit as often as in the statement timeout, and the attack's database load would vary between runs.
    """
    return [
        ("cross-join-count", "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }"),
        (
            "group-concat-cross-join",
            'SELECT (GROUP_CONCAT(STR(?b); separator=",") AS ?g) WHERE { ?a ?p ?b . ?c ?q ?d }',
        ),
        ("bind-chain-40-cross-join", bind_chain(40)),
        (TRANSLATION_HEAVY, translation_timeout_query()),
    ]
