"""The simulator's public API: movements, kits, subjects, strap rotation, catalogue of quantities and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nmre.core.model import Placement, Side, StreamKind
from nmre.sim import (
    ERRORS,
    GRAVITY,
    MOVEMENTS,
    QUANTITIES,
    Sensor,
    SquatConfig,
    StanceConfig,
    Subject,
    simulate,
)
from nmre.sim.body import SENSOR_SEGMENTS


def test_every_movement_has_a_config_with_its_name_and_known_error_labels():
    assert {"squat", "quiet_stance", "tandem_stance", "single_leg_stance"} <= set(MOVEMENTS)
    for name, cls in MOVEMENTS.items():
        assert cls.movement == name
        for label in cls.error_labels:
            spec = ERRORS[label]
            assert spec.quantity in QUANTITIES
            lo, hi = spec.limits
            assert lo <= spec.drawn[0] <= spec.drawn[1] <= hi or spec.relative
            assert spec.source


def test_every_error_of_the_catalogue_names_a_quantity_with_a_unit():
    for spec in ERRORS.values():
        assert QUANTITIES[spec.quantity].unit == spec.unit
    assert QUANTITIES["knee_flexion_peak"].unit == "deg"
    assert QUANTITIES["vmo_vl_onset_lag"].unit == "ms"
    assert QUANTITIES["sway_rms"].unit == "m/s^2"


def test_minimal_kit_is_the_contracts():
    sim = simulate(SquatConfig(reps=1), seed=0, kit="minimal")
    assert [s.id for s in sim.streams] == ["imu.trunk", "imu.thigh.r", "imu.shank.r"]
    stance = simulate(StanceConfig(duration=5.0), seed=0, kit="minimal")
    assert [s.id for s in stance.streams] == ["imu.pelvis"]


def test_bilateral_kit_mirrors_the_sided_sensors():
    sim = simulate(SquatConfig(reps=1), seed=0, kit="bilateral")
    ids = [s.id for s in sim.streams]
    assert ids == [
        "imu.pelvis",
        "imu.trunk",
        "imu.thigh.r",
        "imu.shank.r",
        "imu.thigh.l",
        "imu.shank.l",
        "emg.r",
        "emg.l",
    ]
    left = sim.stream("emg", side="left")
    assert left.id == "emg.l" and [c.placement.side for c in left.channels] == [Side.LEFT] * 4


def test_all_kit_wears_every_sensor():
    sim = simulate(SquatConfig(reps=1), seed=0, kit="all")
    assert {s.id for s in sim.streams if s.kind is StreamKind.IMU} == {f"imu.{s}" for s in SENSOR_SEGMENTS}
    assert {s.id for s in sim.streams if s.kind is StreamKind.EMG} == {"emg.r", "emg.l", "emg.arm.r"}
    assert sim.stream("emg", side="right").id == "emg.r"
    shoulder = next(s for s in sim.streams if s.id == "emg.arm.r")
    assert [c.name for c in shoulder.channels] == ["ut", "lt", "sa", "ad"]


def test_explicit_kits_accept_strings_placements_and_sensors():
    kit = [
        "acc:pelvis",
        "thigh",  # the movement's side
        Placement(segment="shank", side=Side.LEFT),
        (Placement(segment="trunk", side=Side.MIDLINE), StreamKind.ACC),
        "emg:vmo",
        Placement(muscle="vl", side=Side.RIGHT),
        Sensor("emg", muscle="ut", side="r"),
    ]
    sim = simulate(SquatConfig(reps=1, side="right"), seed=0, kit=kit)
    ids = [s.id for s in sim.streams]
    assert ids == ["acc.pelvis", "acc.trunk", "imu.thigh.r", "imu.shank.l", "emg.r", "emg.arm.r"]
    acc = sim.streams[0]
    assert acc.kind is StreamKind.ACC and acc.channel_names == ("acc_x", "acc_y", "acc_z")
    t, v = sim.data["acc.pelvis"]
    assert v.shape == (3, t.shape[0])
    assert abs(np.mean(np.linalg.norm(v[:, t < 1.0], axis=0)) - GRAVITY) < 0.2
    assert [c.name for c in sim.streams[4].channels] == ["vmo", "vl"]


def test_a_sensors_data_do_not_depend_on_the_rest_of_the_kit():
    cfg = SquatConfig(reps=2)
    small = simulate(cfg, seed=8, kit=["thigh.r", "emg:vl.r"])
    full = simulate(cfg, seed=8, kit="all")
    assert np.array_equal(small.data["imu.thigh.r"][1], full.data["imu.thigh.r"][1])
    rows = [c.name for c in next(s for s in full.streams if s.id == "emg.r").channels]
    assert np.array_equal(small.data["emg.r"][1][0], full.data["emg.r"][1][rows.index("vl")])
    assert small.truth == full.truth


def test_subjects_vary_with_the_seed():
    a, b = Subject.draw(1), Subject.draw(2)
    assert a != b and Subject.draw(1) == a
    hs = [Subject.draw(s).height for s in range(40)]
    assert 1.5 <= min(hs) < max(hs) <= 1.95 and np.std(hs) > 0.04
    ta = simulate(SquatConfig(reps=3), seed=1).truth.reps
    tb = simulate(SquatConfig(reps=3), seed=2).truth.reps
    assert ta[0].duration != tb[0].duration  # tempo differs
    sim = simulate(SquatConfig(reps=1), seed=3)
    assert sim.subject == Subject.draw(3)
    assert sim.movement.body.thigh_length == pytest.approx(0.43 * sim.subject.height / 1.75)
    assert sim.truth.subject["height"] == sim.subject.height


def test_a_given_subject_replaces_the_drawn_one():
    sub = Subject(height=1.60, tempo=1.2)
    sim = simulate(SquatConfig(reps=1), seed=3, subject=sub)
    assert sim.subject is sub
    assert sim.truth.reps[0].duration == pytest.approx(
        simulate(SquatConfig(reps=1), seed=3, subject=sub).truth.reps[0].duration
    )


def test_strap_rotation_is_drawn_per_sensor_up_to_the_limit():
    cfg = SquatConfig(reps=1)
    aligned = simulate(cfg, seed=5)
    strapped = simulate(cfg, seed=5, strap_deg=15.0)
    for sid, m in strapped.mounting.items():
        r = Rotation.from_matrix(m)
        assert 0.0 < np.degrees(r.magnitude()) <= 15.0 * np.sqrt(1 + 2 / 9) + 1e-9
        np.testing.assert_allclose(aligned.mounting[sid], np.eye(3))
    # the sensor frame rotates, the body does not
    q_a = Rotation.from_quat(aligned.orientations["imu.thigh.r"].T, scalar_first=True)
    q_s = Rotation.from_quat(strapped.orientations["imu.thigh.r"].T, scalar_first=True)
    m = Rotation.from_matrix(strapped.mounting["imu.thigh.r"])
    assert np.max(((q_a * m).inv() * q_s).magnitude()) < 1e-9
    assert aligned.truth == strapped.truth


def test_tempo_and_resistance_conditions():
    sub = Subject.nominal()
    base = simulate(SquatConfig(reps=2), seed=1, subject=sub)
    fast = simulate(SquatConfig(reps=2, tempo=2.0), seed=1, subject=sub)
    band = simulate(SquatConfig(reps=2, resistance=1.0), seed=1, subject=sub)
    d = base.truth.reps[0].duration
    assert fast.truth.reps[0].duration == pytest.approx(d / 2.0)
    assert band.truth.reps[0].duration == pytest.approx(d * 1.3)
    vl = 1
    assert band.activation[vl].max() == pytest.approx(1.6 * base.activation[vl].max(), rel=1e-6)
    assert base.truth.conditions["tempo"] == 1.0 and band.truth.conditions["resistance"] == 1.0
