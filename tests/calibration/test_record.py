"""The Calibration record: JSON round trip, rebuilt from events, bad records named by field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmre.calibration import Calibration, EmgReferenceResult, EmgRest, ReadinessResult, SegmentPose, Template
from nmre.core.model import Event
from nmre.errors import ConfigError


def full_record() -> Calibration:
    q = np.array([0.99, 0.1, -0.05, 0.02])
    q /= np.linalg.norm(q)
    return Calibration(
        readiness=ReadinessResult(
            "override", 1.5, {"emg.r": ["vmo: noisy"]}, {"emg.r": {"vmo.noise_uv": 14.2}}, "dry skin", "PT"
        ),
        emg_rest={
            "emg.r": EmgRest(
                "emg.r",
                ["vmo", "vl"],
                {"timing": ([1e-6, 2e-6], [3e-7, 4e-7]), "envelope": ([0.003, 0.004], [0.0004, 0.0005])},
                [3.1, 4.2],
                0.5,
                2.5,
                [1.2, 1.3],
            )
        },
        emg_reference={
            "emg.r": EmgReferenceResult(
                "emg.r", ["vmo", "vl"], "mvc", [0.31, 0.42], "mV", 0.5, [[0.3, 0.4], [0.31, 0.42]]
            )
        },
        neutral={"imu.thigh.r": SegmentPose("imu.thigh.r", "neutral", q.tolist(), 11.7, 0.3, 1.3)},
        long_axis={
            "imu.thigh.r": SegmentPose(
                "imu.thigh.r", "functional", q.tolist(), 11.7, 2.0, 6.0, -8.5, 0.93, 140.0
            )
        },
        templates={
            "demo": Template("demo", "angle.knee.r", ["flexion"], 100.0, [[0.0, 10.0, 20.0, 5.0]], 3.0, 3.03)
        },
        notes=["first session"],
    )


def test_json_round_trip_is_exact_and_deterministic() -> None:
    rec = full_record()
    text = rec.to_json()
    back = Calibration.from_json(text)
    assert back == rec
    assert back.to_json() == text
    d = json.loads(text)
    assert d["format"] == "nmre.calibration" and d["version"] == 1
    np.testing.assert_allclose(back.segment_rotation("imu.thigh.r"), rec.long_axis["imu.thigh.r"].quaternion)
    mu, sd = back.baseline("emg.r", "timing")  # type: ignore[misc]
    assert mu.tolist() == [1e-6, 2e-6] and sd.tolist() == [3e-7, 4e-7]
    assert back.reference("emg.r").tolist() == [0.31, 0.42]  # type: ignore[union-attr]
    assert back.baseline("emg.l", "timing") is None and back.segment_rotation("imu.shank.r") is None
    with pytest.raises(ConfigError, match="conditioning"):
        back.baseline("emg.r", "tkeo")
    assert Calibration().is_empty and not rec.is_empty


def test_record_is_rebuilt_from_its_events() -> None:
    rec = full_record()
    events = [
        Event(1.5, "readiness.override", "readiness", rec.readiness.to_dict()),  # type: ignore[union-attr]
        Event(
            2.5, "calibration.emg_rest", "x", {"results": {k: v.to_dict() for k, v in rec.emg_rest.items()}}
        ),
        Event(
            9.0,
            "calibration.emg_reference",
            "x",
            {"results": {k: v.to_dict() for k, v in rec.emg_reference.items()}},
        ),
        Event(
            1.3,
            "calibration.neutral",
            "x",
            {"results": {k: v.to_dict() for k, v in rec.neutral.items()}, "tilt_deg": {"imu.thigh.r": 11.7}},
        ),
        Event(
            6.0, "calibration.long_axis", "x", {"results": {k: v.to_dict() for k, v in rec.long_axis.items()}}
        ),
        Event(
            3.1, "calibration.template", "x", {"results": {k: v.to_dict() for k, v in rec.templates.items()}}
        ),
        Event(4.0, "rep.end", "reps", {"rep": 1}),
    ]
    back = Calibration.from_events(events)
    back.notes = list(rec.notes)
    assert back == rec

    # through the event's own JSON, as a recording stores it
    def through_json(e: Event) -> Event:
        d = json.loads(e.to_json())
        return Event(d["time"], d["kind"], d["source"], d["payload"])

    again = Calibration.from_events(through_json(e) for e in events)
    assert again.emg_rest == rec.emg_rest


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=2), "version"),
        (
            lambda d: d["emg_rest"]["emg.r"]["baselines"]["timing"].update(mu=[1.0]),
            "emg_rest.emg.r.baselines.timing.mu",
        ),
        (lambda d: d["emg_reference"]["emg.r"].update(method="max"), "emg_reference.emg.r.method"),
        (lambda d: d["emg_reference"]["emg.r"].update(values=[0.3, -1.0]), "emg_reference.emg.r.values"),
        (
            lambda d: d["neutral"]["imu.thigh.r"].update(rotation=[1.0, 1.0, 0.0, 0.0]),
            "neutral.imu.thigh.r.rotation",
        ),
        (lambda d: d["long_axis"]["imu.thigh.r"].update(kind="dynamic"), "long_axis.imu.thigh.r.kind"),
        (lambda d: d["templates"]["demo"].update(values=[[1.0]]), "templates.demo.values"),
        (lambda d: d["templates"]["demo"].update(rate=0), "templates.demo.rate"),
        (lambda d: d["readiness"].update(state="maybe"), "readiness.state"),
        (lambda d: d.update(notes="x"), "notes"),
        (lambda d: d.update(neutral=[]), "neutral"),
    ],
)
def test_a_bad_record_names_the_field(mutate, where) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(full_record().to_json())
    mutate(d)
    with pytest.raises(ConfigError) as err:
        Calibration.from_json(json.dumps(d))
    msg = str(err.value)
    assert msg.startswith(f"calibration record, {where}: expected"), msg
    assert "\n" not in msg


def test_not_json_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="expected JSON"):
        Calibration.from_json("{not json")
    with pytest.raises(ConfigError, match="top level"):
        Calibration.from_json("[1, 2]")
