"""esdl_resolve_iri(ref, base): RFC 3986 reference resolution, for SPARQL's IRI() and URI().

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# RFC 3986 section 5.2.4, "Remove Dot Segments", step by step
REMOVE_DOTS = """
CREATE OR REPLACE FUNCTION esdl_remove_dot_segments(path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    input text := path;
    output text := '';
    segment text;
BEGIN
    WHILE input <> '' LOOP
        IF left(input, 3) = '../' THEN
            input := substr(input, 4);
        ELSIF left(input, 2) = './' THEN
            input := substr(input, 3);
        ELSIF left(input, 3) = '/./' THEN
            input := substr(input, 3);
        ELSIF input = '/.' THEN
            input := '/';
        ELSIF left(input, 4) = '/../' THEN
            input := substr(input, 4);
            output := regexp_replace(output, '/?[^/]*$', '');
        ELSIF input = '/..' THEN
            input := '/';
            output := regexp_replace(output, '/?[^/]*$', '');
        ELSIF input IN ('.', '..') THEN
            input := '';
        ELSE
            segment := substring(input FROM '^/?[^/]*');
            output := output || segment;
            input := substr(input, length(segment) + 1);
        END IF;
    END LOOP;
    RETURN output;
END
$$
"""

# RFC 3986 section 5.2.2 (strict: a reference with a scheme is absolute), the parts split by appendix B's
# regular expression; no base: the reference itself
RESOLVE = r"""
CREATE OR REPLACE FUNCTION esdl_resolve_iri(ref text, base text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    pattern constant text := '^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?$';
    r text[];
    b text[];
    authority text;
    has_authority boolean;
    path text;
    query text;
    has_query boolean;
BEGIN
    IF ref IS NULL THEN
        RETURN NULL;
    END IF;
    r := regexp_match(ref, pattern);
    IF base IS NULL OR r[1] IS NOT NULL THEN
        IF r[1] IS NULL THEN
            RETURN ref;
        END IF;
        RETURN r[1] || coalesce(r[3], '') || esdl_remove_dot_segments(r[5]) || coalesce(r[6], '') || coalesce(r[8], '');
    END IF;
    b := regexp_match(base, pattern);
    IF r[3] IS NOT NULL THEN
        has_authority := true;
        authority := r[4];
        path := esdl_remove_dot_segments(r[5]);
        has_query := r[6] IS NOT NULL;
        query := r[7];
    ELSE
        has_authority := b[3] IS NOT NULL;
        authority := b[4];
        IF r[5] = '' THEN
            path := b[5];
            has_query := r[6] IS NOT NULL OR b[6] IS NOT NULL;
            query := CASE WHEN r[6] IS NOT NULL THEN r[7] ELSE b[7] END;
        ELSE
            IF left(r[5], 1) = '/' THEN
                path := esdl_remove_dot_segments(r[5]);
            ELSIF has_authority AND b[5] = '' THEN
                path := esdl_remove_dot_segments('/' || r[5]);
            ELSE
                path := esdl_remove_dot_segments(substring(b[5] FROM '^(.*/)') || r[5]);
                IF path IS NULL THEN
                    path := esdl_remove_dot_segments(r[5]);
                END IF;
            END IF;
            has_query := r[6] IS NOT NULL;
            query := r[7];
        END IF;
    END IF;
    RETURN coalesce(b[1], '')
        || CASE WHEN has_authority THEN '//' || coalesce(authority, '') ELSE '' END
        || path
        || CASE WHEN has_query THEN '?' || coalesce(query, '') ELSE '' END
        || coalesce(r[8], '');
END
$$
"""


def upgrade() -> None:
    """Create the functions."""
    op.execute(REMOVE_DOTS)
    op.execute(RESOLVE)


def downgrade() -> None:
    """Drop the functions."""
    op.execute("DROP FUNCTION IF EXISTS esdl_resolve_iri(text, text)")
    op.execute("DROP FUNCTION IF EXISTS esdl_remove_dot_segments(text)")
