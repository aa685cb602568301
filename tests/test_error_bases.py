"""Every error the hub or the centre raises on purpose shares its package's base
(hub.errors.HubError, centre.errors.CentreError), so each CLI can print it as one line, and
anything else is a bug shown with its traceback (docs/architecture.md, "Errors")."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from types import ModuleType

import django

import centre
import hub
from centre.errors import CentreError
from hub.errors import HubError

# Not said to anyone: how the daemon's task group and device sessions signal each other.
INTERNAL = {
    "hub.daemon.DaemonFailure": "a part of hub run failed: a bug, logged with its traceback",
    "hub.daemon.PartEnded": "a part of hub run returned: the group stops, as for a failure",
    "hub.daemon.StopRequested": "SIGTERM: the group's way to stop cleanly",
    "hub.sync.uplink.UplinkFailure": "an exception on paho's thread, carried into the group",
    "hub.devices.ble.driver.StaleBond": "a BleakError the session handles (pair again)",
    "hub.devices.ble.drivers.RacpFailed": "a BleakError the session handles (retry later)",
}


# Not imported here: the web settings need the service's environment (a secret, a database)
# and define no error; the Django models are imported with the type-checking settings.
NOT_IMPORTED = {"centre.web.settings"}


def errors_of(package: ModuleType) -> dict[str, type[BaseException]]:
    if "DJANGO_SETTINGS_MODULE" not in os.environ:  # set for setup only: not for subprocesses
        os.environ["DJANGO_SETTINGS_MODULE"] = "centre.web.typecheck"
        try:
            django.setup()
        finally:
            del os.environ["DJANGO_SETTINGS_MODULE"]
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name in NOT_IMPORTED:
            continue
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and issubclass(cls, BaseException)
                and cls.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = cls
    return found


def test_every_error_of_the_hub_and_the_centre_has_its_package_s_base() -> None:
    hub_errors, centre_errors = errors_of(hub), errors_of(centre)
    assert len(hub_errors) > 20 and len(centre_errors) >= 4  # the walk found them
    strays = sorted(
        name
        for name, cls in {**hub_errors, **centre_errors}.items()
        if name not in INTERNAL
        and not issubclass(cls, HubError if name.startswith("hub.") else CentreError)
    )
    assert strays == []
    assert set(INTERNAL) <= set(hub_errors)  # the allowance names real classes only
