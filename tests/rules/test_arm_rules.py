"""The arm drills' rule behaviour on constructed signals: the direction-path template (DTW), its template
sources (first rep, calibration, none -> not judged), and SPARC of a gyroscope speed around the rep.

Oracles are computed here: the DTW with its step count by plain Python loops, SPARC by the simulator's own
implementation (nmre.sim, independent of nmre.dsp).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rulekit import angle_info, blocks, drive, in_order, rep_events

from nmre.core import kinds
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp.upper_limb import path_distance, resample_path
from nmre.errors import ConfigError
from nmre.rules import Episodes, SmoothnessRule, TemplateRule
from nmre.sim.movements.arm import spectral_arc_length

RATE = 100.0
ARM = "angle.shoulder.r"


def shoulder_info() -> StreamInfo:
    return angle_info(ARM, ("elevation", "plane"))


def diagonal(t: np.ndarray, bulge: float = 0.0, peak: float = 150.0) -> tuple[np.ndarray, np.ndarray]:
    """A D2-like path: elevation 15 -> peak and back (cosine), plane -30 -> 70 and back, plus a mid-path bulge."""
    m = 0.5 * (1 - np.cos(2 * np.pi * (t - t[0]) / (t[-1] - t[0])))
    e = 15 + (peak - 15) * m
    p = -30 + 100 * m + bulge * np.sin(np.pi * m)
    return e, p


def oracle_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """Mean great-circle angle along the optimal path (accumulated / steps), plain loops."""
    n, m = x.shape[1], y.shape[1]
    cost = [[math.acos(max(-1.0, min(1.0, float(x[:, i] @ y[:, j])))) for j in range(m)] for i in range(n)]
    inf = float("inf")
    acc = [[inf] * m for _ in range(n)]
    st = [[0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                acc[0][0], st[0][0] = cost[0][0], 1
                continue
            cands = []
            if i and j:
                cands.append((acc[i - 1][j - 1], st[i - 1][j - 1]))
            if i:
                cands.append((acc[i - 1][j], st[i - 1][j]))
            if j:
                cands.append((acc[i][j - 1], st[i][j - 1]))
            best = min(c[0] for c in cands)
            nb = next(c[1] for c in cands if c[0] == best)
            acc[i][j], st[i][j] = cost[i][j] + best, nb + 1
    return acc[-1][-1] / st[-1][-1]


def test_path_distance_matches_a_plain_dtw_and_is_zero_for_the_same_path() -> None:
    t = np.linspace(0, 4, 300)
    a = resample_path(t, *diagonal(t))
    b = resample_path(t, *diagonal(t, bulge=40.0))
    assert path_distance(a, a) == pytest.approx(0.0, abs=1e-7)
    assert path_distance(a, b) == pytest.approx(oracle_dtw(a, b), rel=1e-9)
    # a rep done slower (time-warped) is still the same path
    slow = np.linspace(0, 6, 450)
    assert path_distance(a, resample_path(slow, *diagonal(slow))) < 0.02


def template_rule(**kw):
    args = dict(
        stream=ARM,
        channel="elevation",
        plane="plane",
        quantity="template_distance",
        unit="1",
        episodes=Episodes.reps(),
        hi=0.1,
        error_above="off_pattern",
    )
    args.update(kw)
    return TemplateRule("pattern", **args)


def session(reps: list[dict]) -> tuple[list, list]:
    """Reps of 4 s with 2 s of rest between them: blocks of (elevation, plane) and rep events."""
    bl, ev = [], []
    t0 = 1.0
    for k, r in enumerate(reps, start=1):
        t = t0 + np.arange(round(4 * RATE)) / RATE
        e, p = diagonal(t, r.get("bulge", 0.0), r.get("peak", 150.0))
        bl += blocks(ARM, t, np.vstack([e, p]))
        ev += rep_events(k, float(t[0]), float(t[-1]))
        t0 = float(t[-1]) + 2.0
    return bl, ev


def outcomes(out):
    return [e for e in out if e.kind == kinds.rule("pattern")]


def test_direction_template_first_rep_then_the_bulging_rep_is_off_pattern() -> None:
    bl, ev = session([{}, {}, {"bulge": 60.0}, {"peak": 148.0}])
    out = drive(template_rule(), [shoulder_info()], in_order(bl, ev))
    rec = [e for e in out if e.kind == kinds.TEMPLATE_RECORDED]
    assert len(rec) == 1 and rec[0].payload["rep"] == 1
    res = outcomes(out)
    assert [e.payload["rep"] for e in res] == [2, 3, 4]
    # oracle: the same resampling of the constructed paths, plain DTW
    t = np.arange(round(4 * RATE)) / RATE
    tpl = resample_path(t, *diagonal(t))
    for e, bulge, peak in zip(res, (0.0, 60.0, 0.0), (150.0, 150.0, 148.0), strict=True):
        want = oracle_dtw(resample_path(t, *diagonal(t, bulge, peak)), tpl)
        assert e.payload["value"] == pytest.approx(want, abs=1e-6)
    assert [e.payload["ok"] for e in res] == [True, False, True]
    assert res[1].payload["error"] == "off_pattern"


def test_calibration_source_without_a_template_is_not_judged_with_the_reason() -> None:
    bl, ev = session([{}, {"bulge": 60.0}])
    out = drive(template_rule(template_from="calibration"), [shoulder_info()], in_order(bl, ev))
    assert not outcomes(out)
    nj = [e for e in out if e.kind == kinds.REP_UNJUDGED]
    assert [e.payload["rep"] for e in nj] == [1, 2]
    assert "no template recorded" in nj[0].payload["reason"]
    assert "template" in nj[0].therapist_message


def test_calibration_source_uses_a_recorded_template_from_the_first_rep_on() -> None:
    t = np.arange(round(4 * RATE)) / RATE
    e, p = diagonal(t)
    rule = template_rule(template_from="calibration")
    rule.use_template(np.vstack([e, p]))
    bl, ev = session([{}, {"bulge": 60.0}])
    out = drive(rule, [shoulder_info()], in_order(bl, ev))
    res = outcomes(out)
    assert [x.payload["rep"] for x in res] == [1, 2]
    assert [x.payload["ok"] for x in res] == [True, False]
    assert rule.template_channels == ("elevation", "plane")
    # a template given in Python survives reset (a replay starts again with it)
    rule.reset()
    assert rule.template is not None and rule.template.shape == (2, t.shape[0])


def test_direction_template_bad_input() -> None:
    with pytest.raises(ConfigError, match="template_from"):
        template_rule(template_from="somewhere")
    rule = template_rule()
    with pytest.raises(ConfigError, match=r"\(2, n\)"):
        rule.use_template(np.arange(10.0))  # one channel for a direction rule
    deg_and_rad = StreamInfo(
        ARM, StreamKind.ANGLE, (Channel("elevation", "deg"), Channel("plane", "rad")), RATE
    )
    with pytest.raises(ConfigError, match="'deg'"):
        template_rule().bind({ARM: deg_and_rad})


SPEED = "speed.forearm.r"


def speed_info() -> StreamInfo:
    return StreamInfo(SPEED, StreamKind.ANGLE, (Channel("speed", "deg/s"),), RATE)


def two_phase_speed(t: np.ndarray, t0: float, tremor: float = 0.0) -> np.ndarray:
    """Up (2 s) and back (2 s), each a minimum-jerk bell of 100 deg; ``tremor``: a 5 Hz modulation of that depth."""
    v = np.zeros_like(t)
    for start in (t0, t0 + 2.5):
        tau = np.clip((t - start) / 2.0, 0, 1)
        inside = (t >= start) & (t <= start + 2.0)
        v[inside] += 100.0 / 2.0 * 30 * (tau**2 - 2 * tau**3 + tau**4)[inside]
    return v * (1.0 + tremor * np.sin(2 * np.pi * 5.0 * t))


def smooth_rule(**kw):
    args = dict(
        stream=SPEED,
        channel="speed",
        input="speed",
        quantity="sparc",
        unit="1",
        episodes=Episodes.reps(),
        lo=-3.3,
        error_below="jerky",
    )
    args.update(kw)
    return SmoothnessRule("smooth", **args)


@pytest.mark.parametrize("tremor", [0.0, 0.5])
def test_sparc_of_a_speed_signal_around_the_rep(tremor: float) -> None:
    t = np.arange(round(9 * RATE)) / RATE
    v = two_phase_speed(t, 1.0, tremor)
    # the rep segmenter sees the rep 0.4 s late and ends it 0.4 s early
    start, end = 1.4, 5.1
    items = in_order(blocks(SPEED, t, v), list(rep_events(1, start, end)))
    onset = (t >= 1.0) & (t <= 5.5)
    want_move = spectral_arc_length(v[onset], RATE)
    want_cut = spectral_arc_length(v[(t >= start) & (t <= end)], RATE)
    assert abs(want_move - want_cut) > 0.1  # the cut profile reads differently: the test can tell

    out = drive(smooth_rule(extend=1.0), [speed_info()], items)
    res = [e for e in out if e.kind == kinds.rule("smooth")]
    assert len(res) == 1
    assert res[0].payload["value"] == pytest.approx(want_move, abs=0.02)
    assert res[0].time >= end + 1.0  # judged once the tail has been seen
    a, b = res[0].payload["analysed"]
    assert 0.95 <= a <= 1.05 and 5.4 <= b <= 5.55

    cut = drive(smooth_rule(), [speed_info()], items)
    got = next(e for e in cut if e.kind == kinds.rule("smooth")).payload["value"]
    seen = (t >= start) & (t < end)  # the block holding the end arrives after rep.end
    assert got == pytest.approx(spectral_arc_length(v[seen], RATE), abs=1e-6)
    if tremor:
        assert res[0].payload["ok"] is False and res[0].payload["error"] == "jerky"
    else:
        assert res[0].payload["ok"] is True


def test_smoothness_bad_settings() -> None:
    with pytest.raises(ConfigError, match="input"):
        smooth_rule(input="acceleration")
    with pytest.raises(ConfigError, match="ldlj"):
        smooth_rule(metric="ldlj")
    with pytest.raises(ConfigError, match="extend"):
        smooth_rule(extend=-1.0)


def time_rule(**kw):
    args = dict(
        stream=ARM,
        channel="elevation",
        quantity="rep_duration",
        unit="s",
        episodes=Episodes.reps(),
        lo=3.0,
        hi=12.0,
        error_below="too_fast",
        error_above="too_slow",
    )
    args.update(kw)
    from nmre.rules import MovementTimeRule

    return MovementTimeRule("tempo", **args)


def test_movement_time_runs_from_onset_to_offset_around_a_cut_rep() -> None:
    """A minimum-jerk raise (2 s), a 1 s hold and a lowering (2 s); the rep is seen between 35 and 25 deg."""
    t = np.arange(round(10 * RATE)) / RATE
    tau_up = np.clip((t - 1.0) / 2.0, 0, 1)
    tau_down = np.clip((t - 4.0) / 2.0, 0, 1)
    mj = lambda u: 10 * u**3 - 15 * u**4 + 6 * u**5  # noqa: E731
    e = 140.0 * (mj(tau_up) - mj(tau_down))
    x = np.vstack([e, np.zeros_like(e)])
    start = float(t[np.argmax(e > 35)])
    end = float(t[len(e) - 1 - np.argmax(e[::-1] > 25)])
    items = in_order(blocks(ARM, t, x), list(rep_events(1, start, end)))
    out = drive(time_rule(extend=1.5), [shoulder_info()], items)
    res = [o for o in out if o.kind == kinds.rule("tempo")]
    assert len(res) == 1
    # oracle: the span where the (5-sample smoothed) speed is at least 5 % of its peak, around the rep
    v = np.convolve(np.abs(np.diff(e)) * RATE, np.ones(5) / 5, mode="same")
    tt = t[1:]
    above = tt[v >= 0.05 * v.max()]
    assert res[0].payload["value"] == pytest.approx(above[-1] - above[0], abs=0.02)
    assert res[0].payload["value"] == pytest.approx(5.0, abs=0.25)  # the true movement: 1.0 to 6.0 s
    assert end - start < 4.2  # the rep itself is much shorter: the test can tell
    assert res[0].payload["ok"] is True and res[0].time >= end + 1.5


def test_movement_time_finds_onset_and_offset_through_the_orientation_filter_s_noise() -> None:
    """The same raise with 0.1 deg of white noise (what a 6-axis filter's elevation carries at rest): the
    position is low-passed before its speed is taken, so the onset and offset are the movement's, 5 - 4 x
    0.0594 s apart (5 % of a minimum-jerk phase's peak speed is reached 0.0594 of the phase in). Averaging
    the raw samples' |dx| instead leaves a floor of about 9 deg/s at rest, above 5 % of the peak (6.6
    deg/s), and the movement ran on into the rest."""
    rng = np.random.default_rng(3)
    t = np.arange(round(10 * RATE)) / RATE
    mj = lambda u: 10 * u**3 - 15 * u**4 + 6 * u**5  # noqa: E731
    e = 15.0 + 140.0 * (mj(np.clip((t - 2.0) / 2.0, 0, 1)) - mj(np.clip((t - 5.0) / 2.0, 0, 1)))
    noisy = e + rng.normal(0.0, 0.1, e.shape)
    x = np.vstack([noisy, np.zeros_like(e)])
    start = float(t[np.argmax(e > 35)])
    end = float(t[len(e) - 1 - np.argmax(e[::-1] > 25)])
    items = in_order(blocks(ARM, t, x), list(rep_events(1, start, end)))
    out = drive(time_rule(extend=1.5), [shoulder_info()], items)
    (res,) = [o for o in out if o.kind == kinds.rule("tempo")]
    assert res.payload["value"] == pytest.approx(5.0 - 4 * 0.05943, abs=0.03)
    assert res.payload["onset"] == pytest.approx(2.0 + 2 * 0.05943, abs=0.03)
    floor = np.convolve(np.abs(np.diff(noisy)) * RATE, np.ones(5) / 5, mode="same")[: round(1.5 * RATE)]
    assert floor.mean() > 0.05 * 1.875 * 140.0 / 2.0  # the old estimate could not have found the onset


def test_movement_time_bad_settings() -> None:
    with pytest.raises(ConfigError, match="onset"):
        time_rule(onset=1.5)
    with pytest.raises(ConfigError, match="cutoff"):
        time_rule(cutoff=0.0)
    with pytest.raises(ConfigError, match="half the signal's rate"):
        time_rule(cutoff=60.0).bind({ARM: shoulder_info()})
    r = time_rule()
    with pytest.raises(ConfigError, match="'s'"):
        time_rule(unit="deg").bind({ARM: shoulder_info()})
    assert r.extend == 1.0


def test_movement_time_at_the_sessions_end_is_judged_when_the_offset_was_seen_and_not_judged_otherwise() -> (
    None
):
    """The session stops during the ``extend`` s the rule waits after the rep: the rule's finish() judges
    it if the arm had stopped by then, and says why not if it was still moving."""
    t = np.arange(round(10 * RATE)) / RATE
    mj = lambda u: 10 * u**3 - 15 * u**4 + 6 * u**5  # noqa: E731
    e = 140.0 * (mj(np.clip((t - 1.0) / 2.0, 0, 1)) - mj(np.clip((t - 4.0) / 2.0, 0, 1)))
    x = np.vstack([e, np.zeros_like(e)])
    start = float(t[np.argmax(e > 35)])
    end = float(t[len(e) - 1 - np.argmax(e[::-1] > 25)])
    v = np.convolve(np.abs(np.diff(e)) * RATE, np.ones(5) / 5, mode="same")
    above = t[1:][v >= 0.05 * v.max()]
    for stop, judged in ((above[-1] + 0.3, True), (end + 0.1, False)):
        keep = t <= stop
        items = in_order(blocks(ARM, t[keep], x[:, keep]), list(rep_events(1, start, end)))
        rule = time_rule(extend=1.5)
        out = drive(rule, [shoulder_info()], items)
        assert out == []  # still waiting for the 1.5 s after the rep
        rule.finish(float(t[keep][-1]))
        (res,) = rule.pop_events()
        if judged:
            assert res.kind == kinds.rule("tempo")
            assert res.payload["value"] == pytest.approx(above[-1] - above[0], abs=0.02)
        else:
            assert res.kind == kinds.REP_UNJUDGED and "session ended" in res.payload["reason"]
    rule.finish(10.0)  # nothing left: nothing more
    assert rule.pop_events() == []


def told_late(blocks_: list[Block], start: Event, end: Event, when: float) -> list[Block | Event]:
    """``blocks_`` with ``start`` delivered after the block holding ``when`` (as a rep segmenter says a rep
    began once its signal reaches the start threshold, after the start it stamps) and ``end`` in time."""
    items = in_order(blocks_, [end])
    at = next(i for i, b in enumerate(items) if isinstance(b, Block) and float(b.times[-1]) >= when)
    return [*items[: at + 1], start, *items[at + 1 :]]


def test_unit_rules_keep_the_samples_between_a_reps_start_and_its_late_start_event() -> None:
    """The rep.start event arrives 0.5 s after the start it stamps: the samples in between are the rep's.
    A hold from 0.1 s to the end is timed from 0.1 s (2.9 s, not the 2.5 s after the event); the movement
    time and SPARC are those of the whole movement, as when the event comes on time."""
    from nmre.rules import HoldTimeRule, MovementTimeRule

    t = np.arange(round(4 * RATE)) / RATE
    x = np.where(t >= 0.1, 50.0, 0.0)
    hold = HoldTimeRule(
        "hold", stream=ARM, channel="elevation", signal_unit="deg", quantity="hold_time", unit="s",
        episodes=Episodes.reps(), lo=1.0, mode="above", on=20.0, off=10.0,
    )  # fmt: skip
    s, e = rep_events(1, 0.0, 2.99)
    out = drive(hold, [shoulder_info()], told_late(blocks(ARM, t, np.vstack([x, x])), s, e, 0.5))
    assert out[0].payload["value"] == pytest.approx(2.9, abs=1e-9)

    t = np.arange(round(10 * RATE)) / RATE
    mj = lambda u: 10 * u**3 - 15 * u**4 + 6 * u**5  # noqa: E731
    el = 15.0 + 140.0 * (mj(np.clip((t - 2.0) / 2.0, 0, 1)) - mj(np.clip((t - 5.0) / 2.0, 0, 1)))
    x2 = np.vstack([el, np.zeros_like(el)])
    start = float(t[np.argmax(el > 16.0)])  # the last sample in the rest band, as the segmenter stamps it
    when = float(t[np.argmax(el > 37.0)])  # the start threshold: the event comes here, ~0.5 s later
    end = float(t[len(el) - 1 - np.argmax(el[::-1] > 34.0)])
    assert when - start > 0.3
    got = []
    for late in (False, True):
        s, e = rep_events(1, start, end)
        items = told_late(blocks(ARM, t, x2), s, e, when) if late else in_order(blocks(ARM, t, x2), [s, e])
        rule = MovementTimeRule(
            "tempo", stream=ARM, channel="elevation", quantity="movement_time", unit="s",
            episodes=Episodes.reps(), lo=3.0, hi=12.0, extend=1.5,
        )  # fmt: skip
        (res,) = [o for o in drive(rule, [shoulder_info()], items) if o.kind == kinds.rule("tempo")]
        got.append(res.payload["value"])
    assert got[1] == pytest.approx(got[0], abs=1e-9)
    assert got[1] == pytest.approx(5.0 - 4 * 0.05943, abs=0.03)

    tv = np.arange(round(9 * RATE)) / RATE
    v = two_phase_speed(tv, 1.0)
    s, e = rep_events(1, 1.0, 5.1)
    on_time = drive(smooth_rule(extend=1.0), [speed_info()], in_order(blocks(SPEED, tv, v), [s, e]))
    late = drive(smooth_rule(extend=1.0), [speed_info()], told_late(blocks(SPEED, tv, v), s, e, 1.6))
    want = spectral_arc_length(v[(tv >= 1.0) & (tv <= 5.5)], RATE)
    assert late[0].payload["value"] == pytest.approx(on_time[0].payload["value"], abs=1e-9)
    assert late[0].payload["value"] == pytest.approx(want, abs=0.02)


def test_sparc_bridges_lost_packets_and_refuses_a_long_gap() -> None:
    """SPARC takes the speed as evenly sampled: 10 % of 2-sample packets lost, bridged, leave it within
    0.02 of the whole rep (closed up, the profile shortens and steps: off by about 0.1); a 0.15 s hole in
    the movement is more than SPARC_MAX_GAP, and the rep is not judged, with the reason."""
    from nmre.rules.movement import SPARC_MAX_GAP

    t = np.arange(round(9 * RATE)) / RATE
    v = two_phase_speed(t, 1.0)
    s, e = rep_events(1, 1.0, 5.1)
    whole = drive(smooth_rule(extend=1.0), [speed_info()], in_order(blocks(SPEED, t, v), [s, e]))
    want = whole[0].payload["value"]
    rng = np.random.default_rng(5)
    keep = np.repeat(rng.random(t.size // 2) >= 0.10, 2)
    keep[:50] = keep[-50:] = True
    assert np.diff(t[keep]).max() <= SPARC_MAX_GAP
    lossy = drive(smooth_rule(extend=1.0), [speed_info()], in_order(blocks(SPEED, t[keep], v[keep]), [s, e]))
    closed_up = spectral_arc_length(v[keep & (t >= 1.0) & (t <= 5.5)], RATE)
    assert abs(closed_up - want) > 0.04  # closing the gaps up would be off: the test can tell
    assert lossy[0].payload["value"] == pytest.approx(want, abs=0.01)

    hole = ~((t >= 2.0) & (t < 2.15))
    out = drive(smooth_rule(extend=1.0), [speed_info()], in_order(blocks(SPEED, t[hole], v[hole]), [s, e]))
    assert out[0].kind == kinds.REP_UNJUDGED and "no samples for 0.15 s" in out[0].payload["reason"]


def test_sparc_on_the_step_of_its_amplitude_threshold_is_not_judged() -> None:
    """A tremor whose spectral peak sits at SPARC's 5 % threshold puts the value on a step of about 0.6
    (the same rep reads smooth or jerky by a hair): not judged, with the reason; a clear tremor and a
    smooth rep are judged."""
    from nmre.dsp.movement import sparc

    t = np.arange(round(9 * RATE)) / RATE
    w = (t >= 1.0) & (t <= 5.5)

    def step(depth: float) -> float:
        u = two_phase_speed(t, 1.0, depth)[w]
        return sparc(u, RATE, amp_th=0.045) - sparc(u, RATE, amp_th=0.055)

    depths = np.linspace(0.0, 0.5, 101)
    on_step = [d for d in depths if abs(step(d)) > 0.2]
    assert on_step, "some tremor depth puts SPARC on its threshold's step"
    s, e = rep_events(1, 1.0, 5.1)
    for depth, judged in ((on_step[0], False), (0.0, True), (0.5, abs(step(0.5)) <= 0.2)):
        out = drive(
            smooth_rule(extend=1.0),
            [speed_info()],
            in_order(blocks(SPEED, t, two_phase_speed(t, 1.0, depth)), [s, e]),
        )
        assert (out[0].kind == kinds.rule("smooth")) is judged, depth
        if not judged:
            assert "step of its amplitude threshold" in out[0].payload["reason"]
