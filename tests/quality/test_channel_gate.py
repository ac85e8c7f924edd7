"""A rule whose input reads only some channels of a raw stream is gated on those channels only."""

from __future__ import annotations

import numpy as np

from nmre.core.model import IMU_CHANNELS, Block, StreamInfo, StreamKind
from nmre.quality import QualityGate, QualityMonitor

RATE = 100.0
IMU = StreamInfo("imu.forearm.r", StreamKind.IMU, IMU_CHANNELS, RATE)
GYRO = (3, 4, 5)


def fed_monitor(acc_bad: slice) -> QualityMonitor:
    m = QualityMonitor([IMU])
    m.bind({IMU.id: IMU})
    t = np.arange(400) / RATE
    v = np.random.default_rng(0).normal(0.0, 0.05, (6, 400))  # noisy, so no channel reads as stuck
    v[2] += 9.81
    v[0, acc_bad] = 400.0  # beyond a 16 g accelerometer: impossible, counted bad
    v[4] += 1.0  # rad/s, fine
    for a in range(0, 400, 10):
        m.push(Block(IMU.id, t[a : a + 10], np.ascontiguousarray(v[:, a : a + 10])))
    return m


def test_bad_accelerometer_samples_do_not_block_a_gyroscope_only_input() -> None:
    m = fed_monitor(slice(100, 140))  # 40 of the 200 samples of [1, 3] s: 20 %
    whole = QualityGate(m, [IMU.id])
    gyro = QualityGate(m, [IMU.id], channels={IMU.id: GYRO})
    why, spans = whole.check(1.0, 3.0)
    assert why is not None and "acc_x" in why and spans[0].fraction_bad > 0.15
    why, spans = gyro.check(1.0, 3.0)
    assert why is None and spans[0].fraction_bad == 0.0 and spans[0].bad == {}
    # the gyroscope's own bad samples still count
    acc_only = QualityGate(m, [IMU.id], channels={IMU.id: (0,)})
    assert acc_only.check(1.0, 3.0)[0] is not None


def test_the_drill_gates_its_smoothness_rule_on_the_gyroscope_only() -> None:
    from nmre.drills import build_drill, load_drill, synthetic_kit

    spec = load_drill("pnf_d2_flexion")
    d = build_drill(spec, synthetic_kit(spec, sides=("right",)))
    rules = {r.id: r for r in d.rules}
    forearm = next(s.id for s in synthetic_kit(spec, sides=("right",)) if s.placement.segment == "forearm")
    gate = rules["smoothness"].gate
    inner = getattr(gate, "inner", gate)
    assert inner.channels == {forearm: GYRO}
    assert rules["range"].gate.channels == {}  # an orientation reads every channel
