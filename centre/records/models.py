"""The centre's records of its hubs. The table names are the ones the centre's store had before
Django (hubs, readings, ...), so the tools that read them keep working.

A reading is stored once per hub and sequence number, and its content once per hub (the digest of
the bytes the hub received, when, from which device and characteristic): centre/store.py.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from hub.wire.topics import HUB_ID_PATTERN


class Hub(models.Model):
    hub_id = models.CharField(
        primary_key=True, max_length=63, validators=[RegexValidator(HUB_ID_PATTERN)]
    )
    signing_key = models.TextField()  # the public key its batches must be signed with
    enrolled_at = models.DateTimeField()
    # The key its care plans and messages are sealed to (issue 11); none before that.
    encryption_key = models.TextField(null=True)
    encryption_suite = models.CharField(max_length=32, null=True)
    cert_serial = models.CharField(max_length=64, null=True)  # its current TLS certificate
    revoked_at = models.DateTimeField(null=True)  # revoked: its batches are refused
    # What its retained status last said (centre/presence.py): the state, ordered by the hub's
    # connection (status_since) and time (status_at); what it holds and its outbox as of the
    # hub's time reported_at.
    status_state = models.CharField(max_length=8, null=True)  # "online" or "offline"
    status_since = models.DateTimeField(null=True)
    status_at = models.DateTimeField(null=True)
    reported_at = models.DateTimeField(null=True)
    held_care_plan_version = models.BigIntegerField(null=True)
    outbox_alarm = models.CharField(max_length=16, null=True)  # "near_full", "over_budget"
    outbox_since = models.DateTimeField(null=True)  # hub time of the first status with it
    # The centre's time it last heard from the hub itself: a batch, or a status sent live (a
    # retained copy handed to a worker that subscribes says nothing new).
    seen_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "hubs"

    def __str__(self) -> str:
        return self.hub_id


class OutboxAlarmChange(models.Model):
    """Each change of a hub's recorded outbox alarm (raised, changed, cleared; Hub.outbox_alarm
    holds the current one): new rows are what the worklist watches, to show or drop "outbox
    filling" at once (centre/web/worklist_data.py). Hub rows change in place, unseen by it."""

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id")
    alarm = models.CharField(max_length=16, null=True)  # None: cleared
    since = models.DateTimeField(null=True)  # hub time of the first status with it
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "outbox_alarms"


class RevokedCertificate(models.Model):
    serial = models.CharField(primary_key=True, max_length=64)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id")
    revoked_at = models.DateTimeField()
    reason = models.CharField(max_length=20)  # "revoked" or "superseded"

    class Meta:
        db_table = "revoked_certificates"
        indexes = (models.Index(fields=["revoked_at", "serial"], name="revoked_in_order"),)


class Reading(models.Model):
    """One item of a hub's batch: a device's measurement, a questionnaire's answers, or the
    receipt for a message, with the fields hub/core/reading.py's WIRE_FIELDS name."""

    # No index of its own: every index below begins with it (one index fewer to write for every
    # reading stored, bench/ingest.py).
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id", db_index=False)
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=64)
    characteristic = models.CharField(max_length=64)
    device_address = models.CharField(max_length=64)
    device_time = models.CharField(max_length=40, null=True)  # the device's own clock, as read
    measured_at = models.DateTimeField()
    time_source = models.CharField(max_length=32)
    clock_correction_s = models.FloatField(null=True)
    hub_clock_synced = models.BooleanField()
    hub_clock_offset_s = models.FloatField(null=True)
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=16)
    problems_json = models.TextField()
    raw_hex = models.TextField()
    values_json = models.TextField()
    batch_id = models.CharField(max_length=36)
    stored_at = models.DateTimeField()
    content_digest = models.CharField(max_length=64)

    class Meta:
        db_table = "readings"
        constraints = (models.UniqueConstraint(fields=["hub", "seq"], name="reading_once"),)
        indexes = (
            models.Index(fields=["hub", "content_digest"], name="readings_content"),
            # A patient's readings in a period (the worklist, the patient page, reports).
            models.Index(fields=["hub", "measured_at"], name="readings_measured"),
        )


class AcceptedBatch(models.Model):
    """Every batch accepted, so that the same batch arriving again is recognised as a replay."""

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id")
    batch_id = models.CharField(max_length=36)
    stored_at = models.DateTimeField()

    class Meta:
        db_table = "batches"
        constraints = (models.UniqueConstraint(fields=["hub", "batch_id"], name="batch_once"),)


class Document(models.Model):
    """Every document sent to a hub (care plans, messages, key notices), by version."""

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id")
    doc_type = models.CharField(max_length=32)
    version = models.IntegerField()
    issued_at = models.DateTimeField()
    content_json = models.TextField()

    class Meta:
        db_table = "downlink"
        constraints = (
            models.UniqueConstraint(fields=["hub", "doc_type", "version"], name="version_once"),
        )


class Rejection(models.Model):
    """A message the centre refused, and why (the newest REJECTIONS_KEPT are kept)."""

    at = models.DateTimeField()
    topic = models.TextField()
    hub_id = models.CharField(max_length=200, null=True)  # as it came: maybe no hub of ours
    reason = models.TextField()

    class Meta:
        db_table = "rejections"


class HubHealthReport(models.Model):
    """The newest health report of each hub (hub/core/health.py), by the hub's time `at`: what
    the technician's page shows. Every report is also kept as the item it came in (a reading of
    kind "hub_health"): that is the history. A report older than the one held changes nothing."""

    hub = models.OneToOneField(Hub, on_delete=models.PROTECT, primary_key=True, db_column="hub_id")
    seq = models.BigIntegerField()  # the item's sequence number
    at = models.DateTimeField()  # when the hub made it (hub time)
    stored_at = models.DateTimeField()  # when the centre stored it (centre time)
    software_version = models.CharField(max_length=40)
    uptime_s = models.BigIntegerField()
    disk_free_bytes = models.BigIntegerField()
    disk_total_bytes = models.BigIntegerField()
    clock_synced = models.BooleanField()
    clock_offset_s = models.FloatField(null=True)
    outbox_pending = models.BigIntegerField()
    outbox_alarm = models.CharField(max_length=16, null=True)

    class Meta:
        db_table = "hub_health"


class HubDeviceHealth(models.Model):
    """Each device the newest health report of its hub names (replaced with each report): the
    battery, last connection and clock the "battery low" and device lists filter on."""

    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, db_column="hub_id")
    address = models.CharField(max_length=17)
    profile = models.CharField(max_length=40)
    name = models.CharField(max_length=64, null=True)
    battery_level = models.SmallIntegerField(null=True)
    last_connected_at = models.DateTimeField(null=True)
    clock_set_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "hub_device_health"
        constraints = (
            models.UniqueConstraint(fields=["hub", "address"], name="device_health_once"),
        )
        indexes = (models.Index(fields=["battery_level"], name="device_battery"),)
