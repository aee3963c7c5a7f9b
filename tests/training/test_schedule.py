import math

import pytest

from ferkit.training.schedule import warmup_cosine


def test_warmup_is_linear():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(4, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)


def test_cosine_from_one_to_floor():
    assert warmup_cosine(10, 110, 10, min_ratio=0.1) == pytest.approx(1.0)
    # half-way through the decay: the mean of 1 and the floor
    assert warmup_cosine(60, 110, 10, min_ratio=0.1) == pytest.approx(0.55)
    assert warmup_cosine(110, 110, 10, min_ratio=0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 110, 10, min_ratio=0.1) == pytest.approx(0.1)


def test_monotone_after_warmup_and_no_warmup():
    values = [warmup_cosine(s, 50, 5) for s in range(5, 51)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert warmup_cosine(0, 50, 0) == pytest.approx(1.0)
    assert warmup_cosine(25, 50, 0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
