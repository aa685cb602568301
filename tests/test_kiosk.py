"""The patient screen's kiosk (docs/kiosk.md), checked offline from the shipped files: foot's
configuration gives Textual 50 x 15 cells on the official 7" panel, the console font the same,
the sizes docs/kiosk.md states follow from them, the unit runs cage, foot and `hub ui` with the
files install.sh puts in place, install.sh refuses a foot that cannot take touches, and Textual
still reads only the mouse reports that foot sends, not the ones the Linux console would."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
KIOSK = ROOT / "provisioning" / "kiosk"
UNIT = ROOT / "systemd" / "dho-hub-ui.service"
DOC = ROOT / "docs" / "kiosk.md"

# The official Raspberry Pi 7" touch display: 800 x 480 pixels on an active area of
# 154.21 x 85.92 mm.
PANEL_PX = (800, 480)
PANEL_MM = (154.21, 85.92)
TARGET_CELLS = (50, 15)
# Textual's Digits draws each digit 3 rows tall (textual/renderables/digits.py, DIGITS3X3).
DIGITS_ROWS = 3

# Terminus as Debian's fonts-terminus-otb has it (bitmap strikes only): pixel size -> cell width
# and height, read from the font's EBLC table (widthMax; ascender - descender) of version 4.48.
TERMINUS_STRIKES = {
    12: (6, 12),
    14: (8, 14),
    16: (8, 16),
    18: (10, 18),
    20: (10, 20),
    22: (11, 22),
    24: (12, 24),
    28: (14, 28),
    32: (16, 32),
}


def foot_ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string((KIOSK / "foot.ini").read_text())
    return parser


def pixels(value: str) -> int:
    """foot.ini's `12px`: only pixel values are accepted here (points would depend on DPI)."""
    match = re.fullmatch(r"(-?\d+)px", value.strip())
    assert match, f"{value!r} is not in pixels"
    return int(match.group(1))


def foot_cell(config: configparser.ConfigParser) -> tuple[int, int]:
    """The cell foot draws: the font's strike, then letter-spacing and line-height."""
    main = config["main"]
    family, *options = main["font"].split(":")
    assert family == "Terminus", "only Terminus's strikes are known here"
    attrs = dict(option.split("=", 1) for option in options)
    assert "size" not in attrs, "a point size would depend on the panel's DPI"
    assert main.getboolean("dpi-aware") is False
    width, height = TERMINUS_STRIKES[int(attrs["pixelsize"])]
    width += pixels(main.get("letter-spacing", "0px"))
    if "line-height" in main:
        height = pixels(main["line-height"])
    return width, height


def grid(cell: tuple[int, int], pad: tuple[int, int]) -> tuple[int, int, int, int]:
    """Columns, rows, and the pixels left over across and down."""
    usable = (PANEL_PX[0] - 2 * pad[0], PANEL_PX[1] - 2 * pad[1])
    columns, rest_x = divmod(usable[0], cell[0])
    rows, rest_y = divmod(usable[1], cell[1])
    return columns, rows, rest_x, rest_y


def foot_grid() -> tuple[int, int, int, int]:
    config = foot_ini()
    pad_x, pad_y = (int(n) for n in config["main"]["pad"].split()[0].split("x"))
    return grid(foot_cell(config), (pad_x, pad_y))


def test_foot_gives_textual_50_by_15_cells_on_the_panel_edge_to_edge() -> None:
    columns, rows, rest_x, rest_y = foot_grid()
    assert (columns, rows) == TARGET_CELLS
    assert (rest_x, rest_y) == (0, 0)  # no strip of unused pixels along an edge


