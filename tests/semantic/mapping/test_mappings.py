"""R2RML mappings: the shipped ones, validation against a migrated PostGIS, the parser (the ontology and
T-mappings: test_ontology.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from esdl_testing.vocab import GEO, MAP
from esdl_testing.vocab import MAP_EX as EX
from esdl_testing.vocab import MAPPING_PREFIXES as PREFIXES
from semantic.mapping import (
    ESDL,
    MappingError,
    MappingSet,
    RefObjectMap,
    TermKind,
    TermMap,
    TermType,
    iri_safe,
    load_mappings,
    parse_mappings,
    parse_template,
    validate_mappings,
)
from semantic.mapping.r2rml import Column
from semantic.mapping.validate import read_foreign_keys
from semantic.store.db import make_engine
from semantic.store.models import Base

NOT_MAPPED = {
    "rdf_quad",
    "rdf_signature",
    "rdf_signature_state",
}  # the quad table and what it holds: read by the engine directly


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings()


@pytest.fixture
def engine(catalog_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------------------------------------------------------
# the shipped mappings


def test_every_catalogue_table_is_mapped(mappings: MappingSet) -> None:
    assert mappings.tables == set(Base.metadata.tables) - NOT_MAPPED
    assert not NOT_MAPPED & mappings.tables


def test_subject_iris_are_unique_per_row(mappings: MappingSet) -> None:
    """Every subject template over a table names all of its primary key columns."""
    for tm in mappings:
        assert tm.subject.kind is TermKind.TEMPLATE and tm.subject.term_type is TermType.IRI
        assert tm.subject.value.startswith("https://w3id.org/esdl/")
        table = tm.logical_table.table
        if table is not None:
            key = {c.name for c in Base.metadata.tables[table].primary_key.columns}
            assert key <= set(tm.subject.columns), tm.name
    # the joined query gives observations the same IRIs as the zonal_stat table
    assert mappings[MAP + "ZonalStatisticDataSet"].subject == mappings[MAP + "ZonalStatistic"].subject


def test_shipped_mappings_vocabulary(mappings: MappingSet) -> None:
    region = mappings[MAP + "Region"]
    assert region.classes == (ESDL + "Region",)
    objects = {pm.value: om for pom in region.predicate_object_maps for pm in pom.predicates for om in pom.objects}
    assert objects[GEO + "hasDefaultGeometry"] == TermMap(
        TermKind.TEMPLATE, "https://w3id.org/esdl/region/{id}/geometry", TermType.IRI
    )
    geometry = mappings[MAP + "RegionGeometry"]
    serialisations = {
        pm.value: om for pom in geometry.predicate_object_maps for pm in pom.predicates for om in pom.objects
    }
    assert serialisations[GEO + "asWKT"] == TermMap(TermKind.COLUMN, "geom", TermType.LITERAL, GEO + "wktLiteral")
    assert serialisations[GEO + "asGeoJSON"] == TermMap(
        TermKind.COLUMN, "geom", TermType.LITERAL, GEO + "geoJSONLiteral"
    )
    zonal = mappings[MAP + "ZonalStatistic"]
    datatypes = {
        pm.value: om.datatype
        for pom in zonal.predicate_object_maps
        for pm in pom.predicates
        for om in pom.objects
        if isinstance(om, TermMap)
    }
    xsd = "http://www.w3.org/2001/XMLSchema#"
    assert datatypes[ESDL + "time"] == xsd + "dateTime"
    assert datatypes[ESDL + "validCount"] == xsd + "integer"
    assert {datatypes[ESDL + m] for m in ("mean", "min", "max", "std", "coveredArea")} == {xsd + "double"}


def test_shipped_mappings_validate_against_the_migrated_database(engine: sa.Engine, mappings: MappingSet) -> None:
    types = validate_mappings(engine, mappings)
    assert types[("region", "geom")] == "geometry(multipolygon,4326)"
    assert types[("cube", "footprint")] == "geometry(multipolygon,4326)"
    assert types[("zonal_stat", "time")] == "timestamp with time zone"
    assert types[("zonal_stat", "valid_count")] == "integer"
    assert types[("variable", "mean")] == "double precision"
    assert types[("cube", "attrs")] == "jsonb"
    query = mappings[MAP + "ZonalStatisticDataSet"].logical_table.key
    assert types[(query, "cube_id")] == "bigint"
    assert types[(query, "time")] == "timestamp with time zone"
    with engine.connect() as conn:  # an open connection works too, and stays usable
        assert validate_mappings(conn, mappings) == types
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_foreign_keys_are_read(engine: sa.Engine, mappings: MappingSet) -> None:
    keys = {
        (fk.table, fk.columns, fk.referred_table, fk.referred_columns) for fk in read_foreign_keys(engine, mappings)
    }
    assert ("zonal_stat", ("region_id",), "region", ("id",)) in keys
    assert ("variable", ("cube_id",), "cube", ("id",)) in keys


# ---------------------------------------------------------------------------------------------------------------
# broken mappings against the database

REGION = (
    PREFIXES
    + """
