"""The signal-readiness gate: are the signals good enough to start the drill?

Before a drill judges anything, every stream is checked over consecutive
``window``-second stretches (default 1 s) while the patient rests:

EMG (per channel, band-passed 20–450 Hz):

* **baseline noise**: RMS at rest at most ``max_noise_uv`` (default 10 µV). Konrad's
  *ABC of EMG* (Noraxon 2005, p. 17) asks for a baseline noise of at most 3–5 µV with
  gelled Ag/AgCl electrodes (1–2 µV as the target); nmre allows twice the upper value
  because the dry and textile electrodes of wearables sit higher. Above it: "not at
  rest, or a noisy electrode".
* **electrode off**: an RMS below ``min_noise_uv`` (0.3 µV, under the ~1 µV noise of any
  EMG amplifier front end, Merletti & Cerone 2020) is no signal — an electrode off or a
  broken lead; above ``loose_noise_uv`` (100 µV at rest) an electrode loose or off (the
  open input picks up everything).
* **mains interference**: the 50 or 60 Hz component (fundamental and harmonics, measured
  on the spectrum above the local noise floor) at most ``max_mains_uv`` RMS (default:
  the baseline-noise limit, so mains alone cannot use up the noise budget); the
  signal-to-power-line ratio is reported too (CleanEMG, Abser et al. 2011: below
  about 9 dB removing the hum adds more error than it removes). With
  ``mains_notched=True`` (the drill's chain has a notch) mains is reported, not failed.
* **saturation**: at most ``max_saturated`` (0.1 %) of the raw samples at the rail
  (:func:`nmre.core.ranges.channel_limits`).

IMU / accelerometer (per sensor):

* **still**: gyroscope norm below 6 °/s on average (nmre's stillness threshold for worn
  MEMS gyros, whose bias alone reaches 3.5 °/s in norm; Fusion uses 3 °/s) and the
  accelerometer norm's SD below 0.5 m/s² (VQF's rest threshold, Laidig & Seel 2023);
* **gravity**: the mean accelerometer norm within 9.81 ± 1 m/s² (a sensor that reads
  1.0 at rest sends g, not m/s²; one that reads 0 is not sending acceleration).

Packet loss (samples missing against the nominal rate, from ``missing_before`` and from jumps
in the sample times):

* **EMG** fails a stretch when more than ``max_missing`` of its samples are missing
  (:data:`EMG_MAX_MISSING`, 10 %) or one hole is longer than ``max_hole``
  (:data:`EMG_MAX_HOLE`, 0.25 s); a few lost BLE packets do not fail it. The checks above
  run on the samples received, each at its own time (the holes left empty, the spectrum
  rescaled by the share received), so a lost packet neither reads as noise nor moves the
  mains estimate.
* **IMU / accelerometer** loss is reported (``missing``, ``longest_hole_s`` in the checks,
  and in the gate's message), never a failure: stillness and gravity are means that a
  few missing samples do not change, and each rep's quality gate judges the loss that
  matters. Only a stretch with no sample at all cannot be checked.

Non-finite samples of an IMU fail its stretch ("not finite"). The gate
passes when the latest stretch of every stream passes in one round; it raises
``readiness.fail`` (payload: the problems per stream, the measured values) whenever
the set of problems changes, ``readiness.pass`` once, and ``readiness.override`` when
the therapist opens it (:meth:`ReadinessGate.override`, with the reason). A drill's
rules run behind it (:class:`nmre.calibration.Gated`) so nothing is judged on signals
that were never ready.

References
----------
Konrad P. (2005) The ABC of EMG, Noraxon U.S.A., p. 17 (baseline quality).
Merletti R., Cerone G.L. (2020) Tutorial. Surface EMG detection, conditioning and
pre-processing: best practices, J Electromyogr Kinesiol 54:102440.
Abser N., MacIsaac D., Chan A.D.C., Green J.R. (2011) CleanEMG: quantifying power line
interference in surface EMG signals, CMBES Proc. 34.
Laidig D., Seel T. (2023) VQF: highly accurate IMU orientation estimation with bias
estimation and magnetic disturbance rejection, Information Fusion 91:187–204.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from nmre.calibration.record import Calibration, ReadinessResult, muscles_of
from nmre.calibration.steps import StepState
from nmre.core import kinds
from nmre.core.model import Block, Event, StreamInfo, StreamKind
from nmre.core.ranges import channel_limits
from nmre.dsp.filters import SosFilter
from nmre.engine.nodes import Node
from nmre.errors import ConfigError, StateError, expected
from nmre.quality.needs import MAX_GAP, MAX_MISSING

__all__ = [
    "EMG_LIMITS",
    "EMG_MAX_HOLE",
    "EMG_MAX_MISSING",
    "IMU_LIMITS",
    "UV_PER_UNIT",
    "EmgLimits",
    "ImuLimits",
    "Problem",
    "ReadinessGate",
    "emg_readiness",
    "imu_readiness",
    "mains_component",
    "uv_per_unit",
]

F64 = NDArray[np.float64]
GRAVITY = 9.80665


class Problem(NamedTuple):
    """One failed check: ``code`` (``"<name>.<check>"``, stable for comparison) and the sentence shown."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


