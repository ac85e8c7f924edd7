"""What the dashboard and the patient view count from events (no Qt): targets of a limits-of-stability set,
progression lines, warnings."""

from __future__ import annotations

import math

import pytest

from nmre.core.model import Event
from nmre.gui.model import Counters

pytest.importorskip("PySide6")
from nmre.gui.app import _los_limit


def _target(t: float, n: int, angle: float, set_: int = 1) -> Event:
    return Event(
        t, "target.start", "targets", {"target": n, "set": set_, "angle": angle}, patient_message="Lean"
    )


def _excursion(t: float, n: int, ok: bool) -> Event:
    payload = {"target": n, "quantity": "max_excursion", "ok": ok, "value": 90.0 if ok else 40.0}
    if not ok:
        payload["error"] = "short_excursion"
    return Event(t, "rule.max_excursion", "rule.max_excursion", payload)


def test_limits_of_stability_targets_are_shown_active_then_ticked_when_reached() -> None:
    c = Counters()
    c.add(_target(5.0, 1, 0.0))  # forward
    assert c.los_active == 0 and c.message == "Lean"
    c.add(_excursion(12.0, 1, True))
    c.add(Event(13.0, "target.end", "targets", {"target": 1}))
    assert c.los_active is None and c.los_reached == {0}
    c.add(_target(13.0, 2, 45.0))  # forward-right: the second of 8, clockwise
    c.add(_excursion(20.0, 2, False))  # not far enough: not ticked
    assert c.los_active == 1 and c.los_reached == {0}
    c.add(_target(21.0, 3, 270.0))  # left
    assert c.los_active == 6
    c.add(_target(60.0, 9, 0.0, set_=2))  # a new set: every target to reach again
    assert c.los_reached == set()


def test_the_limits_of_stability_are_an_ellipse() -> None:
    los = {"forward": 8.0, "backward": 4.5, "lateral": 8.0, "target_percent": 75.0}
    # the limits of stability are an ellipse through 8 deg forward, 4.5 back, 8 to each side
    assert _los_limit(0.0, los) == pytest.approx(8.0)
    assert _los_limit(180.0, los) == pytest.approx(4.5)
    assert _los_limit(90.0, los) == pytest.approx(8.0)
    for angle in (30.0, 135.0, 250.0):  # every limit lies on that ellipse
        lim = _los_limit(angle, los)
        fwd, side = lim * math.cos(math.radians(angle)), lim * math.sin(math.radians(angle))
        assert (fwd / (8.0 if fwd >= 0 else 4.5)) ** 2 + (side / 8.0) ** 2 == pytest.approx(1.0)
