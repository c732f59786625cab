"""esdl_canonical_double(float8): XSD's canonical lexical form of a double, for STR() of a computed number.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# whether a decimal text reads back as x (a text rounded past the largest double does not: it is not cast)
READS_BACK = """
CREATE OR REPLACE FUNCTION esdl_reads_back(t text, x float8) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE WHEN abs(t::numeric) > 1.7976931348623158e308 THEN false ELSE t::float8 = x END
$$
"""

# XSD's canonical form of a double as semantic.sparql.terms.canonical_double writes it from Python's repr: the
# shortest digits that read back as the same double (the nearest such), as one digit, a point, the other digits
# (at least one) and E with the exponent. float8's own text has those digits where it is positional
# (1e-4 <= |x| < 1e15; extra_float_digits 1 is set for the call, whatever the session says). Elsewhere it may
# not: PostgreSQL's Ryu excludes the bounds of the rounding interval, so it can give a digit more
# (2.1642154231070032e+16 for 2.164215423107003e+16), and subnormals need fewer digits than any fixed count.
# There, the first of the correctly rounded 1..17-digit forms (to_char's EEEE) that reads back as x, or for a
# power of two the form one unit above it.
FUNCTION = """
CREATE OR REPLACE FUNCTION esdl_canonical_double(x float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $$
DECLARE
    t text;
    mantissa text;
    exponent int := 0;
    whole text;
    fraction text;
    digits text;
    up numeric;
    up_text text;
BEGIN
    IF x = 'NaN'::float8 THEN
        RETURN 'NaN';
    ELSIF x = 'Infinity'::float8 THEN
        RETURN 'INF';
    ELSIF x = '-Infinity'::float8 THEN
        RETURN '-INF';
    ELSIF x = 0 THEN
        RETURN CASE WHEN left(x::text, 1) = '-' THEN '-0.0E0' ELSE '0.0E0' END;
    END IF;
    t := x::text;
    IF strpos(t, 'e') > 0 THEN
        FOR k IN 1..17 LOOP
            t := btrim(to_char(x, '9' || CASE WHEN k > 1 THEN '.' || repeat('9', k - 1) ELSE '' END || 'EEEE'));
            EXIT WHEN esdl_reads_back(t, x);
            -- a power of two has a rounding interval twice as wide above as below: the nearest k-digit form
            -- may fall short below while the next one above reads back (and is then the nearest that does)
            up := abs(split_part(t, 'e', 1)::numeric) + power(10::numeric, 1 - k);
            IF up < 10 THEN
                up_text := CASE WHEN x < 0 THEN '-' ELSE '' END
                    || to_char(up, 'FM0' || CASE WHEN k > 1 THEN '.' || repeat('0', k - 1) ELSE '' END)
                    || 'e' || split_part(t, 'e', 2);
                IF esdl_reads_back(up_text, x) THEN
                    t := up_text;
                    EXIT;
                END IF;
            END IF;
        END LOOP;
        exponent := split_part(t, 'e', 2)::int;
    END IF;
    mantissa := ltrim(split_part(t, 'e', 1), '-');
    whole := split_part(mantissa, '.', 1);
    fraction := split_part(mantissa, '.', 2);
    digits := rtrim(ltrim(whole || fraction, '0'), '0');
    exponent := exponent + length(whole) - 1 - (length(whole || fraction) - length(ltrim(whole || fraction, '0')));
    RETURN CASE WHEN x < 0 THEN '-' ELSE '' END || left(digits, 1) || '.'
        || coalesce(nullif(substr(digits, 2), ''), '0') || 'E' || exponent;
END
$$
"""


def upgrade() -> None:
    """Create the functions."""
    op.execute(READS_BACK)
    op.execute(FUNCTION)


def downgrade() -> None:
    """Drop the function."""
    op.execute("DROP FUNCTION IF EXISTS esdl_canonical_double(float8)")
    op.execute("DROP FUNCTION IF EXISTS esdl_reads_back(text, float8)")
