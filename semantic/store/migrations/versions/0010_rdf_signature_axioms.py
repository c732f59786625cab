"""rdf_signature: the version also grows when RDFS axioms of the default graph are loaded or removed.

The engine compiles ``rdfs:subClassOf``, ``rdfs:subPropertyOf``, ``rdfs:domain`` and ``rdfs:range`` statements of
the loaded data into its T-mappings (docs/sparql.md, "Entailment"), for one version of the signature. A new
axiom whose predicate the default graph already holds adds no signature key, so 0004's trigger left the version
as it was and the engine kept the old axioms: here a statement that inserts or deletes such a quad bumps it too.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RDFS = "http://www.w3.org/2000/01/rdf-schema#"
AXIOMS = ", ".join(f"'{RDFS}{p}'" for p in ("subClassOf", "subPropertyOf", "domain", "range"))
# 0004's function, kept as it was but for the axioms' check before the bump (a migration is history: its text is
# read from there rather than copied)
_0004 = importlib.import_module("semantic.store.migrations.versions.0004_rdf_signature")
# (nested IFs: a transition table the trigger does not declare may appear only in a branch that is not run)
_CHECK = f"""  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF EXISTS (SELECT 1 FROM new_rows WHERE graph = '' AND p IN ({AXIOMS})) THEN
      changed := changed + 1;
    END IF;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    IF EXISTS (SELECT 1 FROM old_rows WHERE graph = '' AND p IN ({AXIOMS})) THEN
      changed := changed + 1;
    END IF;
  END IF;
"""
_BUMP = "  IF changed > 0 THEN\n"
assert _0004.FUNCTION.count(_BUMP) == 1
FUNCTION = _0004.FUNCTION.replace(_BUMP, _CHECK + _BUMP)


def upgrade() -> None:
    """Replace the trigger function (the triggers call it by name)."""
    op.execute(FUNCTION)


def downgrade() -> None:
    """0004's function again."""
    op.execute(_0004.FUNCTION)
