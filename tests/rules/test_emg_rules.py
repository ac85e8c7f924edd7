"""EMG rules on constructed envelopes and onset events: onset order, ratio, combined, co-contraction,
contraction and relaxation. Oracle values are computed here, independently of the rules."""

from __future__ import annotations

import numpy as np
import pytest
from rulekit import angle_info, blocks, drive, envelope_info, in_order, rep_events

from nmre.core import kinds
from nmre.core.model import Event
from nmre.errors import ConfigError
from nmre.rules import (
    CoContractionRule,
    CombinedRule,
    ContractionRule,
    Episodes,
    Messages,
    OnsetOrderRule,
    RatioRule,
    RelaxationRule,
)

FS = 1000.0
ENV = "emg.r.envelope"


def onset(t, muscle, source="onsets.emg.r.clean"):
    return Event(t, kinds.EMG_ONSET, source, {"muscle": muscle, "channel": 0})


def order_rule(hi=31.25, lo=None):
    return OnsetOrderRule(
        "vmo_timing",
        early="vl",
        late="vmo",
        onsets_from="onsets.emg.r.clean",
        quantity="vmo_vl_onset_lag",
        unit="ms",
        episodes=Episodes.reps(),
        lo=lo,
        hi=hi,
        error_above="late_vmo_onset",
        messages=Messages(good="Good timing", above="Inner thigh first"),
    )


def test_onset_order_lag_is_late_minus_early_and_the_limit_is_inclusive():
    events = [
        onset(0.5, "vl"), onset(0.53125, "vmo"), *rep_events(1, 1.0, 3.0, 2.0),  # +31.25 ms: at the limit
        onset(4.0, "vl"), onset(4.03127, "vmo"), *rep_events(2, 4.1, 6.0, 5.0),  # +31.27 ms: over it
        onset(7.00, "vmo"), onset(7.02, "vl"), *rep_events(3, 7.1, 9.0, 8.0),  # VMO first: -20 ms
    ]  # fmt: skip
    out = drive(order_rule(), [], events)
    assert [o.payload["value"] for o in out] == pytest.approx([31.25, 31.27, -20.0], abs=1e-6)
    assert out[0].payload["value"] == 31.25  # exactly at the limit (binary-exact times)
    assert [o.payload["ok"] for o in out] == [True, False, True]
    assert out[1].payload["error"] == "late_vmo_onset" and out[1].patient_message == "Inner thigh first"


def test_onset_order_takes_the_last_onset_before_the_peak_within_the_lookback():
    events = [
        onset(0.20, "vl"),  # more than 1 s before the start: too old
        onset(0.50, "vmo"),
        onset(0.90, "vmo"), onset(1.00, "vl"),  # inside the lookback, but earlier ones (their lag: -100 ms)
        onset(2.05, "vl"), onset(2.06, "vmo"),  # the last before the peak (2.5)
        onset(2.60, "vl"),  # after the peak: not this rep's
        *rep_events(1, 1.6, 4.0, 2.5),
    ]  # fmt: skip
    out = drive(order_rule(), [], events)
    assert out[0].payload["value"] == pytest.approx(10.0, abs=1e-6)


def test_a_missing_onset_is_not_judged_with_the_muscle_named():
    out = drive(order_rule(), [], [onset(0.9, "vl"), *rep_events(1, 1.0, 3.0, 2.0)])
    assert out[0].kind == kinds.REP_UNJUDGED and out[0].payload["reason"] == "no VMO onset found"
    assert out[0].patient_message == "Keep going"


def ramp_envelopes(n=4000):
    t = np.arange(n) / FS
    vmo = 0.2 + 0.1 * np.sin(2 * np.pi * 0.5 * t) ** 2
    vl = 0.25 + 0.05 * np.cos(2 * np.pi * 0.3 * t) ** 2
    return t, np.vstack([vmo, vl])