ex:Region rr:logicalTable [ rr:tableName "{table}" ] ;
    rr:subjectMap [ rr:template "https://w3id.org/esdl/region/{{id}}" ; rr:class esdl:Region ] ;
    rr:predicateObjectMap [ rr:predicate esdl:name ; rr:objectMap [ rr:column "{column}" ] ] .
"""
)


def test_unknown_column_is_named(engine: sa.Engine) -> None:
    with pytest.raises(MappingError) as err:
        validate_mappings(engine, parse_mappings(REGION.format(table="region", column="nam")))
    assert str(err.value) == (
        f"triples map <{EX}Region>: table region has no column nam "
        "(columns: id, source, name, kind, geom, area_m2, properties)"
    )


def test_unknown_table_is_named(engine: sa.Engine) -> None:
    with pytest.raises(MappingError, match=rf"triples map <{EX}Region>: unknown table regions; did you mean region\?"):
        validate_mappings(engine, parse_mappings(REGION.format(table="regions", column="name")))


def test_schema_qualified_and_quoted_names(engine: sa.Engine) -> None:
    text = REGION.format(table='public.\\"region\\"', column='\\"name\\"')
    types = validate_mappings(engine, parse_mappings(text))
    assert types[('public."region"', "name")] == "text"


def test_every_problem_is_reported(engine: sa.Engine) -> None:
    text = (
        PREFIXES
        + """
ex:A rr:logicalTable [ rr:tableName "cube" ] ;
    rr:subjectMap [ rr:template "https://example.org/{ident}" ] .
ex:B rr:logicalTable [ rr:sqlQuery "SELECT id AS region_id FROM region" ] ;
    rr:subjectMap [ rr:template "https://example.org/r/{region}" ] .
ex:C rr:logicalTable [ rr:sqlQuery "SELECT nothing FROM region" ] ;
    rr:subjectMap [ rr:template "https://example.org/c/{nothing}" ] .
ex:D rr:logicalTable [ rr:tableName "variable" ] ;
    rr:subjectMap [ rr:template "https://example.org/v/{id}" ] ;
    rr:predicateObjectMap [ rr:predicate ex:cube ; rr:objectMap [
        rr:parentTriplesMap ex:A ; rr:joinCondition [ rr:child "cube" ; rr:parent "cube_id" ] ] ] .
"""
    )
    with pytest.raises(MappingError) as err:
        validate_mappings(engine, parse_mappings(text))
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"triples map <{EX}A>: table cube has no column ident (columns: id, name, version")
    assert lines[1] == f"triples map <{EX}B>: rr:sqlQuery has no column region (columns: region_id)"
    assert lines[2].startswith(f'triples map <{EX}C>: rr:sqlQuery fails: column "nothing" does not exist')
    assert lines[3].startswith(f"triples map <{EX}D>: table variable has no column cube (columns: id, cube_id")
    assert lines[4].startswith(f"triples map <{EX}D>: table cube has no column cube_id (columns: id, name")
    assert len(lines) == 5


def test_sql_query_is_passed_as_written(engine: sa.Engine) -> None:
    text = (
        PREFIXES
        + """
ex:Q rr:logicalTable [ rr:sqlQuery "SELECT id, name FROM region WHERE name LIKE '%:x%' AND id::text <> ''" ] ;
    rr:subjectMap [ rr:template "https://example.org/{id}" ] .