def test_the_console_font_gives_the_same_cells() -> None:
    """For boot messages and a technician when the kiosk is down: Terminus 16 x 32 on tty1."""
    settings = dict(
        line.split("=", 1)
        for line in (KIOSK / "console-setup").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["FONTFACE"].strip('"') == "Terminus"
    width, height = (int(n) for n in settings["FONTSIZE"].strip('"').split("x"))
    assert (width, height) == TERMINUS_STRIKES[height]  # the same design and size as foot's
    assert grid((width, height), (0, 0)) == (*TARGET_CELLS, 0, 0)


def millimetres(rows: int, columns: int = 0) -> tuple[float, float]:
    """Height of `rows` and width of `columns` of foot's cells on the panel, in mm."""
    width, height = foot_cell(foot_ini())
    return (
        round(rows * height * PANEL_MM[1] / PANEL_PX[1], 1),
        round(columns * width * PANEL_MM[0] / PANEL_PX[0], 1),
    )


def test_the_sizes_in_docs_kiosk_md_follow_from_the_shipped_font() -> None:
    text = DOC.read_text()
    row_mm, cell_mm = millimetres(1, 1)
    digits_mm, digit_mm = millimetres(DIGITS_ROWS, 3)
    for figure in (row_mm, cell_mm, digits_mm, digit_mm):
        assert f"{figure:.1f} mm" in text, figure
    assert (row_mm, digits_mm) == (5.7, 17.2)


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def installed(source: str) -> str:
    """Where install.sh puts a file of provisioning/kiosk/."""
    script = (KIOSK / "install.sh").read_text()
    match = re.search(r'install -m 0644 "\$here/' + re.escape(source) + r'" (\S+)', script)
    assert match, f"install.sh does not install {source}"
    return match.group(1)


def test_the_unit_runs_the_screen_in_foot_in_cage_with_the_installed_files() -> None:
    settings = service()
    command = settings["ExecStart"][-1].split()
    assert command[:3] == ["/usr/bin/cage", "-d", "--"]
    foot = command[3:]
    assert foot[0] == "/usr/bin/foot"
    assert f"--config={installed('foot.ini')}" in foot
    hub = foot[foot.index("--") + 1 :]
    assert hub[0].endswith("/hub") and hub[-1] == "ui"
    # The logind session cage needs comes from the PAM service install.sh writes.
    assert installed("dho-hub-ui.pam") == "/etc/pam.d/" + settings["PAMName"][-1]
    assert settings["TTYPath"] == ["/dev/tty1"]
    assert installed("console-setup") == "/etc/default/console-setup"
    # The packages that hold what the unit runs and the font foot.ini names.
    packages = re.search(r'^PACKAGES="([^"]+)"', (KIOSK / "install.sh").read_text(), re.M)
    assert packages is not None
    assert {"cage", "foot", "fonts-terminus-otb", "console-setup"} <= set(packages[1].split())


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """Every directive known to systemd; cage is not installed here, so a copy runs /bin/true."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; run.sh installs it)")
    copy = tmp_path / UNIT.name
    copy.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", UNIT.read_text(), flags=re.M))
    result = subprocess.run(
        [tool, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


@pytest.mark.parametrize(
    ("candidate", "accepted"),
    [
        ("1.13.1-2+deb12u1", False),  # Debian 12 (bookworm): no touch input
        ("1.14.0-1", False),
        ("1.15.0-1", True),  # the first with touch input
        ("1.21.0-2", True),  # Debian 13 (trixie)
        ("(none)", False),
    ],
)
def test_install_refuses_a_foot_without_touch_input(
    candidate: str, accepted: bool, tmp_path: Path
) -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed (install.sh is for Debian)")
    fake = tmp_path / "apt-cache"
    fake.write_text(f"#!/bin/sh\necho 'foot:'\necho '  Candidate: {candidate}'\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["sh", str(KIOSK / "install.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
    )
    assert (result.returncode == 0) is accepted, result.stderr
    if not accepted:
        assert "needs foot 1.15.0 or" in result.stderr and "docs/kiosk.md" in result.stderr


def mouse_events(data: str) -> list[tuple[str, int, int]]:
    from textual import events
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    parsed = [*parser.feed(data), *parser.feed("")]
    return [
        (type(e).__name__, int(e.x), int(e.y)) for e in parsed if isinstance(e, events.MouseEvent)
    ]


def test_textual_reads_foots_sgr_reports_but_not_the_consoles_x10_ones() -> None:
    """Why the console was rejected (docs/kiosk.md): the kernel's vt reports a click only as
    `ESC [ M b x y` (drivers/tty/vt/vt.c, mouse_report()), which Textual drops; foot answers
    Textual's request for SGR mode 1006 with `ESC [ < b ; x ; y M/m`. If Textual ever reads the
    old form, the console becomes a choice again."""
    column, row = 10, 5  # 1-based, as terminals send them
    x10 = "\x1b[M" + chr(32 + 0) + chr(32 + column) + chr(32 + row)
    assert mouse_events(x10) == []
    assert mouse_events(f"\x1b[<0;{column};{row}M\x1b[<0;{column};{row}m") == [
        ("MouseDown", column - 1, row - 1),
        ("MouseUp", column - 1, row - 1),
    ]
