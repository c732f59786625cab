"""RDF files in the knowledge graph: terms as term columns (:mod:`.terms`), loading into ``rdf_quad`` (:mod:`.load`).

See docs/sparql.md, "The quad table".
"""
