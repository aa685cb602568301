"""The demo's scales weigh one person, not a new one each time: the trend the patient and the
nurse see in the demo looks like a week of someone's weight."""

import itertools
import random

import pytest

from testbed.peripherals.scale import DemoWeight


@pytest.mark.parametrize("seed", range(20))
def test_one_person_from_one_weighing_to_the_next(seed: int) -> None:
    rng, person = random.Random(seed), DemoWeight()
    weights = [person.step(rng) for _ in range(60)]
    assert 62.0 <= weights[0] <= 90.0
    steps = [abs(b - a) for a, b in itertools.pairwise(weights)]
    # Gaussian steps of 0.4 kg: 2 kg is five sigma, never seen in these seeds.
    assert max(steps) < 2.0
    assert all(40.0 <= w <= 150.0 and round(w, 1) == w for w in weights)


def test_stays_within_a_body_even_on_a_long_walk() -> None:
    rng, person = random.Random(1), DemoWeight(kg=40.2)
    assert all(40.0 <= person.step(rng) <= 150.0 for _ in range(5000))