#: Largest share of an EMG stretch's samples that may be missing. The same limit as a rule's span
#: (:data:`nmre.quality.needs.MAX_MISSING`): a stretch a rule would not judge on cannot certify a
#: signal. Below it the checks hold: with the holes left empty and the spectrum rescaled, 10 % of
#: 10 ms packets lost leaves the noise and mains estimates of a rest signal (2 µV in band, 6 µV of
#: hum) within 0.6 µV of the loss-free ones over 10 seeds (docs/calibration.md); closing the samples
#: up across the holes instead read the hum as noise (2 µV -> 7 µV of "noise" at 10 % loss).
EMG_MAX_MISSING = MAX_MISSING
#: Longest hole in an EMG stretch, s. A quarter of the 1 s check window: a longer hole leaves too
#: little of the stretch for its 1 Hz spectral bins, and it is the limit beyond which a rule's span
#: is not judged (:data:`nmre.quality.needs.MAX_GAP`: a hole that long is a dropout, not a lost packet).
EMG_MAX_HOLE = MAX_GAP


@dataclass(frozen=True)
class EmgLimits:
    """Readiness limits for surface EMG at rest (sources in the module docstring)."""

    max_noise_uv: float = 10.0
    min_noise_uv: float = 0.3
    loose_noise_uv: float = 100.0
    max_mains_uv: float = 10.0
    max_saturated: float = 0.001
    mains_notched: bool = False
    band: tuple[float, float] = (20.0, 450.0)
    max_missing: float = EMG_MAX_MISSING
    max_hole: float = EMG_MAX_HOLE


@dataclass(frozen=True)
class ImuLimits:
    """Readiness limits for an IMU or accelerometer held still (sources in the module docstring)."""

    max_gyro: float = math.radians(6.0)
    max_acc_sd: float = 0.5
    gravity_tolerance: float = 1.0


EMG_LIMITS = EmgLimits()
IMU_LIMITS = ImuLimits()


def mains_component(
    x: F64, fs: float, mains: float, present: NDArray[np.bool_] | None = None
) -> tuple[float, float]:
    """RMS of the mains component (fundamental + harmonics below the band edge) and of the rest, same unit.

    Hann-windowed periodogram of ``x`` (one channel, mean removed); the power in
    ±1.5 Hz around each harmonic ``h·mains`` above the local noise floor (the median
    of the bins 3–10 Hz away divided by ln 2, the mean of exponentially distributed
    periodogram bins) is the mains power.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Band-passed signal, any unit.
    fs : float
        Sampling rate, Hz (the window should span at least 1 s for 1 Hz bins).
    mains : float
        50 or 60 Hz.
    present : ndarray of bool, shape (n,), optional
        Which samples were received (a lost packet leaves its samples ``False``, each
        received sample at its own time). The missing ones count as 0 and the powers are
        rescaled by the share ``r`` received: the mains line's by ``1/r²`` (its
        amplitude scales with ``r``), the total's by ``1/r``.

    Returns
    -------
    mains_rms, rest_rms : float
    """
    p, share = _power(x, present)
    return _mains(p, share, x.shape[0], fs, mains)


