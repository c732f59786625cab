"""The IR that translation gives a query's form (``semantic.sparql.translate.to_ir``), without a database."""

from __future__ import annotations

from rdflib import URIRef, Variable

from semantic.sparql.translate import parse, to_ir

S, P, OBJ = Variable("s"), Variable("p"), Variable("o")


def test_each_form_carries_only_its_own_parts() -> None:
    """A key rdflib's algebra lacks is absent, not its own name (``CompValue.get`` of a missing key answers the
    key: a SELECT had the template ``('t', 'e', 'm', 'p', 'l', 'a', 't', 'e')``, a CONSTRUCT the variables
    ``('P', 'V')``)."""
    select = to_ir(parse("SELECT ?s WHERE { ?s ?p ?o }"))
    assert (select.variables, select.template, select.describe) == ((S,), (), ())
    ask = to_ir(parse("ASK { ?s ?p ?o }"))
    assert (ask.template, ask.describe) == ((), ())
    construct = to_ir(parse("CONSTRUCT { ?s <http://ex/q> ?o } WHERE { ?s ?p ?o }"))
    assert (construct.variables, construct.template) == ((), ((S, URIRef("http://ex/q"), OBJ),))
    where = to_ir(parse("CONSTRUCT WHERE { ?s ?p ?o }"))
    assert (where.variables, where.template) == ((), ((S, P, OBJ),))
    describe = to_ir(parse("DESCRIBE <http://ex/a>"))
    assert (describe.template, describe.describe) == ((), (URIRef("http://ex/a"),))
