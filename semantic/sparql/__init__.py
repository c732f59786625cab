"""SPARQL 1.1 + GeoSPARQL rewritten into PostGIS SQL: parse, algebra, IR, render (see docs/sparql.md)."""
