"""The base of every error the centre raises on purpose.

The `centre` command prints such an error (and the hub's own, hub/errors.py, from the shared
wire and configuration code) and exits with status 2; any other exception is a bug, and is shown
with its traceback.
"""

from __future__ import annotations


class CentreError(Exception):
    """Something the centre cannot do, and why."""