"""
    )
    mappings = parse_mappings(text)
    types = validate_mappings(engine, mappings)
    assert types[(mappings[EX + "Q"].logical_table.key, "id")] == "bigint"


# ---------------------------------------------------------------------------------------------------------------
# the parser

MAPPING_ERRORS = {
    "missing logical table": (
        "ex:M rr:subjectMap [ rr:template 'https://example.org/{id}' ] .",
        f"triples map <{EX}M>: missing rr:logicalTable",
    ),
    "table and query": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ; rr:sqlQuery 'SELECT 1' ] ; rr:subject ex:s .",
        "exactly one of rr:tableName and rr:sqlQuery",
    ),
    "two of column template constant": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; "
        "rr:subjectMap [ rr:template 'https://example.org/{id}' ; rr:column 'id' ] .",
        f"triples map <{EX}M>: the subject map has rr:column and rr:template of rr:constant, rr:column, "
        "rr:template; a term map has exactly one",
    ),
    "no column template constant": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:class esdl:Region ] .",
        "the subject map has none of rr:constant, rr:column, rr:template",
    ),
    "missing subject map": ("ex:M rr:logicalTable [ rr:tableName 'region' ] .", "missing rr:subjectMap"),
    "literal subject": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; "
        "rr:subjectMap [ rr:column 'name' ; rr:termType rr:Literal ] .",
        "the subject map cannot produce literals",
    ),
    "unclosed brace": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id' ] .",
        "bad template 'https://example.org/{id' in the subject map: unclosed {",
    ),
    "stray brace": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/id}' ] .",
        "bad template 'https://example.org/id}' in the subject map: unescaped } at position 22",
    ),
    "empty column": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{}' ] .",
        "empty column name",
    ),
    "typo in a property": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:name ; rr:objectMap [ rr:colum 'name' ] ] .",
        f"triples map <{EX}M>: unknown or misplaced R2RML property rr:colum on the object map",
    ),
    "unknown parent": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:p ; rr:objectMap [ rr:parentTriplesMap ex:Nope ] ] .",
        f"triples map <{EX}M>: unknown parent triples map <{EX}Nope>",
    ),
    "join needed": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:p ; rr:objectMap [ rr:parentTriplesMap ex:N ] ] . "
        "ex:N rr:logicalTable [ rr:tableName 'cube' ] ; rr:subjectMap [ rr:template 'https://example.org/c/{id}' ] .",
        "needs rr:joinCondition",
    ),
    "datatype and language": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:p ; rr:objectMap [ rr:column 'name' ; rr:language 'en' ; "
        "rr:datatype xsd:string ] ] .",
        "has both rr:datatype and rr:language",
    ),
    "datatype on an IRI": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:p ; rr:objectMap [ rr:column 'name' ; rr:termType rr:IRI ; "
        "rr:datatype xsd:string ] ] .",
        "rr:datatype and rr:language apply only to literals",
    ),
    "literal predicate": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate 'name' ; rr:object 1 ] .",
        "the predicate map cannot produce literals",
    ),
    "no object": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ] ; rr:subjectMap [ rr:template 'https://example.org/{id}' ] ; "
        "rr:predicateObjectMap [ rr:predicate esdl:p ] .",
        "a predicate-object map without rr:object or rr:objectMap",
    ),
    "two logical tables": (
        "ex:M rr:logicalTable [ rr:tableName 'region' ], [ rr:tableName 'cube' ] ; rr:subject ex:s .",
        "the triples map has 2 values of rr:logicalTable",
    ),
    "query with a semicolon": (
        "ex:M rr:logicalTable [ rr:sqlQuery 'SELECT 1;' ] ; rr:subject ex:s .",
        "rr:sqlQuery must be one SQL query without a final ;",
    ),
    "not turtle": ("ex:M rr:logicalTable [", "the mappings text is not valid Turtle"),
}


@pytest.mark.parametrize("case", list(MAPPING_ERRORS))
def test_invalid_mappings_are_named_errors(case: str) -> None:
    text, message = MAPPING_ERRORS[case]
    with pytest.raises(MappingError) as err:
        parse_mappings(PREFIXES + text)
    assert message in str(err.value)


def test_parse_ref_object_maps_graphs_and_constants() -> None:
    text = (
        PREFIXES
        + """
