"""Record Access Control Point (0x2A52): request builders, response parser, request parser.

Vector sources (cited per case below):
  NORDIC_RACP NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/RecordAccessControlPointDataCallbackTest.java
  CORDIO      ARM Cordio (Wicentric) glucose sensor sample glps_main.c: glpsRacpSendRsp builds
              {CH_RACP_OPCODE_RSP, CH_RACP_OPERATOR_NULL, opcode, status};
              glpsRacpSendNumRecRsp builds {CH_RACP_OPCODE_NUM_RSP, NULL, numRec lo, hi};
              glpsRacpOperCheck answers "invalid operand" for an operand after all/first/last,
              and glps_db.c filters ">= sequence number" inclusively.
  SIG_XML     Bluetooth SIG org.bluetooth.characteristic.record_access_control_point.xml (as
              mirrored in oesmith/gatt-xml): op codes 0-6, operators 0-6, response codes 1-9.
  SPEZI       StanfordSpezi/SpeziBluetooth Sources/SpeziBluetoothServices/Characteristics/
              RecordAccess/RecordAccessOpCode.swift and RecordAccessResponseCode.swift ("GATT
              Specification Supplement 3.178"): op codes 7/8 combined report, response code 10
              server busy; Tests/SpeziBluetoothServicesTests/RecordAccessControlPointTests.swift
              (request identity cases: report/delete/count x all/first/last/<=/>=/range).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices import racp
from hub.devices.errors import ParseError
from hub.devices.racp import (
    FilterType,
    OpCode,
    Operator,
    RacpRequest,
    RacpResponse,
    ResponseCode,
    abort,
    build_number_of_records_response,
    build_racp_request,
    build_response_code,
    delete_all,
    op_code_name,
    operator_name,
    parse_racp_request,
    parse_racp_response,
    report_all,
    report_first,
    report_last,
    report_newer_than,
    report_number_of_records,
    report_number_of_records_newer_than,
    report_sequence_range,
    response_code_name,
)

RESPONSE_KEYS = ["type", "op_code", "request_op_code", "response_code", "number_of_records"]


# --- responses (meter -> hub) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "request_op_code", "response_code"),
    [
        ([6, 0, 1, 1], "report_stored_records", "success"),  # NORDIC _Completed
        ([6, 0, 12, 2], "reserved", "op_code_not_supported"),  # NORDIC _opCodeNotSupported
        ([6, 0, 1, 3], "report_stored_records", "invalid_operator"),  # NORDIC _invalidOperator
        ([6, 0, 2, 4], "delete_stored_records", "operator_not_supported"),  # NORDIC
        ([6, 0, 1, 5], "report_stored_records", "invalid_operand"),  # NORDIC _invalidOperand
        ([6, 0, 1, 6], "report_stored_records", "no_records_found"),  # NORDIC _WithNoRecords
        ([6, 0, 3, 7], "abort_operation", "abort_unsuccessful"),  # NORDIC _abortUnsuccessful
        ([6, 0, 2, 8], "delete_stored_records", "procedure_not_completed"),  # NORDIC
        ([6, 0, 2, 9], "delete_stored_records", "operand_not_supported"),  # NORDIC
        # NORDIC _unknownErrorCode treats 10 as unknown; later GSS revisions name it (SPEZI).
        ([6, 0, 1, 10], "report_stored_records", "server_busy"),
        ([6, 0, 1, 11], "report_stored_records", "reserved"),
        ([6, 0, 1, 0], "report_stored_records", "reserved"),
        ([6, 0, 4, 1], "report_number_of_stored_records", "success"),
    ],
)
def test_response_code(data: list[int], request_op_code: str, response_code: str) -> None:
    parsed = parse_racp_response(bytes(data))
    assert parsed == RacpResponse(6, request_op_code=data[2], response_code=data[3])
    out = parsed.to_json()
    assert list(out) == RESPONSE_KEYS
    assert out == {
        "type": "racp_response",
        "op_code": "response_code",
        "request_op_code": request_op_code,
        "response_code": response_code,
        "number_of_records": None,
    }


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (bytes([5, 0, 2, 1]), 258),  # NORDIC onNumberOfRecordsReceived_uint16
        (bytes.fromhex("05000300"), 3),  # CORDIO glpsRacpSendNumRecRsp for its 3-record db
        (bytes.fromhex("05000000"), 0),
        (bytes.fromhex("0500ffff"), 65535),
    ],
)
def test_number_of_records_response(data: bytes, count: int) -> None:
    parsed = parse_racp_response(data)
    assert parsed == RacpResponse(5, number_of_records=count)
    assert parsed.to_json() == {
        "type": "racp_response",
        "op_code": "number_of_stored_records_response",
        "request_op_code": None,
        "response_code": None,
        "number_of_records": count,
    }


def test_cordio_response_code() -> None:
    # CORDIO glpsRacpSendRsp(connId, CH_RACP_OPCODE_REPORT, CH_RACP_RSP_SUCCESS).
    assert parse_racp_response(bytes.fromhex("06000101")).to_json()["response_code"] == "success"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "op_code"),
        (bytes([1, 1]), "op_code"),  # NORDIC onInvalidDataReceived_tooShort: a request op code
        (bytes([1, 3, 1, 2, 0]), "op_code"),  # NORDIC onInvalidDataReceived_wrongOpCode
        (bytes([0, 0, 1, 1]), "op_code"),  # RFU
        (bytes([8, 0, 3, 0]), "op_code"),  # combined report response: not a glucose response
        (bytes([6, 1, 1]), "operator"),  # NORDIC onInvalidDataReceived_invalidOperator
        (bytes([5, 1, 3, 0]), "operator"),  # SPEZI "invalid operator" on a count response
        (bytes([5, 0, 1]), "number_of_records"),  # NORDIC _uint8: GLS count is uint16
        (bytes([5, 0, 4, 3, 2, 1]), "number_of_records"),  # NORDIC _uint32: refused, not 772
        (bytes([5, 0, 3, 2, 1]), "number_of_records"),  # NORDIC _unsupportedLength
        (bytes([6]), "operator"),
        (bytes([6, 0]), "request_op_code"),
        (bytes([6, 0, 1]), "response_code"),
        (bytes([5]), "operator"),
        (bytes([5, 0]), "number_of_records"),
    ],
)
def test_invalid_responses(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_racp_response(data)
    err = excinfo.value
    assert err.field == field
    assert err.characteristic == "Record Access Control Point (0x2A52)"
    assert (data.hex() or "<empty>") in str(err)


def test_invalid_response_messages() -> None:
    with pytest.raises(ParseError, match=r"op code 1 \(report_stored_records\) is not a response"):
        parse_racp_response(bytes([1, 1]))
    with pytest.raises(ParseError, match=r"needs operator 0 \(null\), got 1 \(all_records\)"):
        parse_racp_response(bytes([6, 1, 1, 1]))
    with pytest.raises(ParseError, match="operand is 4 bytes long"):
        parse_racp_response(bytes([5, 0, 4, 3, 2, 1]))


def test_response_code_trailing_bytes_counted() -> None:
    parsed = parse_racp_response(bytes([6, 0, 1, 1, 0xAA]))
    assert parsed.trailing_bytes == 1
    assert parsed.to_json()["response_code"] == "success"


@given(count=st.integers(0, 0xFFFF))
def test_number_of_records_builder_round_trip(count: int) -> None:
    data = build_number_of_records_response(count)
    assert len(data) == 4 and data[:2] == b"\x05\x00"
    assert parse_racp_response(data).number_of_records == count


@given(request=st.integers(0, 0xFF), response=st.integers(0, 0xFF))
def test_response_code_builder_round_trip(request: int, response: int) -> None:
    data = build_response_code(request, response)
    assert data == bytes([6, 0, request, response])
    assert parse_racp_response(data) == RacpResponse(
        6, request_op_code=request, response_code=response
    )


def test_response_builders_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="uint16"):
        build_number_of_records_response(0x10000)
    with pytest.raises(ValueError, match="response_code"):
        build_response_code(1, 256)
    with pytest.raises(ValueError, match="request_op_code"):
        build_response_code(-1, 1)


def test_response_builders_take_enums() -> None:
    assert build_response_code(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND) == (
        bytes.fromhex("06000106")
    )


# --- request builders (hub -> meter) -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (report_all(), "0101"),
        (report_first(), "0105"),
        (report_last(), "0106"),
        # The hub holds records up to 41 and asks for >= 42 (CORDIO's >= is inclusive).
        (report_newer_than(41), "0103012a00"),
        (report_newer_than(0), "0103010100"),
        (report_newer_than(0xFFFE), "010301ffff"),
        (report_newer_than(0x01FF), "0103010002"),  # little-endian operand
        (report_sequence_range(12, 412), "0104010c009c01"),
        (report_number_of_records(), "0401"),
        (report_number_of_records_newer_than(41), "0403012a00"),
        (delete_all(), "0201"),
        (abort(), "0300"),
    ],
)
def test_request_builders(data: bytes, expected: str) -> None:
    assert data.hex() == expected


@pytest.mark.parametrize("last_seen", [-1, 0xFFFF, 0x10000])
def test_newer_than_rejects_out_of_range(last_seen: int) -> None:
    with pytest.raises(ValueError, match="last_seen"):
        report_newer_than(last_seen)
    with pytest.raises(ValueError, match="last_seen"):
        report_number_of_records_newer_than(last_seen)


def test_generic_request_builder_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="first"):
        report_sequence_range(5, 4)
    with pytest.raises(ValueError, match="op_code"):
        build_racp_request(256, 1)
    with pytest.raises(ValueError, match="operator"):
        build_racp_request(1, -1)
    with pytest.raises(ValueError, match="filter type"):
        build_racp_request(1, 3, sequence_numbers=[5])
    with pytest.raises(ValueError, match="filter_type"):
        build_racp_request(1, 3, filter_type=256, sequence_numbers=[5])
    with pytest.raises(ValueError, match="uint16"):
        build_racp_request(1, 3, filter_type=1, sequence_numbers=[0x10000])


# --- request parser (what an emulated meter receives) --------------------------------------


def test_parse_requests_from_builders() -> None:
    assert parse_racp_request(report_all()) == RacpRequest(1, 1)
    assert parse_racp_request(abort()) == RacpRequest(3, 0)
    assert parse_racp_request(report_newer_than(41)) == RacpRequest(
        1, 3, bytes.fromhex("012a00"), filter_type=1, sequence_numbers=(42,)
    )
    assert parse_racp_request(report_sequence_range(12, 412)) == RacpRequest(
        1, 4, bytes.fromhex("010c009c01"), filter_type=1, sequence_numbers=(12, 412)
    )
    assert parse_racp_request(report_newer_than(41)).to_json() == {
        "type": "racp_request",
        "op_code": "report_stored_records",
        "operator": "greater_than_or_equal_to",
        "filter_type": "sequence_number",
        "sequence_numbers": [42],
    }
    assert parse_racp_request(abort()).to_json() == {
        "type": "racp_request",
        "op_code": "abort_operation",
        "operator": "null",
        "filter_type": None,
        "sequence_numbers": None,
    }


_OP_CODES = [
    OpCode.REPORT_STORED_RECORDS,
    OpCode.DELETE_STORED_RECORDS,
    OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
]


@pytest.mark.parametrize("op_code", _OP_CODES)
@pytest.mark.parametrize(
    ("operator", "values"),
    [
        (Operator.ALL_RECORDS, ()),
        (Operator.FIRST_RECORD, ()),
        (Operator.LAST_RECORD, ()),
        (Operator.GREATER_THAN_OR_EQUAL_TO, (12,)),
        (Operator.LESS_THAN_OR_EQUAL_TO, (41,)),
        (Operator.WITHIN_RANGE_OF, (12, 412)),
    ],
)
def test_request_identity_spezi_cases(
    op_code: OpCode, operator: Operator, values: tuple[int, ...]
) -> None:
    # SPEZI testRACPReportStoredRecords / DeleteStoredRecords / ReportNumberOfStoredRecords
    # (sequence number filter cases).
    filter_type = FilterType.SEQUENCE_NUMBER if values else None
    data = build_racp_request(op_code, operator, filter_type=filter_type, sequence_numbers=values)
    parsed = parse_racp_request(data)
    assert (parsed.op_code, parsed.operator) == (op_code, operator)
    assert parsed.filter_type == filter_type
    assert parsed.sequence_numbers == (values or None)
    assert parsed.trailing_bytes == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "op_code"),
        (b"\x01", "operator"),
        (b"\x01\x03", "filter_type"),
        (b"\x04\x02", "filter_type"),
        (b"\x01\x03\x01", "operand"),
        (b"\x01\x03\x01\x2a", "operand"),
        (b"\x02\x04\x01\x0c\x00\x9c", "operand"),
    ],
)
def test_request_parse_errors(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_racp_request(data)
    assert excinfo.value.field == field


def test_request_unknowns_are_kept_for_the_emulator() -> None:
    # RFU op code, RFU operator, user facing time filter, unknown filter type: decoded as far
    # as they go so the emulated meter can answer "op code / operator / operand not supported".
    rfu_op = parse_racp_request(bytes([0x09, 0x01, 0x77]))
    assert (rfu_op.op_code, rfu_op.operand, rfu_op.trailing_bytes) == (9, b"\x77", 1)
    assert rfu_op.to_json()["op_code"] == "reserved"
    rfu_operator = parse_racp_request(bytes([0x01, 0x07]))
    assert rfu_operator.to_json()["operator"] == "reserved"
    time_filter = parse_racp_request(bytes.fromhex("010302e907030e0c1e00"))
    assert time_filter.filter_type == FilterType.USER_FACING_TIME
    assert time_filter.sequence_numbers is None
    assert time_filter.operand == bytes.fromhex("02e907030e0c1e00")
    assert time_filter.to_json()["filter_type"] == "user_facing_time"
    odd = parse_racp_request(bytes([0x01, 0x03, 0x09]))
    assert odd.to_json()["filter_type"] == "reserved"
    # CORDIO glpsRacpOperCheck: an operand after "all records" is an invalid operand; we
    # count it so the emulator can say so.
    assert parse_racp_request(bytes([0x01, 0x01, 0x01, 0x00])).trailing_bytes == 2
    assert parse_racp_request(bytes([0x01, 0x03, 0x01, 0x05, 0x00, 0xFF])).trailing_bytes == 1


STORED = (3, 4, 5, 9, 10)


@pytest.mark.parametrize(
    ("data", "selected"),
    [
        (report_all(), STORED),
        (report_first(), (3,)),
        (report_last(), (10,)),
        (report_newer_than(4), (5, 9, 10)),  # strictly newer than what the hub holds
        (report_newer_than(10), ()),
        (report_newer_than(0), STORED),
        (report_sequence_range(4, 9), (4, 5, 9)),
        (report_sequence_range(6, 8), ()),
        (build_racp_request(1, 2, filter_type=1, sequence_numbers=[5]), (3, 4, 5)),
        (build_racp_request(1, 4, filter_type=1, sequence_numbers=[9, 4]), ()),
        (report_number_of_records_newer_than(4), (5, 9, 10)),
        (delete_all(), STORED),
    ],
)
def test_request_select(data: bytes, selected: tuple[int, ...]) -> None:
    assert parse_racp_request(data).select(reversed(STORED)) == selected


def test_request_select_empty_store() -> None:
    assert parse_racp_request(report_first()).select([]) == ()
    assert parse_racp_request(report_last()).select([]) == ()


@pytest.mark.parametrize(
    "data",
    [abort(), bytes([9, 1]), bytes([1, 0]), bytes([1, 7]), bytes.fromhex("010302e907030e0c1e00")],
)
def test_request_select_refuses_non_selecting_requests(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"selects no records|filter type"):
        parse_racp_request(data).select(STORED)


# --- names ---------------------------------------------------------------------------------


def test_names() -> None:
    assert [op_code_name(code) for code in range(10)] == [
        "reserved",
        "report_stored_records",
        "delete_stored_records",
        "abort_operation",
        "report_number_of_stored_records",
        "number_of_stored_records_response",
        "response_code",
        "combined_report",
        "combined_report_response",
        "reserved",
    ]
    assert [operator_name(code) for code in range(8)] == [
        "null",
        "all_records",
        "less_than_or_equal_to",
        "greater_than_or_equal_to",
        "within_range_of",
        "first_record",
        "last_record",
        "reserved",
    ]
    assert [response_code_name(code) for code in range(12)] == [
        "reserved",
        "success",
        "op_code_not_supported",
        "invalid_operator",
        "operator_not_supported",
        "invalid_operand",
        "no_records_found",
        "abort_unsuccessful",
        "procedure_not_completed",
        "operand_not_supported",
        "server_busy",
        "reserved",
    ]


def test_parsers_table() -> None:
    expected = {0x2A52: ("Record Access Control Point (0x2A52)", parse_racp_response)}
    assert dict(racp.PARSERS) == expected


# --- properties ----------------------------------------------------------------------------


@given(data=st.binary(max_size=24))
def test_any_bytes_response_or_parse_error(data: bytes) -> None:
    try:
        out = parse_racp_response(data).to_json()
    except ParseError as err:
        assert data.hex() in str(err) or not data
        return
    json.dumps(out, allow_nan=False)


@given(data=st.binary(max_size=24))
def test_any_bytes_request_or_parse_error(data: bytes) -> None:
    try:
        request = parse_racp_request(data)
    except ParseError as err:
        assert err.field in {"op_code", "operator", "filter_type", "operand"}
        return
    json.dumps(request.to_json(), allow_nan=False)
    with contextlib.suppress(ValueError):
        request.select(range(20))


@given(
    op_code=st.integers(0, 0xFF),
    operator=st.integers(0, 0xFF),
    values=st.lists(st.integers(0, 0xFFFF), max_size=2),
)
def test_request_round_trip(op_code: int, operator: int, values: list[int]) -> None:
    filtered = op_code in (1, 2, 4) and operator in (2, 3, 4)
    expected_count = 2 if operator == 4 else 1
    kwargs: dict[str, Any] = {}
    if filtered:
        values = [*values, 7, 8][:expected_count]
        kwargs = {"filter_type": 1, "sequence_numbers": values}
    parsed = parse_racp_request(build_racp_request(op_code, operator, **kwargs))
    assert (parsed.op_code, parsed.operator) == (op_code, operator)
    assert parsed.sequence_numbers == (tuple(values) if filtered else None)
    assert parsed.trailing_bytes == 0