def test_ratio_is_the_ratio_of_means_over_the_rep():
    t, x = ramp_envelopes()
    rule = RatioRule(
        "vmo_vl",
        stream=ENV,
        numerator="vmo",
        denominator="vl",
        quantity="vmo_vl_ratio",
        unit="1",
        episodes=Episodes.reps(),
        lo=0.9,
        error_below="low_vmo_ratio",
    )
    evs = [*rep_events(1, 1.0, 2.999), *rep_events(2, 3.0, 3.999)]
    out = drive(rule, [envelope_info()], in_order(blocks(ENV, t, x, [10] * 400), evs))
    sel = [(t >= 1.0) & (t < 3.0), (t >= 3.0) & (t < 4.0)]
    oracle = [x[0][s].sum() / x[1][s].sum() for s in sel]
    assert [o.payload["value"] for o in out] == pytest.approx(oracle, abs=1e-4)
    assert [o.payload["ok"] for o in out] == [v >= 0.9 for v in oracle]


def test_ratio_edge_is_inclusive_and_the_muscles_are_found_by_placement():
    t = np.arange(2000) / FS
    x = np.vstack(
        [np.full(t.size, 0.375), np.full(t.size, 0.25), np.full(t.size, 0.375)]
    )  # bf, vl, vmo (exact)
    info = envelope_info(muscles=("bf", "vl", "vmo"))
    rule = RatioRule(
        "r",
        stream=ENV,
        numerator="vmo",
        denominator="vl",
        quantity="vmo_vl_ratio",
        unit="1",
        episodes=Episodes.reps(),
        lo=1.5,
    )
    out = drive(rule, [info], in_order(blocks(ENV, t, x), rep_events(1, 0.5, 1.5)))
    assert out[0].payload["value"] == 1.5 and out[0].payload["ok"] is True  # exactly at the edge
    with pytest.raises(
        ConfigError, match=r"expected a 'gmed' channel in 'emg\.r\.envelope', got bf, vl, vmo"
    ):
        RatioRule(
            "r",
            stream=ENV,
            numerator="gmed",
            denominator="vl",
            quantity="vmo_vl_ratio",
            unit="1",
            episodes=Episodes.reps(),
            lo=1.0,
        ).bind({ENV: info})


def test_combined_counts_the_ratio_only_while_the_knee_is_flexed_beyond_the_angle():
    t, x = ramp_envelopes()
    ta = np.arange(400) / 100.0
    knee = 60 * np.sin(np.pi * ta / 4.0)  # above 45 deg between about 1.08 and 2.92 s
    rule = CombinedRule(
        "vmo_vl_flexed", stream=ENV, numerator="vmo", denominator="vl", when=("angle.knee.r", "flexion"),
        threshold=45.0, when_unit="deg", quantity="vmo_vl_ratio", unit="1", episodes=Episodes.reps(), lo=0.85,
    )  # fmt: skip
    env_blocks = blocks(ENV, t, x, [10] * 400)  # 10 ms each
    knee_blocks = blocks("angle.knee.r", ta, knee, [1] * 400)  # one sample (10 ms) each
    items = in_order(knee_blocks + env_blocks, rep_events(1, 0.0, 3.999))
    out = drive(rule, [envelope_info(), angle_info()], items)
    # oracle: an envelope sample counts when the latest knee sample at or before it is above 45 deg
    k = np.searchsorted(ta, t, side="right") - 1
    on = (k >= 0) & (knee[np.maximum(k, 0)] > 45.0) & (t <= 3.999)
    assert out[0].payload["value"] == pytest.approx(x[0][on].sum() / x[1][on].sum(), rel=1e-12)
    assert out[0].payload["samples"] == int(on.sum())
    # the same samples whatever the blocks: the envelope in 0.25 s blocks, the knee in 0.5 s ones
    rule.reset()
    again = drive(
        rule,
        [envelope_info(), angle_info()],
        in_order(
            blocks("angle.knee.r", ta, knee, [50] * 8) + blocks(ENV, t, x, [250] * 16),
            rep_events(1, 0.0, 3.999),
        ),
    )
    assert again[0].payload == out[0].payload
    # a rep in which the knee never passes 45 deg is not judged
    flat = blocks("angle.knee.r", ta, np.full(ta.size, 10.0), [1] * 400)
    rule.reset()
    out = drive(rule, [envelope_info(), angle_info()], in_order(flat + env_blocks, rep_events(1, 0.0, 3.999)))
    assert (
        out[0].kind == kinds.REP_UNJUDGED
        and out[0].payload["reason"] == "flexion never above 45 deg during the rep"
    )
    with pytest.raises(ConfigError, match="when_unit: expected 'deg'"):
        CombinedRule(
            "c",
            stream=ENV,
            numerator="vmo",
            denominator="vl",
            when=("angle.knee.r", "flexion"),
            threshold=45.0,
            when_unit="rad",
            quantity="vmo_vl_ratio",
            unit="1",
            episodes=Episodes.reps(),
            lo=1.0,
        ).bind({ENV: envelope_info(), "angle.knee.r": angle_info()})


