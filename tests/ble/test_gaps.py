"""GapReporter: one event per outage, scattered loss summarised about once a second, exact counts."""

from __future__ import annotations

import numpy as np
import pytest

from nmre.acquisition.gaps import GapReporter
from nmre.errors import ConfigError


def feed(rep: GapReporter, packets: list[tuple[float, int, int]]) -> list:
    out = []
    for t, n, missing in packets:
        out += rep.packet(t, n, missing)
    return out


def test_scattered_loss_is_summarised_once_a_second_with_counts_and_the_running_fraction() -> None:
    rng = np.random.default_rng(4)
    rate, per = 200.0, 10
    packets, lost_at = [], []
    for k in range(400):  # 20 s
        if rng.random() < 0.1:
            lost_at.append(k)
            continue
        missing = per * (k - (packets[-1][3] + 1)) if packets else per * k
        packets.append(((k + 1) * per / rate, per, missing, k))
    rep = GapReporter("imu", rate)
    events = feed(rep, [(t, n, m) for t, n, m, _ in packets])
    assert [e.kind for e in events] == ["stream.loss"] * len(events)
    assert 10 <= len(events) <= 20 < len(lost_at)  # about one a second, not one per lost packet
    lost = per * len(lost_at)
    assert rep.lost == lost and rep.received == per * len(packets)
    assert rep.losses == sum(1 for _, _, m, _ in packets if m)
    tail = rep.flush(20.0)
    assert sum(e.payload["lost"] for e in events + tail) == lost  # every lost sample said once
    fr = events[-1].payload["fraction"]
    assert fr == events[-1].payload["total_lost"] / (
        events[-1].payload["total_lost"] + sum(n for t, n, _, _ in packets if t <= events[-1].time)
    )
    assert rep.counts()["outages"] == 0


def test_an_outage_is_one_gap_event_with_its_exact_count_and_not_part_of_a_summary() -> None:
    rep = GapReporter("emg", 2000.0)
    events = feed(rep, [(0.01, 20, 0), (0.02, 20, 0), (2.02, 20, 3980), (2.03, 20, 0)])
    assert [(e.kind, e.payload["missing"]) for e in events] == [("stream.gap", 3980)]
    assert events[0].payload["seconds"] == pytest.approx(1.99)
    assert rep.outages == 1 and rep.flush(3.0) == []


def test_a_quiet_second_says_nothing_and_bad_settings_are_config_errors() -> None:
    rep = GapReporter("x", 100.0)
    assert feed(rep, [(t / 10, 10, 0) for t in range(1, 40)]) == []
    with pytest.raises(ConfigError):
        GapReporter("x", 100.0, outage=0.0)
