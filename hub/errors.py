"""The base of every error the hub raises on purpose.

Its message says what went wrong, in words a technician (or, through the screen, a patient) can
act on. The `hub` command prints such an error and exits with status 2; any other exception is a
bug, and is shown with its traceback.
"""

from __future__ import annotations


class HubError(Exception):
    """Something the hub cannot do, and why."""
