"""The demo's pace: a person's by default (one measurement in the home every few minutes, the
devices taking turns), `--quick` for a look at the screens, `--every` for any other pace."""

from __future__ import annotations

import itertools

import pytest

from testbed.demo import DEMO_DEVICES, PERSON_PACE, QUICK_PACE, Turn, parser, turns


def test_by_default_the_home_measures_at_a_persons_pace() -> None:
    args = parser().parse_args([])
    assert args.every == PERSON_PACE
    assert 120 <= PERSON_PACE <= 300  # a few minutes between two measurements
    assert args.devices == DEMO_DEVICES


def test_quick_is_the_fast_version() -> None:
    assert parser().parse_args(["--quick"]).every == QUICK_PACE
    assert QUICK_PACE <= 10 < PERSON_PACE  # time to read a result and tap OK, and no more


def test_every_sets_any_other_pace() -> None:
    assert parser().parse_args(["--every", "45"]).every == 45.0


@pytest.mark.parametrize(
    "argv", [["--quick", "--every", "3"], ["--every", "0"], ["--every", "-5"], ["--every", "x"]]
)
def test_a_pace_that_makes_no_sense_is_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "--every" in capsys.readouterr().err


def test_the_devices_take_turns() -> None:
    assert turns(["cuff", "scale", "oximeter"], 180.0) == [
        Turn("cuff", 30.0, 540.0),
        Turn("scale", 210.0, 540.0),
        Turn("oximeter", 390.0, 540.0),
    ]
    # The quick demo's first measurement does not wait for the person's pace lead.
    assert turns(["cuff", "scale"], QUICK_PACE)[0] == Turn("cuff", QUICK_PACE, 2 * QUICK_PACE)


@pytest.mark.parametrize("gap", [PERSON_PACE, QUICK_PACE])
def test_no_two_devices_measure_at_the_same_moment(gap: float) -> None:
    """Over what would be a day of the default pace: every measurement in the home is `gap`
    after the one before it, whichever device takes it."""
    schedule = turns(DEMO_DEVICES, gap)
    moments = sorted(
        (turn.first + n * turn.every, turn.kind) for turn in schedule for n in range(100)
    )
    gaps = {round(b[0] - a[0], 9) for a, b in itertools.pairwise(moments)}
    assert gaps == {gap}
    # and in order: each device once before any measures a second time
    assert [kind for _, kind in moments[: len(DEMO_DEVICES)]] == DEMO_DEVICES
