"""Record Access Control Point (0x2A52) as the Glucose Profile uses it: the hub writes requests
(report / delete / count stored records, abort) and the meter indicates responses.

Layout (little-endian): op code (uint8), operator (uint8), operand (0 or more bytes).

Op codes (GSS): 1 report stored records, 2 delete stored records, 3 abort operation, 4 report
number of stored records, 5 number of stored records response, 6 response code; 7 combined
report and 8 combined report response exist in the GSS but the Glucose Profile does not use
them; 0 and 9-255 are RFU.
Operators: 0 null, 1 all records, 2 less than or equal to, 3 greater than or equal to,
4 within range of (inclusive), 5 first record (oldest), 6 last record (most recent); 7-255 RFU.

Requests (client -> meter). With operator 2 or 3 the operand is a filter type (uint8) and one
value; with operator 4 a filter type and two (minimum, maximum). The Glucose Service filter
types are 0x01 sequence number (uint16 values) and 0x02 user facing time (not decoded here; its
operand is kept raw). Abort is op code 3 with operator null and no operand.

Responses (meter -> client), always with operator null:
  op code 5: operand = number of stored records, uint16 for the Glucose Profile
  op code 6: operand = request op code (uint8) + response code value (uint8): 1 success,
             2 op code not supported, 3 invalid operator, 4 operator not supported,
             5 invalid operand, 6 no records found, 7 abort unsuccessful, 8 procedure not
             completed, 9 operand not supported, 10 server busy (added by later GSS
             revisions); 0 and 11-255 RFU ("reserved").

``parse_racp_response`` (the decode() parser for 0x2A52) accepts only what a meter sends: an op
code other than 5 or 6, or a non-null operator, is a ParseError. A number-of-records operand
must be exactly 2 bytes: Nordic's Android library also reads 1- and 4-byte counts (other
profiles), but reading a 4-byte count as uint16 would report a wrong number, so it is refused.
Bytes after a response code operand are accepted and counted in ``trailing_bytes``.

``parse_racp_request`` decodes what a client wrote (for device emulators); unknown op codes,
operators and filter types are kept as numbers so the emulator can answer with the right
response code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import FieldReader, JsonDict

RECORD_ACCESS_CONTROL_POINT = "Record Access Control Point (0x2A52)"

RESERVED = "reserved"
"""JSON name of an op code, operator, filter type or response code the GSS reserves."""


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6
    COMBINED_REPORT = 7
    COMBINED_REPORT_RESPONSE = 8


class Operator(IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL_TO = 2
    GREATER_THAN_OR_EQUAL_TO = 3
    WITHIN_RANGE_OF = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2


class ResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9
    SERVER_BUSY = 10


_RESPONSE_OP_CODES = (OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, OpCode.RESPONSE_CODE)
_FILTERED_OP_CODES = (
    OpCode.REPORT_STORED_RECORDS,
    OpCode.DELETE_STORED_RECORDS,
    OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
)
_ONE_VALUE_OPERATORS = (Operator.LESS_THAN_OR_EQUAL_TO, Operator.GREATER_THAN_OR_EQUAL_TO)
_RESPONSE_LENGTH = 4  # op code, operator, 2 operand bytes (both glucose responses)
_MAX_SEQUENCE_NUMBER = 0xFFFF


def _enum_name(enum: type[IntEnum], value: int | None) -> str | None:
    if value is None:
        return None
    try:
        return enum(value).name.lower()
    except ValueError:
        return RESERVED


def op_code_name(value: int) -> str:
    """JSON name of an op code, e.g. "report_stored_records"; "reserved" for RFU values."""
    return _enum_name(OpCode, value) or RESERVED


def operator_name(value: int) -> str:
    """JSON name of an operator, e.g. "greater_than_or_equal_to"; "reserved" for RFU values."""
    return _enum_name(Operator, value) or RESERVED


def response_code_name(value: int) -> str:
    """JSON name of a response code value, e.g. "no_records_found"; "reserved" for RFU."""
    return _enum_name(ResponseCode, value) or RESERVED


# --- responses (meter -> hub) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """A decoded RACP indication from the meter.

    Op code 5 fills ``number_of_records``; op code 6 fills ``request_op_code`` (the op code of
    the request being answered) and ``response_code``. Codes are kept as numbers (RFU values
    survive); JSON shows their names.
    """

    op_code: int
    request_op_code: int | None = None
    response_code: int | None = None
    number_of_records: int | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "racp_response",
            "op_code": op_code_name(self.op_code),
            "request_op_code": _enum_name(OpCode, self.request_op_code),
            "response_code": _enum_name(ResponseCode, self.response_code),
            "number_of_records": self.number_of_records,
        }


def parse_racp_response(data: RawBytes) -> RacpResponse:
    """Parse a 0x2A52 value the meter sent. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(
        data, RECORD_ACCESS_CONTROL_POINT, min_length=_RESPONSE_LENGTH, first_field="op_code"
    )
    op_code = reader.uint(1, "op_code", "the op code")
    if op_code not in _RESPONSE_OP_CODES:
        raise ParseError(
            RECORD_ACCESS_CONTROL_POINT,
            "op_code",
            f"op code {op_code} ({op_code_name(op_code)}) is not a response the Glucose "
            "Profile defines; a meter sends only 5 (number of stored records response) or "
            "6 (response code)",
            reader.data,
        )
    operator = reader.uint(1, "operator", "the operator")
    if operator != Operator.NULL:
        raise ParseError(
            RECORD_ACCESS_CONTROL_POINT,
            "operator",
            f"op code {op_code} ({op_code_name(op_code)}) needs operator 0 (null), "
            f"got {operator} ({operator_name(operator)})",
            reader.data,
        )
    if op_code == OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        count = reader.uint(2, "number_of_records", "the number of records (uint16)")
        if reader.remaining:
            raise ParseError(
                RECORD_ACCESS_CONTROL_POINT,
                "number_of_records",
                f"the Glucose Profile's number of records is a uint16 but the operand is "
                f"{2 + reader.remaining} bytes long; a wider count cannot be read as uint16",
                reader.data,
            )
        return RacpResponse(op_code, number_of_records=count)
    request_op_code = reader.uint(1, "request_op_code", "the request op code")
    response_code = reader.uint(1, "response_code", "the response code value")
    return RacpResponse(
        op_code,
        request_op_code=request_op_code,
        response_code=response_code,
        trailing_bytes=reader.remaining,
    )