@pytest.mark.parametrize("index", ["falconer_winter", "rudolph"])
def test_cocontraction_index_matches_its_formula(index):
    rng = np.random.default_rng(5)
    t = np.arange(3000) / FS
    a = np.abs(rng.normal(20, 8, t.size))
    b = np.abs(rng.normal(12, 5, t.size))
    info = envelope_info(muscles=("vl", "bf"), unit="%")
    rule = CoContractionRule(
        "cci",
        stream=ENV,
        agonist="vl",
        antagonist="bf",
        index=index,
        quantity="cocontraction",
        unit="%",
        episodes=Episodes.reps(),
        hi=60.0,
    )
    out = drive(
        rule, [info], in_order(blocks(ENV, t, np.vstack([a, b]), [7] * 500), rep_events(1, 0.0, 2.999))
    )
    lo_, hi_ = np.minimum(a, b), np.maximum(a, b)
    oracle = (
        200 * lo_.sum() / (a + b).sum() if index == "falconer_winter" else np.mean(lo_ / hi_ * (lo_ + hi_))
    )
    assert out[0].payload["value"] == pytest.approx(oracle, rel=1e-9)


def work_rest(levels, work=4.0, rest=4.0, base=1.0):
    """An envelope (% reference) held at each level for ``work`` s, then ``rest`` s at ``base``."""
    t, x, spans, t0 = [], [], [], 0.0
    for lv in levels:
        tw = np.arange(round(work * FS)) / FS
        t += [tw + t0]
        x += [np.full(tw.size, float(lv))]
        spans.append((t0, t0 + work, t0 + work, t0 + work + rest))
        t0 += work
        tr = np.arange(round(rest * FS)) / FS
        t += [tr + t0]
        x += [np.full(tr.size, base)]
        t0 += rest
    return np.concatenate(t), np.concatenate(x), spans


def hold_events(spans):
    evs = []
    for k, (ws, we, rs, re_) in enumerate(spans, 1):
        evs += [
            Event(ws, kinds.HOLD_START, "cycles", {"hold": k}),
            Event(we, kinds.HOLD_END, "cycles", {"hold": k, "start": ws, "end": we}),
        ]
        evs += [
            Event(rs, kinds.REST_START, "cycles", {"rest": k}),
            Event(re_, kinds.REST_END, "cycles", {"rest": k, "start": rs, "end": re_}),
        ]
    return evs


def contraction_rule(**kw):
    args = dict(
        stream=ENV,
        muscle="vmo",
        on=20.0,
        off=10.0,
        min_on=0.25,
        min_off=0.25,
        quantity="contraction_level",
        unit="%",
        episodes=Episodes.holds(),
        lo=40.0,
        error_below="weak_contraction",
    )
    args.update(kw)
    return ContractionRule("level", **args)


def test_contraction_level_is_the_mean_over_the_held_run_and_a_weak_one_is_still_measured():
    t, x, spans = work_rest([50.0, 30.0, 15.0])
    x = x.copy()
    x[(t >= 1.0) & (t < 1.1)] = 5.0  # a 0.1 s dip inside the first hold: shorter than min_off, no split
    info = envelope_info(muscles=("vmo",), unit="%")
    out = drive(
        contraction_rule(), [info], in_order(blocks(ENV, t, x[None, :], [20] * 2000), hold_events(spans))
    )
    levels = [o.payload["value"] for o in out]
    first = x[(t >= 0.0) & (t < 4.0)]
    assert levels[0] == pytest.approx(
        first.mean(), abs=1e-6
    )  # the whole work period is one run, dip included
    assert out[0].payload["held"] == pytest.approx(4.0, abs=0.002)
    assert levels[1] == pytest.approx(30.0) and out[1].payload["ok"] is False
    assert (
        levels[2] == pytest.approx(15.0) and out[2].payload["held"] == 0.0
    )  # never above 20 %: best 1 s mean
    assert [o.payload["error"] for o in out] == [None, "weak_contraction", "weak_contraction"]
    assert [o.payload["hold"] for o in out] == [1, 2, 3]


