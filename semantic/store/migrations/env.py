"""Alembic environment: runs on the connection handed over by :func:`semantic.store.db.upgrade`."""

from __future__ import annotations

from alembic import context

from semantic.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=lambda obj, name, type_, reflected, compare_to: (
        not (type_ == "table" and name in {"spatial_ref_sys"})
    ),
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