def build_number_of_records_response(count: int) -> bytes:
    """Encode the meter's answer to "report number of stored records" (op code 5)."""
    if not 0 <= count <= 0xFFFF:
        raise ValueError(f"number of records must be 0-65535 (uint16), got {count}")
    return bytes((OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL)) + count.to_bytes(
        2, "little"
    )


def build_response_code(request_op_code: int, response_code: int) -> bytes:
    """Encode the meter's response code indication (op code 6) for a request."""
    for name, value in (("request_op_code", request_op_code), ("response_code", response_code)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must be 0-255, got {value}")
    return bytes((OpCode.RESPONSE_CODE, Operator.NULL, request_op_code, response_code))


# --- requests (hub -> meter) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A decoded RACP write from the client (what an emulated meter receives).

    ``operand`` holds every byte after the operator. With a filtering operator (2-4) on op code
    1, 2 or 4, ``filter_type`` is its first byte and, for the sequence number filter,
    ``sequence_numbers`` the decoded uint16 values (one for operators 2 and 3, minimum and
    maximum for 4). ``trailing_bytes`` counts operand bytes beyond what the operator uses
    (a server would normally answer "invalid operand").
    """

    op_code: int
    operator: int
    operand: bytes = b""
    filter_type: int | None = None
    sequence_numbers: tuple[int, ...] | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "racp_request",
            "op_code": op_code_name(self.op_code),
            "operator": operator_name(self.operator),
            "filter_type": _enum_name(FilterType, self.filter_type),
            "sequence_numbers": (
                None if self.sequence_numbers is None else list(self.sequence_numbers)
            ),
        }

    def select(self, stored: Iterable[int]) -> tuple[int, ...]:
        """The stored sequence numbers this request applies to, in ascending order.

        Covers op codes 1, 2 and 4 with operators 1-6 and the sequence number filter. "First"
        and "last" are the lowest and highest sequence number (oldest and newest record).
        Raises ValueError for a request that does not select records (abort, RFU op codes or
        operators, other filter types): the caller answers with a response code instead.
        """
        if self.op_code not in _FILTERED_OP_CODES:
            raise ValueError(
                f"op code {self.op_code} ({op_code_name(self.op_code)}) selects no records"
            )
        records = sorted(set(stored))
        if self.operator == Operator.ALL_RECORDS:
            return tuple(records)
        if self.operator == Operator.FIRST_RECORD:
            return tuple(records[:1])
        if self.operator == Operator.LAST_RECORD:
            return tuple(records[-1:])
        if self.operator not in (*_ONE_VALUE_OPERATORS, Operator.WITHIN_RANGE_OF):
            raise ValueError(
                f"operator {self.operator} ({operator_name(self.operator)}) selects no records"
            )
        if self.sequence_numbers is None:
            raise ValueError(
                f"filter type {self.filter_type} is not the sequence number filter (0x01)"
            )
        if self.operator == Operator.LESS_THAN_OR_EQUAL_TO:
            low, high = 0, self.sequence_numbers[0]
        elif self.operator == Operator.GREATER_THAN_OR_EQUAL_TO:
            low, high = self.sequence_numbers[0], _MAX_SEQUENCE_NUMBER
        else:
            low, high = self.sequence_numbers
        return tuple(seq for seq in records if low <= seq <= high)


def parse_racp_request(data: RawBytes) -> RacpRequest:
    """Parse a 0x2A52 value a client wrote. Raises ParseError (only) when it is malformed.

    A missing op code, operator or filter type, or a sequence number operand cut short, is a
    ParseError (field "op_code", "operator", "filter_type" or "operand"); an emulated meter
    answers those with "invalid operator" / "invalid operand".
    """
    reader = FieldReader(data, RECORD_ACCESS_CONTROL_POINT, min_length=2, first_field="op_code")
    op_code = reader.uint(1, "op_code", "the op code")
    operator = reader.uint(1, "operator", "the operator")
    operand = reader.data[reader.pos :]
    filtered = op_code in _FILTERED_OP_CODES and operator in (
        *_ONE_VALUE_OPERATORS,
        Operator.WITHIN_RANGE_OF,
    )
    if not filtered:
        return RacpRequest(op_code, operator, operand, trailing_bytes=len(operand))
    filter_type = reader.uint(1, "filter_type", f"operator {operator_name(operator)}'s filter type")
    if filter_type != FilterType.SEQUENCE_NUMBER:
        return RacpRequest(op_code, operator, operand, filter_type=filter_type)
    count = 2 if operator == Operator.WITHIN_RANGE_OF else 1
    what = (
        "minimum and maximum sequence numbers (2 x uint16)"
        if count == 2
        else ("a sequence number (uint16)")
    )
    raw = reader.take(2 * count, "operand", what)
    values = tuple(int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2))
    return RacpRequest(
        op_code,
        operator,
        operand,
        filter_type=filter_type,
        sequence_numbers=values,
        trailing_bytes=reader.remaining,
    )


def build_racp_request(
    op_code: int,
    operator: int,
    *,
    filter_type: int | None = None,
    sequence_numbers: Iterable[int] = (),
) -> bytes:
    """Encode any RACP request: op code, operator, then the filter type and its uint16 values.

    The named helpers below are the requests the hub uses; this one also encodes requests a
    meter should refuse, for tests and emulators. Raises ValueError for values out of range.
    """
    values = list(sequence_numbers)
    for name, value in (("op_code", op_code), ("operator", operator)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must be 0-255, got {value}")
    if filter_type is None:
        if values:
            raise ValueError("sequence numbers need a filter type")
        return bytes((op_code, operator))
    if not 0 <= filter_type <= 0xFF:
        raise ValueError(f"filter_type must be 0-255, got {filter_type}")
    for value in values:
        if not 0 <= value <= _MAX_SEQUENCE_NUMBER:
            raise ValueError(f"sequence numbers must be 0-65535 (uint16), got {value}")
    return bytes((op_code, operator, filter_type)) + b"".join(
        value.to_bytes(2, "little") for value in values
    )


def _newer_than(op_code: OpCode, last_seen: int) -> bytes:
    if not 0 <= last_seen < _MAX_SEQUENCE_NUMBER:
        raise ValueError(
            f"last_seen must be 0-65534 (no uint16 sequence number follows 65535), got {last_seen}"
        )
    return build_racp_request(
        op_code,
        Operator.GREATER_THAN_OR_EQUAL_TO,
        filter_type=FilterType.SEQUENCE_NUMBER,
        sequence_numbers=(last_seen + 1,),
    )


def report_all() -> bytes:
    """Report all stored records: 01 01."""
    return build_racp_request(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)


def report_first() -> bytes:
    """Report the oldest stored record: 01 05."""
    return build_racp_request(OpCode.REPORT_STORED_RECORDS, Operator.FIRST_RECORD)


def report_last() -> bytes:
    """Report the most recent stored record: 01 06."""
    return build_racp_request(OpCode.REPORT_STORED_RECORDS, Operator.LAST_RECORD)


def report_newer_than(last_seen: int) -> bytes:
    """Report records with sequence number >= last_seen + 1: 01 03 01 <uint16>.

    The hub passes the highest sequence number it already holds, so only new records come.
    """
    return _newer_than(OpCode.REPORT_STORED_RECORDS, last_seen)


def report_sequence_range(first: int, last: int) -> bytes:
    """Report records with first <= sequence number <= last: 01 04 01 <uint16> <uint16>."""
    if first > last:
        raise ValueError(f"first ({first}) must not be greater than last ({last})")
    return build_racp_request(
        OpCode.REPORT_STORED_RECORDS,
        Operator.WITHIN_RANGE_OF,
        filter_type=FilterType.SEQUENCE_NUMBER,
        sequence_numbers=(first, last),
    )


def report_number_of_records() -> bytes:
    """Report the number of all stored records: 04 01."""
    return build_racp_request(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)


def report_number_of_records_newer_than(last_seen: int) -> bytes:
    """Report how many records have sequence number >= last_seen + 1: 04 03 01 <uint16>."""
    return _newer_than(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, last_seen)


def delete_all() -> bytes:
    """Delete all stored records: 02 01."""
    return build_racp_request(OpCode.DELETE_STORED_RECORDS, Operator.ALL_RECORDS)


def abort() -> bytes:
    """Abort the operation in progress: 03 00."""
    return build_racp_request(OpCode.ABORT_OPERATION, Operator.NULL)


PARSERS: dict[int, tuple[str, Callable[[bytes], Any]]] = {
    0x2A52: (RECORD_ACCESS_CONTROL_POINT, parse_racp_response),
}