def test_contraction_level_is_the_level_held_not_the_rise_and_release():
    # 0.5 s linear rise to 50 %, held 4 s, 0.5 s release, at rest 1 % between: the level held is 50 %;
    # the mean over the whole run above the thresholds would read about 46 %
    t = np.arange(round(16.0 * FS)) / FS
    x = np.full(t.shape, 1.0)
    spans = []
    for k, t0 in enumerate((1.0, 9.0)):
        top = 50.0 if k == 0 else 30.0
        x += np.interp(t, [t0, t0 + 0.5, t0 + 4.5, t0 + 5.0], [0.0, top - 1.0, top - 1.0, 0.0], 0.0, 0.0)
        spans.append((t0 - 0.5, t0 + 5.5, t0 + 5.5, t0 + 7.5))
    info = envelope_info(muscles=("vmo",), unit="%")
    out = drive(
        contraction_rule(on=10.0, off=5.0),  # both holds' half maxima lie inside their runs
        [info],
        in_order(blocks(ENV, t, x[None, :], [20] * 800), hold_events(spans)),
    )
    levels = [o.payload["value"] for o in out]
    # oracle: the mean from where the envelope reaches half its maximum to where it falls below it
    oracle = []
    for t0 in (1.0, 9.0):
        seg = (t >= t0) & (t < t0 + 5.0)
        half = 0.5 * x[seg].max()
        idx = np.flatnonzero(seg & (x >= half))
        oracle.append(x[idx[0] : idx[-1] + 1].mean())
    assert levels == pytest.approx(oracle, abs=0.15)
    assert levels[0] > 48.0 and levels[1] > 29.0  # the upper halves of the ramps are all that is left
    run_mean = x[(t >= 1.0 + 0.19 * 0.5) & (t < 6.0 - 0.19 * 0.5)].mean()  # between the 10 % crossings
    assert run_mean < 47.0


def test_a_hold_begins_with_its_own_start_when_its_event_comes_late():
    """The contractions segmenter confirms a rise 0.25 s into it and stamps the hold's start where it began:
    the samples between the two are the hold's first part (here its strongest: 80 % for 0.3 s, then 40 %
    to the end of a 4 s hold), and the level is the level of the whole hold."""
    t = np.arange(round(10.0 * FS)) / FS
    x = np.full(t.shape, 1.0)
    x[(t >= 1.0) & (t < 1.3)] = 80.0
    x[(t >= 1.3) & (t < 5.0)] = 40.0
    info = envelope_info(muscles=("vmo",), unit="%")
    evs = [  # as ContractionNode emits them: each event 0.25 s after the crossing it stamps
        Event(1.25, kinds.HOLD_START, "cycles", {"hold": 1, "start": 1.0}),
        Event(5.25, kinds.HOLD_END, "cycles", {"hold": 1, "start": 1.0, "end": 5.0}),
    ]
    out = drive(contraction_rule(), [info], in_order(blocks(ENV, t, x[None, :], [20] * 500), evs))
    # the held part: where the 0.25 s centred moving mean is at or above half of its 80 % maximum, from the
    # hold's first sample to 4.875 s (0.125 s before the fall, where the window begins to take in the rest)
    oracle = x[(t >= 1.0) & (t <= 4.875 + 1e-9)].mean()
    assert oracle == pytest.approx((0.3 * 80.0 + 3.576 * 40.0) / 3.876)  # 43.10 (40.65 from 1.25 s on)
    assert out[0].payload["value"] == pytest.approx(oracle, abs=1e-6)


def test_contraction_thresholds_need_hysteresis():
    with pytest.raises(ConfigError, match=r"off <= on \(hysteresis\)"):
        contraction_rule(on=10.0, off=20.0)


