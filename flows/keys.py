"""Prefect artifact keys made from names: Prefect allows lower case letters, digits and dashes only."""

from __future__ import annotations


def key_part(text: str) -> str:
    """``text`` in lower case with every character but letters and digits made a dash."""
    return "".join(c if c.isalnum() else "-" for c in text.lower())
