"""The patient's "Ring meg" requests on her page: when she asked, and which nurse answered
when (issue "Ring meg"). A request is no measurement: it is kept out of the readings table,
the plots and the reports' counts, and listed here instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from centre.followup.models import Acknowledgement
from centre.people.models import Patient
from centre.records.models import Reading
from centre.web.worklist_data import READING_KEY
from hub.core.call_request import KIND as CALL

MAX_CALLS = 50  # a hub holds one open at a time: fifty is months of asking


@dataclass(frozen=True)
class CallRow:
    asked_at: datetime  # when the centre had it: the hub's clock may be wrong
    answered_at: datetime | None  # None: open, on the worklist
    answered_by: str


def call_rows(patient: Patient, windows: Q | None) -> list[CallRow]:
    """Her call requests stored within her episodes' `windows`, newest first, with their
    answers."""
    if windows is None:
        return []
    calls = list(Reading.objects.filter(windows, kind=CALL).order_by("-stored_at")[:MAX_CALLS])
    if not calls:
        return []
    acks = {
        a.key: a
        for a in Acknowledgement.objects.filter(
            patient=patient, key__in=[f"{READING_KEY}{r.id}" for r in calls]
        ).select_related("by")
    }
    rows = []
    for reading in calls:
        ack = acks.get(f"{READING_KEY}{reading.id}")
        by = (ack.by.get_full_name() or ack.by.get_username()) if ack else ""
        rows.append(CallRow(reading.stored_at, ack.at if ack else None, by))
    return rows