def test_relaxation_is_the_mean_of_the_rest_after_the_settle_time():
    t, x, spans = work_rest([50.0, 50.0], base=3.0)
    x = x.copy()
    rest2 = (t >= 12.0) & (t < 16.0)
    x[rest2] = 12.0  # the muscle does not let go in the second rest
    x[(t >= 4.0) & (t < 4.5)] = 40.0  # letting go over the first 0.5 s: inside the settle time
    info = envelope_info(muscles=("vmo",), unit="%")
    rule = RelaxationRule(
        "relax",
        stream=ENV,
        muscle="vmo",
        settle=1.0,
        quantity="relax_level",
        unit="%",
        episodes=Episodes.rests(),
        hi=5.0,
        error_above="incomplete_relaxation",
    )
    out = drive(rule, [info], in_order(blocks(ENV, t, x[None, :], [25] * 1000), hold_events(spans)))
    oracle = [x[(t >= s + 1.0) & (t < e)].mean() for _, _, s, e in spans]
    assert [o.payload["value"] for o in out] == pytest.approx(oracle, abs=1e-6)
    assert [o.payload["ok"] for o in out] == [True, False]
    assert [o.payload["rest"] for o in out] == [1, 2]


def test_relaxation_ends_at_the_rests_end_not_at_the_event_that_confirms_it():
    # the contractions segmenter confirms the next rise 0.25 s into it: those samples are not the rest
    t, x, spans = work_rest([50.0, 50.0], base=2.0)
    info = envelope_info(muscles=("vmo",), unit="%")
    rule = RelaxationRule(
        "relax", stream=ENV, muscle="vmo", settle=1.0, quantity="relax_level", unit="%",
        episodes=Episodes.rests(), hi=5.0,
    )  # fmt: skip
    _, _, rs, re_ = spans[0]
    evs = [
        Event(rs, kinds.REST_START, "cycles", {"rest": 1}),
        Event(re_ + 0.25, kinds.REST_END, "cycles", {"rest": 1, "start": rs, "end": re_}),
    ]
    out = drive(rule, [info], in_order(blocks(ENV, t, x[None, :], [25] * 640), evs))
    assert [o.payload["value"] for o in out] == pytest.approx([2.0], abs=1e-9)


def test_combined_needs_the_condition_for_min_time_before_it_judges_the_ratio():
    t, x = ramp_envelopes()
    ta = np.arange(400) / 100.0
    knee = 60 * np.sin(np.pi * ta / 4.0)  # above 45 deg for about 1.84 s of the rep
    env_blocks = blocks(ENV, t, x, [10] * 400)
    knee_blocks = blocks("angle.knee.r", ta, knee, [1] * 400)
    held = sum(
        b.n_samples for b in env_blocks if knee[int(np.searchsorted(ta, b.times[-1], side="right")) - 1] > 45
    )
    held_s = held / envelope_info().rate  # the oracle: samples counted over the envelope's rate

    def run(min_time):
        rule = CombinedRule(
            "c", stream=ENV, numerator="vmo", denominator="vl", when=("angle.knee.r", "flexion"), threshold=45.0,
            when_unit="deg", quantity="vmo_vl_ratio", unit="1", episodes=Episodes.reps(), lo=0.85, min_time=min_time,
        )  # fmt: skip
        items = in_order(knee_blocks + env_blocks, rep_events(1, 0.0, 3.999))
        return drive(rule, [envelope_info(), angle_info()], items)[0]

    assert run(held_s - 0.01).kind.startswith("rule.")  # held long enough: judged
    short = run(held_s + 0.01)
    assert short.kind == kinds.REP_UNJUDGED
    assert short.payload["reason"] == (
        f"flexion above 45 deg for only {held_s:.2f} s (at least {held_s + 0.01:g} s is needed to judge the ratio)"
    )
    with pytest.raises(ConfigError, match="min_time: expected a number of seconds >= 0"):
        CombinedRule(
            "c", stream=ENV, numerator="vmo", denominator="vl", when=("angle.knee.r", "flexion"), threshold=45.0,
            when_unit="deg", quantity="vmo_vl_ratio", unit="1", episodes=Episodes.reps(), lo=0.85, min_time=-1.0,
        )  # fmt: skip
