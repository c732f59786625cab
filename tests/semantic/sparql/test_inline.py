"""VALUES blocks read without pyparsing (:mod:`semantic.sparql.inline`): the same terms as rdflib's grammar gives
(generated blocks, compared term by term), numbers with their sign as written (SPARQL 1.1 section 4.1.2), rows
of the wrong length refused, the text around blocks left alone (strings, comments, IRIs that spell VALUES), and
syntax errors placed in the text as sent."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rdflib import XSD, Literal, URIRef
from rdflib.plugins.sparql.algebra import translateQuery
from rdflib.plugins.sparql.parser import parseQuery
from rdflib.plugins.sparql.parserutils import CompValue

from semantic.errors import QuerySyntaxError
from semantic.rdf.load import literals_as_written
from semantic.sparql.inline import SENTINEL, lift
from semantic.sparql.translate import parse

PROLOGUE = "PREFIX ex: <http://example.org/ns#> PREFIX : <http://example.org/default/> BASE <http://example.org/b/>\n"


def rdflib_parse(text: str) -> Any:
    with literals_as_written():
        return translateQuery(parseQuery(text))


def blocks(parsed: Any) -> list[list[dict[str, tuple[str, str, str | None, str | None]]]]:
    """Each ``values`` node's rows, in the algebra's order, as comparable keys."""
    found: list[Any] = []

    def key(t: Any) -> Any:
        return (type(t).__name__, str(t), getattr(t, "datatype", None), getattr(t, "language", None))

    def visit(node: Any) -> None:
        if isinstance(node, CompValue):
            if node.name == "values":
                found.append([{str(v): key(t) for v, t in row.items()} for row in node["res"]])
                return
            for child in node.values():
                visit(child)
        elif isinstance(node, list | tuple):
            for child in node:
                visit(child)

    visit(parsed.algebra)
    return found


# terms as rdflib reads them the same way (signed numbers aside: see test_numbers_keep_their_sign)
# (rdflib's grammar takes only the escape of a string's own quote; SPARQL's ECHAR, and this module, take both:
# see test_either_quote_escapes_in_either_string)
_echar = ["\\t", "\\n", "\\r", "\\b", "\\f", "\\\\"]
# (and pyparsing turns a tab into spaces wherever it is, inside strings too: see test_a_tab_in_a_string_stays)
_plain = st.text(st.characters(codec="utf-8", exclude_characters="\"'\\\n\r\t", exclude_categories=["Cs"]), max_size=8)


def _body(quote: str) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(_plain, st.sampled_from([*_echar, "\\" + quote])), max_size=4).map("".join)


_string = st.one_of(
    _body('"').map(lambda b: f'"{b}"'),
    _body("'").map(lambda b: f"'{b}'"),
    _body('"').map(lambda b: f'"""{b}"""'),
    _body("'").map(lambda b: f"'''{b}'''"),
)
_local = st.from_regex(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_-])?", fullmatch=True)
_term = st.one_of(
    st.from_regex(r"[0-9]{1,6}", fullmatch=True),
    st.from_regex(r"[0-9]{0,3}\.[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{0,2})?[eE][+-]?[0-9]{1,2}", fullmatch=True),
    st.from_regex(r"\+[0-9]{1,4}", fullmatch=True),
    st.sampled_from(["true", "false", "UNDEF", "<>", "<#frag>", "<rel/x>", "<http://x.org/a?b=c>", "ex:", ":"]),
    _local.map(lambda s: f"ex:{s}"),
    _local.map(lambda s: f":{s}"),
    _string,
    st.tuples(_string, st.from_regex(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8}){0,2}", fullmatch=True)).map("@".join),
    st.tuples(_string, st.sampled_from(["<http://x.org/dt>", "ex:dt", "xsd:integer", "<dt>"])).map("^^".join),
)
_gap = st.sampled_from([" ", "\n", "\t", "  ", " # a comment\n"])


@st.composite
def values_blocks(draw: st.DrawFn) -> str:
    width = draw(st.integers(1, 3))
    single = width == 1 and draw(st.booleans())
    names = [f"?v{i}" for i in range(width)]
    rows = draw(st.lists(st.lists(_term, min_size=width, max_size=width), min_size=1, max_size=6))
    gap = draw(_gap)
    if single:
        data = gap.join(row[0] for row in rows)
        return f"VALUES {names[0]} {{{gap}{data}{gap}}}"
    data = gap.join("(" + gap.join(row) + ")" for row in rows)
    return f"VALUES ({' '.join(names)}){gap}{{{gap}{data}{gap}}}"


@settings(max_examples=300, deadline=None)
@given(st.lists(values_blocks(), min_size=1, max_size=3), st.booleans())
# an escaped backslash before U is no Unicode escape: the block is read here (found by this test in CI)
@example(["VALUES (?v0) { (0) }", 'VALUES (?v0) { ("\\\\U") }'], False)
def test_blocks_read_as_rdflib_reads_them(generated: list[str], trailing: bool) -> None:
    inner = generated if not trailing else generated[:-1]
    text = (
        PROLOGUE
        + "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\nSELECT * WHERE { ?s ?p ?o . "
        + " . ".join(f"{{ {b} }}" for b in inner)
        + " }"
        + (f"\n{generated[-1]}" if trailing else "")
    )
    lifted = lift(text)
    assert len(lifted.blocks) == len(generated)  # every block read here, none left to rdflib
    assert blocks(parse(text)) == blocks(rdflib_parse(text))


@pytest.mark.parametrize(
    ("written", "datatype"),
    [
        ("-5", XSD.integer),  # SPARQL 1.1 section 4.1.2's own examples
        ("1.3", XSD.decimal),
        ("1.0e6", XSD.double),
        ("-1.50", XSD.decimal),  # rdflib's grammar fails here ("Not a number")
        ("-1e3", XSD.double),  # and makes this "-1000.0"
        ("+01", XSD.integer),
        ("+1.50", XSD.decimal),  # and drops this sign
        ("-.5E-2", XSD.double),
    ],
)
def test_numbers_keep_their_sign_and_digits_as_written(written: str, datatype: URIRef) -> None:
    (rows,) = blocks(parse(f"SELECT * {{ VALUES ?x {{ {written} }} }}"))
    assert rows == [{"x": ("Literal", written, datatype, None)}]


def test_either_quote_escapes_in_either_string() -> None:
    (rows,) = blocks(parse("""SELECT * { VALUES ?x { "a\\'b" 'c\\"d' } }"""))
    assert [r["x"][1] for r in rows] == ["a'b", 'c"d']


def test_a_tab_in_a_string_stays() -> None:
    (rows,) = blocks(parse('SELECT * { VALUES ?x { "a\tb" } }'))
    assert rows[0]["x"][1] == "a\tb"


@pytest.mark.parametrize("rows", ["(1)", "(1 2 3)", "(1 2) (3)"])
def test_a_row_of_the_wrong_length_is_a_syntax_error(rows: str) -> None:
    with pytest.raises(QuerySyntaxError, match=r"has [13] values for 2 variables"):
        parse(f"SELECT * {{ VALUES (?a ?b) {{ {rows} }} }}")


def test_text_that_spells_values_is_left_alone() -> None:
    text = (
        PROLOGUE + 'SELECT ?x ?s WHERE {\n  # VALUES ?x { 1 2 }\n  BIND("VALUES ?x { 3 }" AS ?s)\n'
        "  BIND(<http://x/VALUES> AS ?i) BIND(ex:VALUES AS ?j) BIND(:VALUES AS ?k)\n"
        '  BIND("""a\nVALUES ?x { 4 }""" AS ?t)\n  VALUES ?x { 5 }\n}'
    )
    lifted = lift(text)
    assert len(lifted.blocks) == 1 and lifted.blocks[0].rows == [[Literal("5", datatype=XSD.integer)]]
    assert "VALUES ?x { <" + SENTINEL + "0> }" in lifted.text
    assert lifted.text.count("VALUES") == text.count("VALUES")  # the others are where they were
    assert blocks(parse(text)) == blocks(rdflib_parse(text))


@pytest.mark.parametrize(
    "text",
    [
        'SELECT * { VALUES ?x { "\\u0041" } }',  # \u escapes: rdflib expands them in the whole text first
        "PREFIX ex: <http://x/> SELECT * { VALUES ?x { ex:a\\-b } }",  # an escape in a prefixed name
        "SELECT * { VALUES ?x { _:b } }",  # not a value VALUES allows: rdflib's error
        "SELECT * { VALUES () { () () } }",
        "SELECT * { VALUES ?x { } }",
    ],
)
def test_forms_left_to_rdflib_parse_as_rdflib_does(text: str) -> None:
    assert lift(text).blocks == []
    try:
        want = blocks(rdflib_parse(text))
    except Exception:
        with pytest.raises(QuerySyntaxError):
            parse(text)
        return
    assert blocks(parse(text)) == want


def test_an_unknown_prefix_is_a_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError, match="Unknown namespace prefix"):
        parse("SELECT * { VALUES ?x { nope:a } }")


def test_a_syntax_error_after_a_block_is_placed_in_the_text_as_sent() -> None:
    rows = " ".join(str(i) for i in range(500))
    text = f"SELECT * WHERE {{\n  VALUES ?x {{ {rows} }}\n  ?s ?p ?o . FILTER(\n}}"
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    with pytest.raises(Exception) as direct:
        parseQuery(text)
    assert f"line {direct.value.lineno}, column {direct.value.col}" in str(info.value)  # type: ignore[attr-defined]
    assert "line 3" in str(info.value)


def test_a_large_block_keeps_every_row() -> None:
    n = 20_000
    text = "SELECT * { VALUES (?i ?s) { " + " ".join(f'({i} "s{i}"@en)' for i in range(n)) + " } }"
    (rows,) = blocks(parse(text))
    assert len(rows) == n
    assert rows[12345] == {"i": ("Literal", "12345", XSD.integer, None), "s": ("Literal", "s12345", None, "en")}
