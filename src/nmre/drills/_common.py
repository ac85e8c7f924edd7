"""Pieces shared by drills: finding streams by placement, orientation nodes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo, StreamKind
from nmre.dsp.joints import segment_calibration
from nmre.dsp.orientation import BiasCorrectedOrientation, GyroBias, Madgwick
from nmre.engine.nodes import Node, ProcessorNode
from nmre.errors import ConfigError


def find_stream(
    streams: Sequence[StreamInfo], kind: StreamKind, segment: str | None = None, drill: str = ""
) -> StreamInfo:
    """The stream of ``kind`` placed on ``segment`` (any placement if ``None``); ConfigError if absent."""
    for s in streams:
        if s.kind is kind and (
            segment is None or (s.placement is not None and s.placement.segment == segment)
        ):
            return s
    have = ", ".join(
        f"{s.id} ({s.kind.value}{', ' + s.placement.describe() if s.placement else ''})" for s in streams
    )
    where = f" on the {segment}" if segment else ""
    raise ConfigError(f"{drill} drill: expected an {kind.value} stream{where}, got streams: {have or 'none'}")


#: Stillness threshold on the raw gyro norm. A worn MEMS gyro's bias alone can
#: reach 2 deg/s per axis (3.5 deg/s in norm), so Fusion's 3 deg/s would never see
#: the sensor as still; squats turn segments at tens of deg/s.
STILL_GYRO = math.radians(6.0)


def orientation_node(info: StreamInfo, beta: float = 0.1, still_time: float = 1.0) -> ProcessorNode:
    """Gyro-bias removal at rest, then Madgwick orientation: ``imu.X`` → ``orient.X``."""
    seg = info.id.split(".", 1)[1] if "." in info.id else info.id
    chain = BiasCorrectedOrientation(
        GyroBias(info.rate, gyro_threshold=STILL_GYRO, still_time=still_time),
        Madgwick(info.rate, beta=beta, name=f"orient.{seg}"),
    )
    return ProcessorNode(chain, info.id, f"orient.{seg}")  # the filter already names it so: no copy


class NeutralPoseCalibration(Node):
    """Sensor-to-segment calibration from the neutral standing pose at the start of the session.

    For each IMU stream it waits for ``duration`` s of stillness (gyro norm below
    :data:`STILL_GYRO`, after ``settle`` s), takes the mean accelerometer direction
    as the segment's vertical (:func:`nmre.dsp.segment_calibration`, static pose),
    and once every stream has one, hands the rotations to ``apply``. A sensor
    strapped on tilted no longer reads as a joint angle or a trunk lean. The
    rotation about the segment's long axis cannot be seen from gravity; a
    functional movement would be needed for it (not done here).

    Raises one ``calibration.neutral`` event with each sensor's tilt in degrees.
    """

    def __init__(
        self,
        streams: Sequence[str],
        apply: Callable[[dict[str, np.ndarray]], None],
        *,
        settle: float = 0.3,
        duration: float = 1.0,
    ) -> None:
        self.inputs = tuple(streams)
        self.name = kinds.CALIBRATION_NEUTRAL
        self.apply, self.settle, self.duration = apply, settle, duration
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        for s in self.inputs:
            if infos.get(s) is None or infos[s].kind is not StreamKind.IMU:
                raise ConfigError(f"{self.name}: expected an IMU stream {s!r}, known: {', '.join(infos)}")
        return []

    def reset(self) -> None:
        self._t0: dict[str, float] = {}
        self._acc: dict[str, list[np.ndarray]] = {s: [] for s in self.inputs}
        self._start: dict[str, float] = {}
        self._cal: dict[str, np.ndarray] = {}
        self._done_at: dict[str, float] = {}
        self._events: list[Event] = []
        self.done = False

    def push(self, block: Block) -> list[Block]:
        s = block.stream
        if self.done or s in self._cal or block.times.shape[0] == 0:
            return []
        t, v = block.times, block.values
        t0 = self._t0.setdefault(s, float(t[0]))
        for i in range(t.shape[0]):
            ti = float(t[i])
            if ti < t0 + self.settle:
                continue
            still = bool(np.all(np.isfinite(v[:, i]))) and float(np.linalg.norm(v[3:6, i])) < STILL_GYRO
            if not still:  # the pose is not held: start the window again
                self._acc[s].clear()
                self._start.pop(s, None)
                continue
            start = self._start.setdefault(s, ti)
            self._acc[s].append(v[0:3, i].copy())
            if ti - start >= self.duration:
                self._cal[s] = segment_calibration(np.column_stack(self._acc[s]))
                self._done_at[s] = ti
                break
        if len(self._cal) == len(self.inputs):
            self.done = True
            self.apply(dict(self._cal))
            tilts = {
                k: round(math.degrees(2 * math.acos(min(1.0, abs(float(q[0]))))), 2)
                for k, q in self._cal.items()
            }
            self._events.append(
                Event(
                    max(self._done_at.values()),  # a sample time: the same in any split into blocks
                    kinds.CALIBRATION_NEUTRAL,
                    self.name,
                    {"tilt_deg": tilts, "seconds": self.duration},
                    therapist_message="neutral pose calibrated; sensor tilt on its segment: "
                    + ", ".join(f"{k} {v:.1f} deg" for k, v in tilts.items()),
                )
            )
        return []

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out
