"""Run BlueZoo 1.0.2 with two fixes that make a link behave as on real BlueZ.

BlueZoo is our stand-in for bluetoothd (not for bleak, which runs unmodified). In 1.0.2:
- Disconnect leaves the remote GATT objects exported, so the next Connect to the same device
  fails with EEXIST ("sd_bus_add_object_vtable ... error number: 17"). BlueZ removes them.
- Connect on a device that is already connected re-exports them (same EEXIST). BlueZ answers
  success at once.
Run as: python -m testbed.bluezoo_fixed [bluezoo arguments]
"""

from __future__ import annotations

import contextlib
from typing import Any

from bluezoo import bluezoo
from bluezoo.device import Device
from bluezoo.gatt import GattCharacteristicClientLink

_connect = Device.connect
_disconnect = Device.disconnect


async def connect(self: Any, uuid: str | None = None) -> None:
    if self.connected and self.services:
        return
    await _connect(self, uuid)


async def disconnect(self: Any, uuid: str | None = None) -> None:
    await _disconnect(self, uuid)
    for link in list(self.services.values()):
        # The peripheral sees its subscriptions end with the link, as over the air.
        if isinstance(link, GattCharacteristicClientLink) and link.client.Notifying.get(False):
            with contextlib.suppress(Exception):
                await link.StopNotify()
        self.peer_adapter.mock.remove_object(link)
    self.services.clear()
    with contextlib.suppress(Exception):
        await self.ServicesResolved.set_async(False)


Device.connect = connect
Device.disconnect = disconnect

if __name__ == "__main__":
    bluezoo.main()