def _power(x: F64, present: NDArray[np.bool_] | None) -> tuple[F64, float]:
    """The one-sided Hann periodogram of :func:`mains_component` and the share received (``p`` empty if 0)."""
    n = x.shape[0]
    share = 1.0
    if present is not None and not present.all():
        share = float(present.mean())
        if share == 0.0:
            return _NO_POWER, 0.0
        x = np.where(present, x - x[present].mean(), 0.0)
    w, w2 = _hann(n)
    spec = np.fft.rfft((x - x.mean()) * w)
    # one-sided power per bin, scaled so that sum(p) = mean(x^2) (Parseval with the window's power)
    p = np.abs(spec) ** 2 / (n * w2)
    p[1:-1] *= 2.0
    return p, share


_NO_POWER = np.zeros(0)


@functools.lru_cache(maxsize=16)
def _hann(n: int) -> tuple[F64, np.float64]:
    """The Hann window of ``n`` samples and ``sum(w**2)`` (the same for every channel and window)."""
    w = np.hanning(n)
    w.setflags(write=False)
    return w, np.sum(w**2)


@functools.lru_cache(maxsize=16)
def _harmonics(n: int, fs: float, mains: float) -> tuple[tuple[NDArray[np.intp], NDArray[np.intp]], ...]:
    """Per harmonic below the band edge: the bins within 1.5 Hz, and those 3-10 Hz away (where both exist)."""
    f = np.fft.rfftfreq(n, 1.0 / fs)
    out = []
    h = 1
    while h * mains < min(0.5 * fs - 10.0, 500.0):
        f0 = h * mains
        near = np.abs(f - f0) <= 1.5
        around = (np.abs(f - f0) <= 10.0) & ~(np.abs(f - f0) <= 3.0)
        if near.any() and around.any():
            out.append((np.flatnonzero(near), np.flatnonzero(around)))
        h += 1
    return tuple(out)


