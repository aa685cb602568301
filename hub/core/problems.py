"""What pydantic found wrong with an input, in words short enough for a log line."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["first_problem"]


def first_problem(exc: ValidationError, top: str) -> str:
    """The first problem pydantic found, where it is, and how many there are: short, whatever
    the input (pydantic's own message can quote all of it)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or top
    return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
