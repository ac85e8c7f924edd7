"""hold_time, smoothness, template, sway and balance_loss on constructed signals; quality gating in the base class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rulekit import angle_info, blocks, drive, in_order, rep_events

from nmre.core import kinds
from nmre.core.model import IMU_CHANNELS, Block, Event, Placement, Side, StreamInfo, StreamKind
from nmre.errors import ConfigError
from nmre.quality import QualityGate, QualityMonitor
from nmre.rules import (
    BalanceLossRule,
    BandRule,
    Episodes,
    HoldTimeRule,
    SmoothnessRule,
    SwayRule,
    TemplateRule,
)

RATE = 100.0
KNEE = "angle.knee.r"


def longest_run(t, mask):
    """Oracle: the longest run of True samples, in seconds (samples x 1/rate), by plain counting."""
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best / RATE


def extension_rep(top, hold, t0=0.0):
    """Seated knee extension: 90 deg -> ``top`` in 1 s, held (with +-1 deg tremor) ``hold`` s, back in 1 s."""
    n_move, n_hold = round(RATE), round(hold * RATE)
    down = 90 - (90 - top) * np.sin(np.linspace(0, np.pi / 2, n_move, endpoint=False))
    held = top + np.sin(np.arange(n_hold) * 0.7)
    up = top + (90 - top) * np.sin(np.linspace(0, np.pi / 2, n_move))
    x = np.concatenate([down, held, up])
    return t0 + np.arange(x.size) / RATE, x


def hold_rule(**kw):
    args = dict(
        stream=KNEE,
        channel="flexion",
        signal_unit="deg",
        quantity="hold_time",
        unit="s",
        episodes=Episodes.reps(),
        lo=3.0,
        error_below="short_hold",
        min_on=0.2,
        min_off=0.2,
    )
    args.update(kw)
    return HoldTimeRule("hold", **args)


def test_hold_near_the_reps_own_extreme_is_timed_whatever_range_was_reached():
    items, oracle = [], []
    for k, (top, hold) in enumerate([(5.0, 4.0), (30.0, 4.0), (5.0, 1.5)], 1):
        t, x = extension_rep(top, hold, t0=(k - 1) * 10.0)
        items += in_order(blocks(KNEE, t, x, [7] * 200), rep_events(k, float(t[0]), float(t[-1])))
        oracle.append(longest_run(t, x <= x.min() + 5.0))
    out = drive(hold_rule(), [angle_info()], items)
    assert [o.payload["value"] for o in out] == pytest.approx(oracle, abs=1e-9)
    assert [o.payload["ok"] for o in out] == [v >= 3.0 for v in oracle] == [True, True, False]
    assert out[1].payload["extreme"] == pytest.approx(29.0, abs=0.1)  # an incomplete extension still holds


def test_hold_above_a_threshold_with_hysteresis_and_minimum_durations():
    t = np.arange(1000) / RATE
    x = np.zeros(t.size)
    x[100:400] = 50.0  # 3 s above
    x[200:205] = 15.0  # a 50 ms dip below on (20) but above off (10): hysteresis keeps the hold
    x[300:310] = 5.0  # a 100 ms dip below off, shorter than min_off (0.2 s): still one hold
    x[600:610] = 50.0  # a 100 ms burst, shorter than min_on: not a hold
    rule = hold_rule(mode="above", on=20.0, off=10.0, lo=2.5)
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, x), rep_events(1, 0.0, 9.99)))
    assert out[0].payload["value"] == pytest.approx(3.0, abs=1e-9)
    assert (out[0].payload["held_from"], out[0].payload["held_to"]) == (1.0, 4.0)
    rule = hold_rule(mode="above", on=20.0, off=10.0, lo=2.5, min_off=0.05)  # now the 100 ms dip ends it
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, x), rep_events(1, 0.0, 9.99)))
    assert out[0].payload["value"] == pytest.approx(2.0, abs=1e-9) and out[0].payload["ok"] is False
    with pytest.raises(ConfigError, match=r"off <= on \(hysteresis\)"):
        hold_rule(mode="above", on=10.0, off=20.0)
    with pytest.raises(ConfigError, match="signal_unit: expected 'deg'"):
        hold_rule(signal_unit="rad").bind({KNEE: angle_info()})


@pytest.mark.parametrize("n", [19, 20, 21])
def test_a_hold_exactly_min_on_long_counts_and_one_sample_shorter_does_not(n):
    """min_on 0.2 s at 100 Hz is 20 samples: a run of 20 counts (held 0.2 s), a run of 19 does not."""
    t = np.arange(300) / RATE
    x = np.zeros(t.size)
    x[100 : 100 + n] = 50.0
    rule = hold_rule(mode="above", on=20.0, off=10.0, lo=0.1, min_on=0.2, min_off=0.2)
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, x), rep_events(1, 0.0, 2.99)))
    run = longest_run(t, x > 20.0)
    oracle = run if run >= 0.2 - 1e-9 else 0.0
    assert out[0].payload["value"] == pytest.approx(oracle, abs=1e-9)
    assert out[0].payload["ok"] is (n >= 20)


def test_a_hold_to_the_last_sample_of_the_rep_is_timed_to_its_end():
    """The rep is [start, end] with both ends in: a hold still on at the rep's last sample lasts to the end
    of that sample."""
    t = np.arange(400) / RATE
    x = np.zeros(t.size)
    x[100:] = 50.0
    rule = hold_rule(mode="above", on=20.0, off=10.0, lo=0.1)
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, x), rep_events(1, 0.0, 2.99)))
    inside = (t >= 0.0) & (t <= 2.99)
    assert out[0].payload["value"] == pytest.approx(longest_run(t[inside], x[inside] > 20.0), abs=1e-9)
    assert out[0].payload["value"] == pytest.approx(2.0, abs=1e-9)


def test_smoothness_reproduces_the_sparc_golden_value_and_flags_a_jerky_rep():
    # the reference doctest of Balasubramanian et al. 2015: speed exp(-5 t^2) on t in [-1, 1) at 100 Hz
    tt = np.arange(-1, 1, 0.01)
    speed = np.exp(-5 * tt**2)
    pos = np.concatenate([[0.0], np.cumsum(speed[:-1]) / RATE])  # |diff(pos)| * rate == speed[:-1]
    t = np.arange(pos.size) / RATE
    rule = SmoothnessRule(
        "smooth",
        stream=KNEE,
        channel="flexion",
        quantity="sparc",
        unit="1",
        episodes=Episodes.reps(),
        lo=-1.6,
        error_below="jerky",
    )
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, pos), rep_events(1, 0.0, float(t[-1]))))
    from nmre.dsp import sparc

    assert out[0].payload["value"] == pytest.approx(sparc(speed[:-1], RATE), abs=1e-12)
    assert out[0].payload["value"] == pytest.approx(-1.414, abs=0.01)  # golden -1.41403 for the full profile
    jerky = pos + 0.002 * np.sin(2 * np.pi * 7 * t)
    rule.reset()
    out = drive(rule, [angle_info()], in_order(blocks(KNEE, t, jerky), rep_events(1, 0.0, float(t[-1]))))
    assert out[0].payload["value"] < -1.6 and out[0].payload["error"] == "jerky"


def test_template_records_the_first_rep_and_measures_the_others_against_it():
    tslearn = pytest.importorskip("tslearn.metrics")
    base = 80 * np.sin(np.linspace(0, np.pi, 200))
    reps = [base, base, 0.6 * base, np.concatenate([base[:100], np.full(60, 80.0), base[100:]])]
    items, t0, spans = [], 0.0, []
    for k, x in enumerate(reps, 1):
        t = t0 + np.arange(x.size) / RATE
        items += in_order(blocks(KNEE, t, x), rep_events(k, float(t[0]), float(t[-1])))
        spans.append(x)
        t0 = float(t[-1]) + 1.0
    rule = TemplateRule(
        "shape",
        stream=KNEE,
        channel="flexion",
        quantity="template_distance",
        unit="1",
        episodes=Episodes.reps(),
        hi=0.05,
        error_above="off_pattern",
    )
    out = drive(rule, [angle_info()], items)
    assert out[0].kind == kinds.TEMPLATE_RECORDED and out[0].payload["rep"] == 1
    judged = out[1:]
    oracle = []
    for x in spans[1:]:
        _, cost = tslearn.dtw_subsequence_path(base[:, None], x[:, None])
        oracle.append(cost / math.sqrt(base.size) / np.ptp(base))
    assert [o.payload["value"] for o in judged] == pytest.approx(oracle, rel=1e-9, abs=1e-12)
    assert judged[0].payload["value"] == pytest.approx(0.0, abs=1e-12)  # the same movement
    assert [o.payload["ok"] for o in judged] == [
        True,
        False,
        True,
    ]  # reduced range is off; a pause is warped away


def sway_window(k, end, rms, window=5.0, source="sway.pelvis"):
    return Event(
        end,
        kinds.SWAY_WINDOW,
        source,
        {"window": window, "start": end - window, "rms": rms, "path": 1.0, "area95": 0.01},
    )


def sway_rule(**kw):
    args = dict(
        windows_from="sway.pelvis",
        factor=1.6,
        floor=0.03,
        baseline_windows=2,
        quantity="sway_rms",
        unit="m/s^2",
        error_above="excessive_sway",
    )
    args.update(kw)
    return SwayRule("sway", **args)


def test_sway_envelope_is_a_factor_of_the_patients_baseline_inclusive_at_its_edge():
    rms = [0.0625, 0.0625, 0.1, 0.10001, 0.05]  # baseline 0.0625 -> envelope exactly 0.1
    out = drive(sway_rule(), [], [sway_window(k, 5.0 * (k + 1), r) for k, r in enumerate(rms)])
    base = [o for o in out if o.kind == kinds.BALANCE_BASELINE]
    assert len(base) == 1 and base[0].payload["limit"] == 1.6 * 0.0625 == 0.1
    verdicts = [o for o in out if o.kind == "rule.sway"]
    assert [o.payload["ok"] for o in verdicts] == [True, False, True]
    assert [o.payload["window"] for o in verdicts] == [3, 4, 5]
    assert verdicts[1].payload["start"] == 15.0 and verdicts[1].payload["hi"] == 0.1
    fixed = drive(
        sway_rule(factor=math.nan, hi=0.07), [], [sway_window(k, 5.0 * (k + 1), r) for k, r in enumerate(rms)]
    )
    assert [o.payload["ok"] for o in fixed] == [
        True,
        True,
        False,
        False,
        True,
    ]  # absolute envelope, no baseline


@pytest.mark.parametrize("n_base", [1, 2, 3])
def test_sway_baseline_is_the_mean_of_exactly_the_first_baseline_windows(n_base):
    """Distinct window values, so a baseline one window longer or shorter, or not their mean, is seen."""
    rms = [0.04, 0.05, 0.07, 0.06, 0.09, 0.11, 0.08, 0.05]
    factor, floor = 1.6, 0.03
    out = drive(
        sway_rule(baseline_windows=n_base, factor=factor, floor=floor),
        [],
        [sway_window(k, 5.0 * (k + 1), r) for k, r in enumerate(rms)],
    )
    base_oracle = sum(rms[:n_base]) / n_base
    limit_oracle = max(floor, factor * base_oracle)
    base = [o for o in out if o.kind == kinds.BALANCE_BASELINE]
    assert len(base) == 1 and base[0].time == 5.0 * n_base  # announced when the last baseline window ends
    assert base[0].payload["baseline"] == pytest.approx(base_oracle, rel=1e-12)
    assert base[0].payload["limit"] == pytest.approx(limit_oracle, rel=1e-12)
    assert base[0].payload["windows"] == n_base
    verdicts = [o for o in out if o.kind == "rule.sway"]
    assert [o.payload["window"] for o in verdicts] == list(range(n_base + 1, len(rms) + 1))
    assert [o.payload["ok"] for o in verdicts] == [r <= limit_oracle for r in rms[n_base:]]
    assert not all(o.payload["ok"] for o in verdicts) and any(o.payload["ok"] for o in verdicts)


def test_a_very_still_baseline_is_raised_to_the_floor():
    """envelope = max(floor, factor x baseline): a baseline inside the sensor's noise never makes an
    envelope below the floor."""
    rms = [0.010, 0.012, 0.025, 0.031]
    factor, floor = 1.6, 0.03
    out = drive(
        sway_rule(factor=factor, floor=floor),
        [],
        [sway_window(k, 5.0 * (k + 1), r) for k, r in enumerate(rms)],
    )
    limit = max(floor, factor * (rms[0] + rms[1]) / 2)
    assert factor * (rms[0] + rms[1]) / 2 < floor and limit == floor
    base = next(o for o in out if o.kind == kinds.BALANCE_BASELINE)
    assert base.payload["limit"] == floor
    assert (
        [o.payload["ok"] for o in out if o.kind == "rule.sway"]
        == [r <= limit for r in rms[2:]]
        == [True, False]
    )


def test_the_stance_drills_baseline_is_the_first_10_s_their_files_state():
    """quiet_stance: "the patient's own baseline in this condition, the first 10 s of the trial".

    The window length is read from the drill file itself; the baseline must be the mean of the windows
    that end within the first 10 s, and the window after them the first one judged."""
    import tomllib

    from nmre.drills import build_drill, load_drill, synthetic_kit

    spec = load_drill("quiet_stance")
    with open(spec.path, "rb") as f:
        doc = tomllib.load(f)
    rs = next(r for r in doc["rules"] if r["id"] == "sway")
    assert "the first 10 s of the trial" in rs["source"]
    window = float(doc["signals"]["sway"]["window"])
    drill = build_drill(spec, synthetic_kit(spec), quality=False)
    rule = next(r for r in drill.rules if r.name == "rule.sway")
    rule.gate = None  # calibration waits are tested in tests/drills
    rms = [0.030, 0.050, 0.045, 0.066, 0.070, 0.060]
    ends = [window * (k + 1) for k in range(len(rms))]
    out = drive(
        rule,
        [],
        [
            sway_window(k, e, r, window, rule.windows_from)
            for k, (e, r) in enumerate(zip(ends, rms, strict=True))
        ],
    )
    first = [r for e, r in zip(ends, rms, strict=True) if e <= 10.0 + 1e-9]
    assert len(first) == 2
    base = [o for o in out if o.kind == kinds.BALANCE_BASELINE]
    assert len(base) == 1 and base[0].payload["baseline"] == pytest.approx(sum(first) / len(first), rel=1e-12)
    assert base[0].time == pytest.approx(10.0)
    judged = [o for o in out if o.kind == "rule.sway"]
    assert judged[0].payload["start"] == pytest.approx(10.0) and len(judged) == len(rms) - len(first)


def test_sway_rules_default_baseline_length_is_the_file_formats():
    """The Python default and the drill-file default agree (2 windows), so a drill without the field and
    code that builds the rule by hand get the same baseline."""
    import inspect

    default = inspect.signature(SwayRule.__init__).parameters["baseline_windows"].default
    assert default == SwayRule.PARAMS["baseline_windows"].default == 2
    rms = [0.04, 0.06, 0.2]
    args = dict(windows_from="sway.pelvis", factor=1.6, quantity="sway_rms", unit="m/s^2", error_above="x")
    out = drive(SwayRule("sway", **args), [], [sway_window(k, 5.0 * (k + 1), r) for k, r in enumerate(rms)])
    base = [o for o in out if o.kind == kinds.BALANCE_BASELINE]
    assert base[0].payload["baseline"] == pytest.approx(0.05) and base[0].payload["windows"] == 2


def test_windows_after_a_loss_of_balance_are_not_judged_while_the_patient_resettles():
    touchdown = Event(
        21.0, kinds.RULE_LOSS_OF_BALANCE, "rule.loss_of_balance", {"ok": False, "error": "loss_of_balance"}
    )
    evs = [sway_window(k, 5.0 * (k + 1), 0.05) for k in range(4)] + [touchdown]
    evs += [sway_window(k, 5.0 * (k + 1), 0.3) for k in range(4, 7)]
    out = drive(sway_rule(), [], evs)
    un = [o for o in out if o.kind == kinds.WINDOW_UNJUDGED]
    assert [(o.payload["start"], o.payload["value"]) for o in un] == [(20.0, 0.3), (25.0, 0.3)]
    assert [o.payload["ok"] for o in out if o.kind == "rule.sway"] == [
        True,
        True,
        False,
    ]  # 30-35 s judged again


def imu_info(stream="imu.pelvis"):
    return StreamInfo(
        stream, StreamKind.IMU, IMU_CHANNELS, RATE, Placement(segment="pelvis", side=Side.MIDLINE)
    )


def test_a_touchdown_shock_is_a_safety_outcome_once_per_refractory_and_a_corrupt_sample_is_not():
    t = np.arange(1000) / RATE
    acc = np.zeros((6, t.size))
    acc[2] = 9.80665
    acc[2, 300] += 3.0  # exactly at the limit: not a loss
    acc[2, 400] += 3.5  # a loss
    acc[2, 450] += 5.0  # within the refractory 3 s: the same loss
    acc[2, 800] = 1e300  # a corrupt sample beyond full scale: not a loss
    rule = BalanceLossRule(
        "loss_of_balance",
        stream="imu.pelvis",
        quantity="loss_of_balance",
        unit="m/s^2",
        hi=3.0,
        error_above="loss_of_balance",
    )
    out = drive(rule, [imu_info()], blocks("imu.pelvis", t, acc))
    assert [(o.time, o.payload["safety"], o.payload["error"]) for o in out] == [
        (4.0, True, "loss_of_balance")
    ]
    assert out[0].payload["value"] == pytest.approx(3.5)


def test_a_shock_is_the_size_of_the_deviation_from_gravity_either_way():
    """| |acc| - g | > hi: a drop of the magnitude below g (the unloading before an impact) counts as
    well as a rise above it."""
    t = np.arange(1000) / RATE
    acc = np.zeros((6, t.size))
    acc[2] = 9.80665
    acc[2, 200] -= 3.5  # |acc| 3.5 below g
    acc[2, 600] -= 2.9  # 2.9 below: inside the limit
    rule = BalanceLossRule(
        "loss_of_balance", stream="imu.pelvis", quantity="loss_of_balance", unit="m/s^2", hi=3.0,
        error_above="loss_of_balance",
    )  # fmt: skip
    out = drive(rule, [imu_info()], blocks("imu.pelvis", t, acc))
    dev = np.abs(np.linalg.norm(acc[:3], axis=0) - 9.80665)
    assert [o.time for o in out] == [float(t[i]) for i in np.flatnonzero(dev > 3.0)] == [2.0]
    assert out[0].payload["value"] == pytest.approx(3.5)


def test_the_base_class_asks_the_quality_gate_and_reports_not_judged_with_the_span():
    info = angle_info()
    monitor = QualityMonitor([info])
    gate = QualityGate(monitor, [KNEE])
    rule = BandRule(
        "depth",
        stream=KNEE,
        channel="flexion",
        quantity="knee_flexion_peak",
        unit="deg",
        episodes=Episodes.reps(),
        lo=75.0,
        gate=gate,
    )
    t = np.arange(800) / RATE
    x = 90 * np.sin(np.pi * (t % 4.0) / 4.0)
    keep = ~((t >= 5.0) & (t < 6.0))  # one second lost in the second rep
    items = []
    bl = blocks(KNEE, t[keep], x[keep])
    missing = 0
    for b in bl:
        if missing == 0 and b.times[0] >= 6.0:
            b = Block(b.stream, b.times, b.values, b.seq, 100)
            missing = 1
        items.append(b)
    items = in_order(items, [*rep_events(1, 0.0, 3.99), *rep_events(2, 4.0, 7.99)])
    monitor.bind({KNEE: info})
    out = []
    rule.bind({KNEE: info})
    for item in items:
        if isinstance(item, Block):
            monitor.push(item)
            rule.push(item)
        else:
            rule.on_event(item)
        out += rule.pop_events()
    assert [o.kind for o in out] == ["rule.depth", kinds.REP_UNJUDGED]
    un = out[1]
    assert "samples missing" in un.payload["reason"] and un.payload["rep"] == 2
    assert un.payload["quality"][0]["stream"] == KNEE and un.payload["value"] == pytest.approx(90.0, abs=0.5)
    assert un.patient_message == "Keep going" and "not judged" in un.therapist_message
