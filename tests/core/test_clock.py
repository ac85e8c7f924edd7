import threading

import pytest

from nmre import RealClock, VirtualClock
from nmre.errors import InputError


def test_virtual_clock_only_moves_forward():
    c = VirtualClock()
    assert c.now() == 0.0
    assert c.sleep_until(2.5) == 2.5
    assert c.advance_to(1.0) == 2.5  # never backwards
    assert c.advance(0.5) == 3.0
    with pytest.raises(InputError):
        c.advance(-1.0)
    with pytest.raises(InputError):
        c.advance_to(float("nan"))


def test_virtual_clock_sleep_until_jumps_without_waiting():
    c = VirtualClock()
    wake = threading.Event()
    assert c.sleep_until(3600.0, wake) == 3600.0  # returns at once, whatever the event says
    assert not wake.is_set()


def test_real_clock_is_monotonic_and_wakes_early_on_event():
    c = RealClock()
    a = c.now()
    wake = threading.Event()
    wake.set()
    b = c.sleep_until(a + 30.0, wake)  # already woken: returns at once
    assert a <= b < a + 30.0
    assert not wake.is_set()  # consumed
