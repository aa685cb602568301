"""Does the hub know the time? Asked of the kernel, which NTP clients (systemd-timesyncd,
chrony) tell when they have synchronised it.

A Raspberry Pi has no battery-backed clock: after a power cut without network it boots with the
time it last saved, possibly days old. Such a hub must not set device clocks or correct them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Literal

log = logging.getLogger(__name__)

ClockSource = Literal["kernel", "assume_synchronised", "assume_unsynchronised"]

_TIME_ERROR = 5  # adjtimex(2): "the system clock is not synchronized to a reliable server"


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux); only the return value is used, but the kernel
    # writes the whole structure, so it must be the full size.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def kernel_clock_synchronised() -> bool:
    """True when the kernel says an NTP client keeps the clock synchronised."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        state = libc.adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError) as exc:
        log.warning("cannot ask the kernel whether the clock is synchronised: %s", exc)
        return False
    return bool(state >= 0 and state != _TIME_ERROR)


def hub_clock_synchronised(source: ClockSource) -> bool:
    if source == "assume_synchronised":
        return True
    if source == "assume_unsynchronised":
        return False
    return kernel_clock_synchronised()