ex:Stat rr:logicalTable [ rr:tableName "zonal_stat" ] ;
    rr:subjectMap [ rr:template "https://example.org/z/{variable_id}/{region_id}" ; rr:graph ex:g ;
        rr:class esdl:ZonalStatistic ] ;
    rr:predicateObjectMap [
        rr:predicate esdl:region ;
        rr:objectMap [ rr:parentTriplesMap ex:Region ;
            rr:joinCondition [ rr:child "region_id" ; rr:parent "id" ] ] ;
        rr:graphMap [ rr:template "https://example.org/graph/{variable_id}" ]
    ] ;
    rr:predicateObjectMap [ rr:predicate esdl:note ; rr:object "fixed"@en ] ;
    rr:predicateObjectMap [ rr:predicate esdl:label ; rr:objectMap [ rr:template "v{variable_id}" ] ] ;
    rr:predicateObjectMap [ rr:predicate esdl:blank ;
        rr:objectMap [ rr:template "b{region_id}" ; rr:termType rr:BlankNode ] ] .
ex:Region rr:logicalTable [ rr:tableName "region" ] ;
    rr:subjectMap [ rr:template "https://example.org/r/{id}" ] .
"""
    )
    mappings = parse_mappings(text)
    stat = mappings[EX + "Stat"]
    assert stat.graphs == (TermMap.constant_iri(EX + "g"),)
    region_pom, note, label, blank = sorted(
        stat.predicate_object_maps,
        key=lambda pom: ["region", "note", "label", "blank"].index(pom.predicates[0].value.removeprefix(ESDL)),
    )
    assert region_pom.objects == (RefObjectMap(EX + "Region", (("region_id", "id"),)),)
    assert region_pom.graphs == (TermMap(TermKind.TEMPLATE, "https://example.org/graph/{variable_id}"),)
    assert note.objects == (TermMap(TermKind.CONSTANT, "fixed", TermType.LITERAL, None, "en"),)
    assert label.objects == (TermMap(TermKind.TEMPLATE, "v{variable_id}", TermType.IRI),)  # templates give IRIs
    assert blank.objects[0] == TermMap(TermKind.TEMPLATE, "b{region_id}", TermType.BLANK_NODE)


def test_template_parts_and_escapes() -> None:
    assert parse_template("https://x/{id}/a") == ("https://x/", Column("id"), "/a")
    assert parse_template(r"\{literal\}{a}{b}\\") == ("{literal}", Column("a"), Column("b"), "\\")
    assert parse_template('{"Quoted Name"}') == (Column("Quoted Name"),)
    assert parse_template(r"{we\{ird}") == (Column("we{ird"),)
    for bad in ("{a", "a}", "{}", "{a{b}}", r"\x"):
        with pytest.raises(ValueError):
            parse_template(bad)


def test_iri_safe_and_template_inversion() -> None:
    assert iri_safe("2020-01-01T00:00:00Z") == "2020-01-01T00%3A00%3A00Z"
    assert iri_safe("sst>=300 m/s") == "sst%3E%3D300%20m%2Fs"
    assert iri_safe("Zürich_~.-") == "Zürich_~.-"
    term = TermMap(TermKind.TEMPLATE, "https://w3id.org/esdl/feature/{variable_id}/{kind}/{time}/{part}")
    iri = "https://w3id.org/esdl/feature/3/sst%3E%3D300/2020-01-01T00%3A00%3A00Z/7"
    assert term.invert(iri) == {"variable_id": "3", "kind": "sst>=300", "time": "2020-01-01T00:00:00Z", "part": "7"}
    assert term.invert("https://w3id.org/esdl/feature/3/a/b") is None  # too few parts
    assert term.invert("https://w3id.org/esdl/feature/3/sst>=300/t/7") is None  # not IRI-safe
    assert term.invert("https://w3id.org/esdl/feature/%41/k/t/7") is None  # iri_safe never encodes "A"
    assert term.invert("https://w3id.org/esdl/region/1") is None
    assert not TermMap(TermKind.TEMPLATE, "https://x/{a}{b}").invertible
    assert not TermMap(TermKind.TEMPLATE, "{a}-{b}", TermType.LITERAL).invertible
    with pytest.raises(ValueError):
        TermMap(TermKind.COLUMN, "a").invert("x")
