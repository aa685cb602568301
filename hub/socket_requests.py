"""The arguments of the requests on the local socket, checked before the daemon acts on them.

`hub.ipc` has already made sure a request is a JSON object of finite numbers and valid text;
these models say which type and range each op's arguments have, and a refusal says in words
which argument is wrong. Pure; no I/O.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

PAIR_SCAN_MAX_S = 600.0  # ten minutes of looking for a device in pairing mode is plenty

Address = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]
Seconds = Annotated[float, Field(allow_inf_nan=False)]


class RequestRefused(ValueError):
    """An argument of a request has the wrong type or is out of range, in words."""


class _Request(BaseModel):
    # Strict: "1" is not 1, true is not 1; unknown fields (such as "op") are ignored.
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


ADDRESS_PROBLEM = "which device? (address, like 00:BB:00:00:00:02)"


class PairRequest(_Request):
    address: Address | None = None
    passkey: int | None = Field(None, ge=0, le=999_999)
    scan_s: Seconds | None = Field(None, gt=0, le=PAIR_SCAN_MAX_S)


class ForgetRequest(_Request):
    address: Address


class MessageReadRequest(_Request):
    version: int


class LiveRequest(_Request):
    boot: str | None = Field(None, max_length=64)
    version: int | None = None
    wait_s: Seconds = Field(0.0, ge=0)


# What to say when an argument is wrong, per op.
PROBLEMS: dict[type[_Request], dict[str, str]] = {
    PairRequest: {
        "address": ADDRESS_PROBLEM,
        "passkey": "the passkey is the 6 digits the device shows",
        "scan_s": f"scan_s is how long to look for the device: seconds, above 0 and at most "
        f"{PAIR_SCAN_MAX_S:.0f}",
    },
    ForgetRequest: {"address": ADDRESS_PROBLEM},
    MessageReadRequest: {"version": "which message? (version)"},
    LiveRequest: {
        "boot": "boot is the text an earlier live answer gave, or null",
        "version": "version is the whole number an earlier live answer gave, or null",
        "wait_s": "wait_s is how long to wait for news: seconds, 0 or more",
    },
}

R = TypeVar("R", bound=_Request)


def parse(model: type[R], req: dict[str, object]) -> R:
    """The request's arguments as `model`, or RequestRefused naming the first wrong one."""
    try:
        return model.model_validate(req)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise RequestRefused(PROBLEMS[model].get(field, f"{field} is not valid")) from None