def _median(x: F64) -> float:
    """``np.median`` of a short 1-D array (the middle value, or the mean of the two middle ones; NaN if any is)."""
    v = x.tolist()
    if any(a != a for a in v):
        return math.nan
    v.sort()
    m = len(v)
    return float(v[m // 2]) if m % 2 else (v[m // 2 - 1] + v[m // 2]) / 2.0


def _mains(p: F64, share: float, n: int, fs: float, mains: float) -> tuple[float, float]:
    """:func:`mains_component` from the periodogram ``p`` of :func:`_power` (one per channel, both mains)."""
    if share == 0.0:
        return 0.0, 0.0
    total = float(p.sum())
    hum = 0.0
    for near, around in _harmonics(n, fs, mains):
        floor = _median(p[around]) / math.log(2.0)  # median of exponential bins = ln 2 x mean
        hum += float(p[near].sum()) - floor * int(near.shape[0])  # signed: noise averages out over harmonics
    hum = max(0.0, hum) / share**2
    total /= share
    return math.sqrt(hum), math.sqrt(max(0.0, total - hum))


#: µV per unit of an EMG channel, by its unit. A unit not here (a device's raw ``counts``: the Myo publishes
#: no scale to volts) has none: the limits in µV cannot be checked on it.
UV_PER_UNIT: dict[str, float] = {"V": 1e6, "mV": 1e3, "uV": 1.0, "µV": 1.0}


def uv_per_unit(unit: str) -> float | None:
    """µV per unit of an EMG channel in ``unit``, or None when the unit has no scale to volts."""
    return UV_PER_UNIT.get(unit)


def emg_readiness(
    bandpassed: F64,
    fs: float,
    saturated: Sequence[float] | F64,
    limits: EmgLimits = EMG_LIMITS,
    names: Sequence[str] | None = None,
    present: NDArray[np.bool_] | None = None,
    scale_uv: Sequence[float | None] | None = None,
) -> tuple[dict[str, float | None], list[Problem]]:
    """Check one stretch of band-passed EMG at rest.

    Parameters
    ----------
    bandpassed : ndarray, shape (n_channels, n_samples)
        Band-passed EMG, mV.
    fs : float
        Sampling rate, Hz.
    saturated : sequence of float, shape (n_channels,)
        Fraction of the raw samples at or beyond the rail, per channel.
    limits : EmgLimits
    names : sequence of str, optional
        Channel names for the messages (default ``ch0`` ...).
    present : ndarray of bool, shape (n_samples,), optional
        Which samples were received (see :func:`mains_component`); the baseline noise is
        taken over those only. Loss itself is judged by the gate, not here.
    scale_uv : sequence of float or None, shape (n_channels,), optional
        µV per unit of each channel (default 1000: mV). ``None`` for a channel whose unit
        has no scale to volts (raw counts): its noise, flat, loose and mains checks,
        whose limits are in µV, are not made (reported ``None``), rather than reading
        counts as millivolts; saturation still is.

    Returns
    -------
    checks : dict
        ``<name>.noise_uv``, ``<name>.mains_uv`` (the worse of 50 and 60 Hz),
        ``<name>.mains_hz``, ``<name>.spir_db``, ``<name>.saturated``.
    problems : list of Problem
        One per failed check (code and sentence), empty when ready.
    """
    x = np.asarray(bandpassed, dtype=np.float64)
    names = list(names) if names is not None else [f"ch{i}" for i in range(x.shape[0])]
    checks: dict[str, float | None] = {}
    problems: list[Problem] = []
    for c, name in enumerate(names):
        row = x[c]
        scale = 1000.0 if scale_uv is None else scale_uv[c]
        uv = 1.0 if scale is None else scale
        best = (0.0, 50.0, math.inf)
        got = row if present is None else row[present]
        noise = uv * float(np.sqrt(np.mean((got - got.mean()) ** 2))) if got.size else 0.0
        power, share = _power(row, present)  # the one spectrum both mains frequencies are read from
        for hz in (50.0, 60.0):
            m, rest = _mains(power, share, row.shape[0], fs, hz)
            if uv * m > best[0]:
                spir = 20.0 * math.log10(rest / m) if m > 0 and rest > 0 else math.inf
                best = (uv * m, hz, spir)
                noise = uv * rest  # the baseline noise without the hum (mains is its own check)
        sat = float(saturated[c])
        checks[f"{name}.noise_uv"] = None if scale is None else round(noise, 3)
        checks[f"{name}.mains_uv"] = None if scale is None else round(best[0], 3)
        checks[f"{name}.mains_hz"] = best[1]
        checks[f"{name}.spir_db"] = None if not math.isfinite(best[2]) else round(best[2], 1)
        checks[f"{name}.saturated"] = round(sat, 5)

        def bad(code: str, text: str, name: str = name) -> None:
            problems.append(Problem(f"{name}.{code}", f"{name}: {text}"))

        if sat > limits.max_saturated:
            bad(
                "saturated", f"{100 * sat:.1f} % of samples at the rail (saturated; check gain and electrode)"
            )
        if scale is None:  # no scale to volts: the µV limits cannot be checked (saturation was)
            continue
        if noise < limits.min_noise_uv:
            bad("flat", f"no signal ({noise:.2f} µV): electrode off or lead broken")
        elif noise > limits.loose_noise_uv:
            bad("loose", f"{noise:.0f} µV of noise at rest: electrode loose or off")
        elif noise > limits.max_noise_uv:
            bad(
                "noise",
                f"baseline noise {noise:.1f} µV above {limits.max_noise_uv:g} µV: "
                "not at rest, or a noisy electrode (skin preparation, contact)",
            )
        if best[0] > limits.max_mains_uv and not limits.mains_notched and noise <= limits.loose_noise_uv:
            bad(
                "mains",
                f"{best[1]:g} Hz mains {best[0]:.1f} µV above {limits.max_mains_uv:g} µV "
                "(cables, ground electrode, nearby equipment)",
            )
    return checks, problems


def imu_readiness(
    acc: F64, gyr: F64 | None, limits: ImuLimits = IMU_LIMITS, name: str = "imu"
) -> tuple[dict[str, float | None], list[Problem]]:
    """Check one stretch of an IMU (or accelerometer) that should be held still.

    Parameters
    ----------
    acc : ndarray, shape (3, n)
        Accelerometer, m/s².
    gyr : ndarray, shape (3, n), optional
        Gyroscope, rad/s (None for an accelerometer-only sensor).
    limits : ImuLimits
    name : str
        The sensor's name in the messages.

    Returns
    -------
    checks, problems
        ``gravity`` (mean accelerometer norm, m/s²), ``acc_sd`` (RMS distance of the
        samples from their mean vector, m/s²), ``gyro_dps`` (mean gyroscope norm,
        °/s); one :class:`Problem` per failed check.
    """
    av = np.asarray(acc, dtype=np.float64)
    g = float(np.linalg.norm(av, axis=0).mean())
    sd = float(np.sqrt(np.mean(np.sum((av - av.mean(axis=1, keepdims=True)) ** 2, axis=0))))
    checks: dict[str, float | None] = {"gravity": round(g, 4), "acc_sd": round(sd, 4)}
    problems: list[Problem] = []
    if abs(g - GRAVITY) > limits.gravity_tolerance:
        problems.append(
            Problem(
                f"{name}.gravity",
                f"{name}: the accelerometer reads {g:.2f} m/s² at rest, expected {GRAVITY:.2f} "
                "(units or a sensor that is not sending acceleration)",
            )
        )
    moving = sd > limits.max_acc_sd
    if gyr is not None:
        w = float(np.linalg.norm(np.asarray(gyr, dtype=np.float64), axis=0).mean())
        checks["gyro_dps"] = round(math.degrees(w), 3)
        moving = moving or w > limits.max_gyro
    if moving:
        problems.append(Problem(f"{name}.moving", f"{name}: moving; hold still"))
    return checks, problems


class _Window:
    """Tumbling window of one stream (``n`` sample slots at the nominal rate) with the check that runs on it.

    A lost packet leaves its slots empty (``present`` False) rather than closing up the
    samples around it, so each received sample keeps its time; the slots come from
    ``missing_before`` or, where it says nothing, from a jump in the sample times.
    """

    def __init__(self, info: StreamInfo, seconds: float, emg: EmgLimits, imu: ImuLimits) -> None:
        self.info = info
        self.limits_emg, self.limits_imu = emg, imu
        self.n = max(16, round(seconds * info.rate))
        self.buf = np.zeros((info.n_channels, self.n))
        self.present = np.zeros(self.n, dtype=bool)
        self.fill = 0
        self.hole = 0  # longest run of missing samples touching this window
        self.sat = np.zeros(info.n_channels)
        self.rail = channel_limits(info)[0]
        self._last_t: float | None = None
        self.bp: SosFilter | None = None
        if info.kind is StreamKind.EMG:
            hi = min(emg.band[1], 0.45 * info.rate)
            if not emg.band[0] < hi:
                raise ConfigError(
                    f"readiness gate: EMG stream {info.id!r} at {info.rate:g} Hz: "
                    + expected(f"a rate above {2 * emg.band[0] / 0.45:.0f} Hz", info.rate)
                )
            self.bp = SosFilter.bandpass(emg.band[0], hi, info.rate, info.n_channels)
        self.result: tuple[dict[str, float | None], list[Problem]] | None = None
        #: Completed windows not yet judged by the gate: (sample time of the window's last slot, result).
        self.rounds: deque[tuple[float, tuple[dict[str, float | None], list[Problem]]]] = deque()
        self._slot_t = math.nan  # sample time of the last slot filled

    def push(self, block: Block) -> bool:
        """Add samples; True when a window completed (its check is in ``result``)."""
        lost = block.missing_before
        n = block.times.shape[0]
        if n:
            t0 = float(block.times[0])
            if self._last_t is not None:
                lost = max(lost, round((t0 - self._last_t) * self.info.rate) - 1)
            self._last_t = float(block.times[-1])
        done = self._skip(lost) if lost > 0 else False
        if not n:
            return done
        v = block.values
        sat = None  # an IMU's: none counted (adding its zeros changed no count)
        if self.bp is not None:
            sat = np.abs(v) >= self.rail[:, None]
            # np.nan_to_num only where a value is not finite (its copy of a finite block is the block)
            finite = bool(np.isfinite(v).all()) if v.dtype == np.float64 else False
            v = self.bp.process(Block(block.stream, block.times, v if finite else np.nan_to_num(v))).values
        i = 0
        while i < v.shape[1]:
            k = min(self.n - self.fill, v.shape[1] - i)
            self.buf[:, self.fill : self.fill + k] = v[:, i : i + k]
            self.present[self.fill : self.fill + k] = True
            if sat is not None:
                self.sat += sat[:, i : i + k].sum(axis=1)
            self.fill += k
            self._slot_t = float(block.times[i + k - 1])
            i += k
            if self.fill == self.n:
                done = self._complete() or done
        return done

    def _skip(self, lost: int) -> bool:
        """Leave ``lost`` slots empty (the band-pass runs on zeros meanwhile so that it stays in time)."""
        if self.bp is not None:
            z = min(lost, self.n)
            self.bp.process(
                Block(self.info.id, np.arange(z, dtype=np.float64), np.zeros((self.info.n_channels, z)))
            )
        done = False
        left = lost
        while left:
            k = min(self.n - self.fill, left)
            self.buf[:, self.fill : self.fill + k] = 0.0
            self.present[self.fill : self.fill + k] = False
            self.hole = max(self.hole, lost)
            self.fill += k
            self._slot_t += k / self.info.rate  # NaN until the first sample: a window of none has no time
            left -= k
            if self.fill == self.n:
                done = self._complete() or done
                if left > self.n:  # whole windows without a sample: only the last one is kept
                    left = self.n + left % self.n
        return done

    def _complete(self) -> bool:
        self.result = self._check()
        self.rounds.append((self._slot_t, self.result))
        self.fill, self.hole = 0, 0
        self.sat[...] = 0.0
        return True

    def _check(self) -> tuple[dict[str, float | None], list[Problem]]:
        info = self.info
        got = int(self.present.sum())
        missing = 1.0 - got / self.n
        hole = self.hole / info.rate
        loss: dict[str, float | None] = {"missing": round(missing, 4), "longest_hole_s": round(hole, 3)}
        if got == 0:
            return loss, [
                Problem(f"{info.id}.missing", f"{info.id}: no samples for {hole:.1f} s; check the link")
            ]
        if info.kind is StreamKind.EMG:
            lim = self.limits_emg
            problems: list[Problem] = []
            if missing > lim.max_missing:
                problems.append(
                    Problem(
                        f"{info.id}.missing",
                        f"{info.id}: {100 * missing:.0f} % of samples missing (limit {100 * lim.max_missing:.0f} %); "
                        "check the link (distance, obstacles, other radios)",
                    )
                )
            if hole > lim.max_hole:
                problems.append(
                    Problem(
                        f"{info.id}.hole",
                        f"{info.id}: no samples for {hole:.2f} s in one stretch (limit {lim.max_hole:g} s); "
                        "check the link",
                    )
                )
            checks, found = emg_readiness(
                self.buf,
                info.rate,
                self.sat / got,
                lim,
                muscles_of(info.channels),
                self.present,
                [uv_per_unit(c.unit) for c in info.channels],
            )
            return {**loss, **checks}, problems + found
        x = self.buf[:, self.present]
        if not np.all(np.isfinite(x)):
            return loss, [Problem(f"{info.id}.finite", f"{info.id}: samples not finite; check the sensor")]
        gyr = x[3:6] if info.kind is StreamKind.IMU else None
        checks, found = imu_readiness(x[0:3], gyr, self.limits_imu, info.id)
        return {**loss, **checks}, found


_CHECKED = (StreamKind.EMG, StreamKind.IMU, StreamKind.ACC)


class ReadinessGate(Node):
    """Blocks the drill until every signal is ready, or the therapist overrides (see the module docstring).

    Parameters
    ----------
    streams : sequence of str
        Ids of the EMG, IMU and accelerometer streams to check.
    window : float
        Seconds per check (1 s: 1 Hz spectral bins for the mains estimate).
    emg, imu : EmgLimits, ImuLimits
        Limits (named defaults with sources).
    record : Calibration, optional
        Where the outcome goes (``record.readiness``).

    :attr:`open` is True once passed or overridden; :meth:`status` gives
    ``(state, waiting_for)`` like every calibration step.
    """

    step = "readiness"

    def __init__(
        self,
        streams: Sequence[str],
        *,
        window: float = 1.0,
        emg: EmgLimits = EMG_LIMITS,
        imu: ImuLimits = IMU_LIMITS,
        record: Calibration | None = None,
    ) -> None:
        if not streams:
            raise ConfigError("readiness gate: expected at least one stream to check, got none")
        if not (isinstance(window, (int, float)) and math.isfinite(window) and window >= 0.25):
            raise ConfigError("readiness gate: window " + expected("seconds >= 0.25", window))
        self.inputs = tuple(streams)
        self.name = "readiness"
        self.window = float(window)
        self.emg, self.imu = emg, imu
        self.record = record if record is not None else Calibration()
        self._windows: dict[str, _Window] = {}
        self.reset()

    def bind(self, infos: Mapping[str, StreamInfo]) -> Sequence[StreamInfo]:
        self._windows = {}
        for s in self.inputs:
            info = infos.get(s)
            if info is None or info.kind not in _CHECKED:
                known = ", ".join(f"{k} ({v.kind.value})" for k, v in sorted(infos.items())) or "none"
                raise ConfigError(
                    f"readiness gate: expected an EMG, IMU or accelerometer stream {s!r}, known: {known}"
                )
            self._windows[s] = _Window(info, self.window, self.emg, self.imu)
        return []

    def reset(self) -> None:
        self._state = StepState.WAITING
        self._waiting_for = "the first second of every signal"
        self._events: list[Event] = []
        self._last_codes: set[str] | None = None
        self.problems: dict[str, list[str]] = {}
        self.checks: dict[str, dict[str, float | None]] = {}
        for s, w in self._windows.items():
            self._windows[s] = _Window(w.info, self.window, self.emg, self.imu)

    @property
    def open(self) -> bool:
        """True once the gate passed or the therapist overrode it."""
        return self._state in (StepState.DONE, StepState.OVERRIDDEN)

    @property
    def opened_at(self) -> float | None:
        """The sample time the gate opened at (the passing round's end, or the override's), None while closed."""
        res = self.record.readiness
        return float(res.time) if self.open and res is not None else None

    @property
    def state(self) -> StepState:
        return self._state

    def status(self) -> tuple[StepState, str]:
        return self._state, self._waiting_for

    def override(self, reason: str, by: str = "therapist", time: float | None = None) -> None:
        """Open a gate that has not passed, saying why (recorded; required, non-empty)."""
        if not (isinstance(reason, str) and reason.strip()):
            raise ConfigError("readiness override: " + expected("a reason in words", reason))
        if self.open:
            raise StateError(
                f"readiness gate: expected a closed gate to override, but it is {self._state.value}"
            )
        self._state = StepState.OVERRIDDEN
        self._waiting_for = "nothing: overridden"
        t = self._last_time if time is None else float(time)
        res = ReadinessResult("override", t, self.problems, self.checks, reason.strip(), by)
        self.record.readiness = res
        open_problems = "; ".join(p for ps in self.problems.values() for p in ps) or "none found yet"
        self._events.append(
            Event(
                t,
                kinds.READINESS_OVERRIDE,
                self.name,
                res.to_dict(),
                therapist_message=f"signal check overridden by {by}: {reason.strip()} (open problems: {open_problems})",
            )
        )

    def push(self, block: Block) -> list[Block]:
        n = block.times.shape[0]
        if self.open or (n == 0 and not block.missing_before):
            return []
        w = self._windows.get(block.stream)
        if w is None:
            return []
        self._last_time = float(block.times[n - 1]) if n else self._last_time
        w.push(block)
        # Judged round by round: the k-th window of every stream together, at the sample time the last
        # of them ended, so the outcome and its time are the same however the streams were cut into blocks.
        while all(x.rounds for x in self._windows.values()):
            done = {sid: x.rounds.popleft() for sid, x in self._windows.items()}
            ends = [end for end, _ in done.values() if end == end]
            self._judge({sid: r for sid, (_, r) in done.items()}, max(ends) if ends else self._last_time)
            if self.open:
                return []
        if not self.checks:
            pending = [sid for sid, x in self._windows.items() if not x.rounds and x.result is None]
            if pending:
                self._waiting_for = "the first second of " + ", ".join(pending)
        return []

    def _judge(self, results: Mapping[str, tuple[dict[str, float | None], list[Problem]]], t: float) -> None:
        self.checks = {sid: r[0] for sid, r in results.items()}
        found = {sid: r[1] for sid, r in results.items() if r[1]}
        self.problems = {sid: [p.text for p in ps] for sid, ps in found.items()}
        codes = {f"{sid}:{p.code}" for sid, ps in found.items() for p in ps}
        if not self.problems:
            self._state = StepState.DONE
            self._waiting_for = "nothing: ready"
            res = ReadinessResult("pass", t, {}, self.checks)
            self.record.readiness = res
            lost = [
                f"{sid} {100 * (c.get('missing') or 0.0):.0f} % (longest hole {c.get('longest_hole_s') or 0.0:.2f} s)"
                for sid, c in self.checks.items()
                if c.get("missing")
            ]
            msg = "signals ready" + ("; samples lost (not a failure): " + ", ".join(lost) if lost else "")
            self._events.append(
                Event(t, kinds.READINESS_PASS, self.name, res.to_dict(), therapist_message=msg)
            )
            return
        self._state = StepState.FAILED
        self._waiting_for = "; ".join(p for ps in self.problems.values() for p in ps)
        if codes != self._last_codes:  # said again only when what is wrong changes, not its numbers
            self._last_codes = codes
            res = ReadinessResult("fail", t, self.problems, self.checks)
            self.record.readiness = res
            self._events.append(
                Event(
                    t,
                    kinds.READINESS_FAIL,
                    self.name,
                    res.to_dict(),
                    therapist_message="signals not ready: " + self._waiting_for,
                )
            )

    _last_time = 0.0

    def route(self) -> Node | None:
        """``None`` once open with its events popped: an open gate does nothing with a block."""
        return None if self.open and not self._events else self

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out
