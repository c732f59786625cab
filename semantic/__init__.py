"""Knowledge-graph layer over PostGIS (catalogue, mappings, SPARQL rewriting). Never imports prefect."""
