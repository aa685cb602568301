"""Temperature Measurement (0x2A1C), Temperature Type (0x2A1D), Intermediate Temperature (0x2A1E).

Vector sources (cited per case below):
  NORDIC_HTM  NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/ht/TemperatureMeasurementDataCallbackTest.java
  NORDIC_TT   same directory, TemperatureTypeDataCallbackTest.java
  PHD_WP      Bluetooth SIG "Personal Health Devices Transcoding White Paper" sections 2.2.6 and
              4.1 (Temperature Measurement examples), as quoted by a public TypeScript GATT
              parser's temperature-measurement test ("006C0100FF", "02720100FFDA070C120F0000")
  GSS_XML     oesmith/gatt-xml org.bluetooth.characteristic.temperature_measurement.xml and
              org.bluetooth.characteristic.temperature_type.xml (the SIG's former GATT XML);
              field tables also in the GSS as rendered by docs.embassy.dev trouble-host
              characteristic constants TEMPERATURE_MEASUREMENT / INTERMEDIATE_TEMPERATURE
  HL7_PHD     HL7/phd MderFLOATsandSFLOATs.md: FLOAT special values (also tests/test_ieee11073.py)
Vectors marked "built" were assembled by hand from the GSS layout; the comment shows the sum.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices.errors import ParseError
from hub.devices.ieee11073 import SpecialValue
from hub.devices.thermometer import (
    INTERMEDIATE_TEMPERATURE,
    PARSERS,
    TEMPERATURE_MEASUREMENT,
    TEMPERATURE_TYPE,
    TEMPERATURE_TYPE_NAMES,
    TemperatureMeasurement,
    TemperatureType,
    build_temperature_measurement,
    build_temperature_type,
    parse_intermediate_temperature,
    parse_temperature_measurement,
    parse_temperature_type,
    temperature_type_name,
)
from tests.conftest import strict_json

# --- vectors -------------------------------------------------------------------------------

# NORDIC_HTM onTemperatureMeasurementReceived: flags 0x06, FLOAT 0xFE000EB0 = 3760e-2 = 37.60 C,
# Date Time 2012-12-05 11:50:27, temperature type 4 (finger).
HTM_FULL = bytes.fromhex("06b00e00fedc070c050b321b04")
# NORDIC_HTM onInvalidDataReceived: the same with the flagged temperature type cut off.
HTM_NO_TYPE = HTM_FULL[:-1]
# PHD_WP 2.2.6: flags 0, FLOAT 0xFF00016C = 364e-1 = 36.4 C.
HTM_MINIMAL = bytes.fromhex("006c0100ff")
# PHD_WP 4.1: flags 0x02, FLOAT 0xFF000172 = 37.0 C, Date Time 2010-12-18 15:00:00.
HTM_TIMESTAMP = bytes.fromhex("02720100ffda070c120f0000")
# built: flags 0x01 (Fahrenheit), FLOAT 0xFF0003DA = 986e-1 = 98.6 F.
HTM_FAHRENHEIT = bytes.fromhex("01da0300ff")
# built: flags 0x04, FLOAT 0xFEFFFDF3 = -525e-2 = -5.25 C, type 9 (tympanum).
HTM_NEGATIVE_TYPE_ONLY = bytes.fromhex("04f3fdfffe09")

MEASUREMENT_KEYS = ["type", "temperature", "unit", "timestamp", "temperature_type"]

GSS_TYPE_NAMES = {
    # GSS_XML temperature_type.xml enumeration, keys 1-9; 0 and 10-255 RFU.
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastro_intestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


# --- Temperature Measurement 0x2A1C --------------------------------------------------------


def test_full_nordic() -> None:
    m = parse_temperature_measurement(HTM_FULL)
    assert m == TemperatureMeasurement(
        temperature=37.6,
        unit="C",
        timestamp=datetime(2012, 12, 5, 11, 50, 27),
        temperature_type_code=4,
    )
    assert m.temperature_type == "finger"
    assert m.trailing_bytes == 0
    assert m.to_json() == {
        "type": "temperature_measurement",
        "temperature": 37.6,
        "unit": "C",
        "timestamp": "2012-12-05T11:50:27",
        "temperature_type": "finger",
    }
    assert list(m.to_json()) == MEASUREMENT_KEYS  # "type" first, names exactly as specified


def test_missing_flagged_type_nordic() -> None:
    # NORDIC_HTM onInvalidDataReceived: flags 0x06 promise a type byte that is not there.
    with pytest.raises(ParseError) as excinfo:
        parse_temperature_measurement(HTM_NO_TYPE)
    err = excinfo.value
    assert err.field == "temperature_type"
    assert err.characteristic == TEMPERATURE_MEASUREMENT
    assert str(err) == (
        "Temperature Measurement (0x2A1C): flags 0x06 promise a temperature type (1 byte) at "
        "byte 12 but the value is only 12 bytes long (raw: 06b00e00fedc070c050b321b)"
    )


def test_minimal_phd_whitepaper() -> None:
    assert parse_temperature_measurement(HTM_MINIMAL).to_json() == {
        "type": "temperature_measurement",
        "temperature": 36.4,
        "unit": "C",
        "timestamp": None,
        "temperature_type": None,
    }


def test_timestamp_phd_whitepaper() -> None:
    m = parse_temperature_measurement(HTM_TIMESTAMP)
    assert (m.temperature, m.unit) == (37.0, "C")
    assert m.timestamp == datetime(2010, 12, 18, 15, 0, 0)
    assert m.temperature_type_code is None
    assert m.to_json()["timestamp"] == "2010-12-18T15:00:00"


def test_fahrenheit() -> None:
    m = parse_temperature_measurement(HTM_FAHRENHEIT)
    assert (m.temperature, m.unit) == (98.6, "F")
    assert m.to_json()["unit"] == "F"


def test_negative_temperature_and_type_without_timestamp() -> None:
    m = parse_temperature_measurement(HTM_NEGATIVE_TYPE_ONLY)
    assert m.temperature == -5.25
    assert m.timestamp is None
    assert m.to_json()["temperature_type"] == "tympanum"


def _field_at(length: int) -> str:
    # Byte layout of HTM_FULL: which field a value cut to `length` bytes runs out in.
    layout = [(1, "flags"), (5, "temperature"), (12, "timestamp"), (13, "temperature_type")]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(len(HTM_FULL)))
def test_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_temperature_measurement(HTM_FULL[:length])
    assert excinfo.value.field == _field_at(length)
    if length:
        assert f"only {length} bytes long" in str(excinfo.value)
        assert f"(raw: {HTM_FULL[:length].hex()})" in str(excinfo.value)
    else:
        assert "empty" in str(excinfo.value)


@pytest.mark.parametrize(("flag", "field"), [(0x02, "timestamp"), (0x04, "temperature_type")])
def test_each_flag_without_its_field(flag: int, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_temperature_measurement(bytes([flag]) + HTM_MINIMAL[1:])
    assert excinfo.value.field == field
    assert "at byte 5" in str(excinfo.value)


def test_rfu_flag_bits_ignored() -> None:
    for rfu in (0x08, 0x10, 0x80, 0xF8):
        value = bytes([HTM_FULL[0] | rfu]) + HTM_FULL[1:]
        assert parse_temperature_measurement(value) == parse_temperature_measurement(HTM_FULL)


def test_trailing_bytes_accepted() -> None:
    m = parse_temperature_measurement(HTM_MINIMAL + b"\xaa\xbb")
    assert m.trailing_bytes == 2
    assert m.temperature == 36.4
    assert "trailing_bytes" not in m.to_json()
    assert parse_temperature_measurement(HTM_FULL + b"\x00").trailing_bytes == 1


@pytest.mark.parametrize(
    ("float_hex", "special", "json_form"),
    [
        ("ffff7f00", SpecialValue.NAN, "NaN"),  # HL7_PHD 0x007FFFFF
        ("00008000", SpecialValue.NRES, "NRes"),  # 0x00800000
        ("feff7f00", SpecialValue.POSITIVE_INFINITY, "+INF"),  # 0x007FFFFE
        ("02008000", SpecialValue.NEGATIVE_INFINITY, "-INF"),  # 0x00800002
        ("01008000", SpecialValue.RESERVED, "Reserved"),  # 0x00800001
    ],
)
def test_special_values(float_hex: str, special: SpecialValue, json_form: str) -> None:
    # A thermometer that could not measure sends NaN; the JSON carries the name, never a float.
    m = parse_temperature_measurement(bytes.fromhex("00" + float_hex))
    assert m.temperature is special
    assert m.to_json()["temperature"] == json_form
    strict_json(m.to_json())


def test_sfloat_nan_pattern_is_not_special_as_float() -> None:
    # 0x000007FF is SFLOAT NaN's pattern but, read as a 32-bit FLOAT, the ordinary number 2047.
    assert parse_temperature_measurement(bytes.fromhex("00ff070000")).temperature == 2047.0


def test_timestamp_not_known() -> None:
    # A clock that was never set: flag present, Date Time all zeros -> null, value still parsed.
    m = parse_temperature_measurement(bytes.fromhex("02720100ff") + bytes(7))
    assert m.timestamp is None
    assert m.temperature == 37.0


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("da070d120f0000", "timestamp.month"),  # month 13
        ("da070c120f3c00", "timestamp.minutes"),  # minute 60
        ("da070c120f003c", "timestamp.seconds"),  # second 60
        ("da070c12180000", "timestamp.hours"),  # hour 24
        ("da07021e0f0000", "timestamp.day"),  # 30 February
        ("e8030101000000", "timestamp.year"),  # year 1000 is RFU
    ],
)
def test_invalid_timestamp_names_subfield(date_time: str, field: str) -> None:
    data = bytes.fromhex("02720100ff" + date_time)
    with pytest.raises(ParseError) as excinfo:
        parse_temperature_measurement(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == TEMPERATURE_MEASUREMENT
    assert data.hex() in str(excinfo.value)


@pytest.mark.parametrize(
    ("code", "name"),
    [*GSS_TYPE_NAMES.items(), (0, "reserved"), (10, "reserved"), (255, "reserved")],
)
def test_measurement_temperature_type_names(code: int, name: str) -> None:
    m = parse_temperature_measurement(HTM_NEGATIVE_TYPE_ONLY[:-1] + bytes([code]))
    assert m.temperature_type_code == code  # the raw code stays available for logs
    assert m.to_json()["temperature_type"] == name


# --- Intermediate Temperature 0x2A1E -------------------------------------------------------


def test_intermediate_same_layout_other_type() -> None:
    # GSS: 0x2A1E has the format of 0x2A1C; only the JSON type differs.
    i = parse_intermediate_temperature(HTM_FULL)
    m = parse_temperature_measurement(HTM_FULL)
    assert i.intermediate and not m.intermediate
    assert i.to_json() == {**m.to_json(), "type": "intermediate_temperature"}
    assert list(i.to_json()) == MEASUREMENT_KEYS


@pytest.mark.parametrize("length", range(len(HTM_FULL)))
def test_intermediate_truncated_names_field_and_characteristic(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_intermediate_temperature(HTM_FULL[:length])
    assert excinfo.value.field == _field_at(length)
    assert excinfo.value.characteristic == INTERMEDIATE_TEMPERATURE


# --- Temperature Type 0x2A1D ---------------------------------------------------------------


def test_temperature_type_nordic() -> None:
    # NORDIC_TT onMeasurementIntervalReceived: [3] is TYPE_EAR.
    parsed = parse_temperature_type(b"\x03")
    assert parsed == TemperatureType(temperature_type_code=3)
    assert parsed.to_json() == {"type": "temperature_type", "temperature_type": "ear"}


def test_temperature_type_trailing_byte_accepted() -> None:
    # NORDIC_TT onInvalidDataReceived sends [3, 0] and Nordic rejects it. We accept and count
    # the extra byte (module docstring): the first byte still says where the device measures.
    parsed = parse_temperature_type(b"\x03\x00")
    assert parsed.temperature_type == "ear"
    assert parsed.trailing_bytes == 1


def test_temperature_type_empty() -> None:
    with pytest.raises(ParseError, match=r"empty.*\(raw: <empty>\)") as excinfo:
        parse_temperature_type(b"")
    assert excinfo.value.field == "temperature_type"
    assert excinfo.value.characteristic == TEMPERATURE_TYPE


@pytest.mark.parametrize("code", range(256))
def test_temperature_type_every_code(code: int) -> None:
    # GSS_XML: 1-9 named, 0 and 10-255 RFU -> "reserved" (not an error).
    out = parse_temperature_type(bytes([code])).to_json()
    assert out["temperature_type"] == GSS_TYPE_NAMES.get(code, "reserved")
    assert temperature_type_name(code) == out["temperature_type"]


# --- properties: nothing but ParseError, for any bytes -------------------------------------

_PARSERS: list[Callable[[bytes], Any]] = [
    parse_temperature_measurement,
    parse_intermediate_temperature,
    parse_temperature_type,
]


@pytest.mark.parametrize("parser", _PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=40))
def test_any_bytes_parse_or_parse_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    try:
        out = parser(data).to_json()
    except ParseError as err:
        assert data.hex() in str(err) or not data
        return
    json.loads(strict_json(out))


@given(data=st.binary(min_size=1, max_size=20), flags=st.integers(0, 255))
def test_flagged_fields_fuzz_structured(data: bytes, flags: int) -> None:
    # Force every flags combination so fuzzing reaches the optional fields and the Date Time.
    try:
        parse_temperature_measurement(bytes([flags]) + data)
    except ParseError as err:
        assert err.field is not None


@given(data=st.binary(max_size=40))
def test_any_bytes_bytearray_and_memoryview(data: bytes) -> None:
    # bleak hands notifications over as bytearray.
    try:
        expected = parse_temperature_measurement(data)
    except ParseError:
        return
    assert parse_temperature_measurement(bytearray(data)) == expected
    assert parse_temperature_measurement(memoryview(data)) == expected


# --- properties: builder round trips -------------------------------------------------------

_FLOAT_SPECIAL_MANTISSAS = {0x7FFFFF, 0x7FFFFE, -0x800000, -0x7FFFFF, -0x7FFFFE}
_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))


def _float_at(exponent: int) -> st.SearchStrategy[float | SpecialValue]:
    specials = _FLOAT_SPECIAL_MANTISSAS if exponent == 0 else set()
    mantissas = st.integers(-(1 << 23), (1 << 23) - 1).filter(lambda m: m not in specials)
    numbers = mantissas.map(
        lambda m: float(m * 10**exponent) if exponent >= 0 else m / 10**-exponent
    )
    return st.one_of(numbers, st.sampled_from(list(SpecialValue)))


@st.composite
def _measurement_args(draw: st.DrawFn) -> dict[str, Any]:
    exponent = draw(st.integers(-128, 127))
    return {
        "value": draw(_float_at(exponent)),
        "unit": draw(st.sampled_from(["C", "F"])),
        "exponent": exponent,
        "timestamp": draw(st.none() | _DATETIMES),
        "temperature_type": draw(
            st.none() | st.sampled_from(list(GSS_TYPE_NAMES.values())) | st.integers(0, 255)
        ),
        "intermediate": draw(st.booleans()),
    }


@given(args=_measurement_args(), trailing=st.binary(max_size=4))
def test_builder_round_trip(args: dict[str, Any], trailing: bytes) -> None:
    data = build_temperature_measurement(**args)
    parser = (
        parse_intermediate_temperature if args["intermediate"] else parse_temperature_measurement
    )
    parsed = parser(data + trailing)
    code = args["temperature_type"]
    if isinstance(code, str):
        code = {name: number for number, name in GSS_TYPE_NAMES.items()}[code]
    assert parsed == TemperatureMeasurement(
        temperature=args["value"],
        unit=args["unit"],
        timestamp=args["timestamp"],
        temperature_type_code=code,
        intermediate=args["intermediate"],
        trailing_bytes=len(trailing),
    )
    strict_json(parsed.to_json())


def test_builder_reproduces_nordic_vector() -> None:
    built = build_temperature_measurement(
        37.6, timestamp=datetime(2012, 12, 5, 11, 50, 27), temperature_type="finger"
    )
    assert built == HTM_FULL


def test_builder_reproduces_phd_vectors() -> None:
    assert build_temperature_measurement(36.4, exponent=-1) == HTM_MINIMAL
    assert (
        build_temperature_measurement(37, exponent=-1, timestamp=datetime(2010, 12, 18, 15, 0))
        == HTM_TIMESTAMP
    )
    assert build_temperature_measurement(98.6, unit="F", exponent=-1) == HTM_FAHRENHEIT


def test_builder_timestamp_unknown_and_python_nan() -> None:
    data = build_temperature_measurement(float("nan"), timestamp_unknown=True)
    assert data[0] == 0x02
    assert data[1:5] == bytes.fromhex("ffff7f00")
    assert data[5:12] == bytes(7)
    assert parse_temperature_measurement(data).to_json()["timestamp"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": "K"}, "unit"),
        ({"temperature_type": "forehead"}, "unknown temperature type"),
        ({"temperature_type": "reserved"}, "unknown temperature type"),
        ({"temperature_type": 256}, "0-255"),
        ({"temperature_type": True}, "name or 0-255"),
        ({"exponent": 128}, "exponent"),
        ({"value": 1e9, "exponent": 0}, "mantissa"),
        ({"timestamp": datetime(2026, 1, 1), "timestamp_unknown": True}, "not both"),
        ({"timestamp": datetime(1500, 1, 1)}, "1582-9999"),
    ],
)
def test_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"value": 37.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_temperature_measurement(**args)


@given(code=st.integers(0, 255))
def test_temperature_type_builder_round_trip(code: int) -> None:
    assert parse_temperature_type(build_temperature_type(code)).temperature_type_code == code


def test_temperature_type_builder_names() -> None:
    for code, name in GSS_TYPE_NAMES.items():
        assert build_temperature_type(name) == bytes([code])
    assert TEMPERATURE_TYPE_NAMES[1:] == tuple(GSS_TYPE_NAMES.values())


# --- PARSERS table -------------------------------------------------------------------------


def test_parsers_table() -> None:
    assert dict(PARSERS) == {
        0x2A1C: (TEMPERATURE_MEASUREMENT, parse_temperature_measurement),
        0x2A1D: (TEMPERATURE_TYPE, parse_temperature_type),
        0x2A1E: (INTERMEDIATE_TEMPERATURE, parse_intermediate_temperature),
    }
    assert PARSERS[0x2A1C][1](HTM_FULL).to_json()["type"] == "temperature_measurement"
    assert PARSERS[0x2A1E][1](HTM_FULL).to_json()["type"] == "intermediate_temperature"
    assert PARSERS[0x2A1D][1](b"\x01").to_json()["type"] == "temperature_type"
    for uuid, (name, _) in PARSERS.items():
        assert name.endswith(f"(0x{uuid:04X})")
