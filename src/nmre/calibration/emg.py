"""EMG calibration steps: the rest baseline over a stretch verified quiet, and the reference contraction.

* :class:`EmgRestBaseline` — while the patient rests, runs the session's own
  conditionings (``"timing"``: band-pass → TKEO → rectify → 30 Hz low-pass, for onsets;
  ``"envelope"``: the 6 Hz linear envelope, for contraction levels) and waits for a
  stretch of ``duration`` seconds that is **quiet**: every half-second sub-window of
  the envelope within ``max_spread`` (2×) of the quietest, and the readiness gate
  passed (if one is given), and every channel's band-passed RMS within the gate's
  baseline-noise limit (a steady contraction is stationary too). Lost packets do not
  break the stretch, within the readiness gate's limits (no hole longer than
  ``EMG_MAX_HOLE``, at most ``EMG_MAX_MISSING`` of it missing): the statistics are taken
  over the samples received. A longer hole or a non-finite sample starts it again. The baseline is the median and 1.4826·MAD of each
  conditioned signal over that stretch (:func:`nmre.dsp.onset.robust_baseline`), in
  that signal's units; the band-passed RMS (µV) is recorded for the therapist. A
  stretch with a contraction, a ramp or a twitch is not taken: the step keeps waiting
  and says which muscle is not at rest.
* :class:`EmgReference` — the reference for %-reference normalisation: maximal
  voluntary contractions (``"mvc"``, the largest of ``trials``; Konrad 2005: 2–3 trials
  of 3–5 s), a sub-maximal reference contraction (``"submax"``, the mean of the
  trials; Halaki & Ginn 2012 for patients who cannot give a true MVC), or the same
  muscle on the other side (``"contralateral"``). Each trial is a contraction found by
  :class:`nmre.dsp.onset.ContractionDetector` on the envelope that is held at least
  ``hold`` seconds; its value is the peak of the ``window``-second moving mean of the
  envelope during it, in the envelope's unit, so a drill's ``Normalizer`` divides the
  same envelope by it. That is the mean amplitude of the trial's highest signal portion
  of a fixed duration (Konrad, *The ABC of EMG*, Noraxon 2005, pp. 30–35: the envelope
  averaged over a fixed period, the highest such average the reference; 500 ms or 1 s
  windows), with the duration :data:`MVC_WINDOW` (1 s) by default: the peak of a moving
  mean of a fluctuating envelope lies above the plateau it averages, by more the shorter
  the window (a constructed MVC with a known 3 s plateau, band-limited Gaussian EMG and
  the 6 Hz envelope: +8.6 % with 0.5 s, +4.8 % with 1 s; docs/calibration.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from nmre.calibration.readiness import (
    EMG_LIMITS,
    EMG_MAX_HOLE,
    EMG_MAX_MISSING,
    EmgLimits,
    ReadinessGate,
    uv_per_unit,
)
from nmre.calibration.record import Calibration, EmgRest, muscles_of
from nmre.calibration.record import EmgReference as EmgReferenceResult
from nmre.calibration.steps import CalibrationStep
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Event, StreamKind
from nmre.dsp.emg import EmgChain, LinearEnvelope, Rectifier, Tkeo
from nmre.dsp.filters import SosFilter
from nmre.dsp.onset import ContractionDetector, quiet_baseline, robust_baseline
from nmre.dsp.pipeline import Pipeline
from nmre.errors import ConfigError, expected

__all__ = ["CONDITIONINGS", "MVC_WINDOW", "EmgReference", "EmgRestBaseline", "envelope_chain", "timing_chain"]

F64 = NDArray[np.float64]
Factory = Callable[[int, float], Processor]


def timing_chain(n_channels: int, fs: float) -> Processor:
    """Onset conditioning: band-pass 20–450 Hz → TKEO → rectify → 2nd-order 30 Hz low-pass (dsp.md §1.2)."""
    hi = min(450.0, 0.45 * fs)
    return Pipeline(
        [
            SosFilter.bandpass(20.0, hi, fs, n_channels),
            Tkeo(n_channels),
            Rectifier(n_channels),
            LinearEnvelope(n_channels, fs, 30.0),
        ]
    )


def envelope_chain(n_channels: int, fs: float) -> Processor:
    """Amplitude conditioning: band-pass 20–450 Hz → rectify → 2nd-order 6 Hz low-pass, mV (:class:`EmgChain`)."""
    return EmgChain(n_channels, fs, band=(20.0, min(450.0, 0.45 * fs)))


#: Duration of the highest signal portion whose mean amplitude is a reference trial's value, s (Konrad,
#: The ABC of EMG, Noraxon 2005, pp. 30-35: the mean of the highest 500 ms or 1 s of the envelope). 1 s:
#: the peak of a moving mean over a fluctuating plateau is biased up, half as much with 1 s as with 0.5 s
#: (tests/calibration/test_steps.py, a constructed MVC of known plateau; docs/calibration.md).
MVC_WINDOW = 1.0

#: The conditionings a rest baseline is recorded for by default (name -> factory(n_channels, fs)).
CONDITIONINGS: Mapping[str, Factory] = {"timing": timing_chain, "envelope": envelope_chain}


def _emg_info_check(step: CalibrationStep, stream: str) -> None:
    info = step.infos[stream]
    if info.kind is not StreamKind.EMG or not info.rate > 0:
        raise ConfigError(
            f"{step.kind}: expected an EMG stream {stream!r} with a rate, got {info.kind.value}"
        )


class EmgRestBaseline(CalibrationStep):
    """Rest baseline of one EMG stream over a stretch verified quiet (see the module docstring).

    Parameters
    ----------
    stream : str
        EMG stream id.
    duration : float
        Length of the quiet stretch, seconds (2 s).
    settle : float
        Seconds skipped after the first sample so the filters settle (0.5 s).
    conditionings : mapping of name to factory(n_channels, fs), optional
        The conditioned signals to take baselines of (default :data:`CONDITIONINGS`);
        must contain ``"envelope"``, whose stationarity decides what is quiet.
    gate : ReadinessGate, optional
        A stretch only counts once the gate is open.
    max_spread : float
        Highest over lowest sub-window median of the envelope allowed (2).
    limits : EmgLimits, optional
        The band-passed RMS of every channel must also be within ``max_noise_uv``
        (a steady contraction is stationary too); after the therapist overrode a
        noisy gate, the stationarity alone decides. Default: the gate's limits.
    record, autostart, timeout
        As for :class:`~nmre.calibration.steps.CalibrationStep`.
    """

    def __init__(
        self,
        stream: str,
        *,
        duration: float = 2.0,
        settle: float = 0.5,
        conditionings: Mapping[str, Factory] | None = None,
        gate: ReadinessGate | None = None,
        max_spread: float = 2.0,
        limits: EmgLimits | None = None,
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
    ) -> None:
        super().__init__("emg_rest", (stream,), record=record, autostart=autostart, timeout=timeout)
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration >= 1.0):
            raise ConfigError(
                f"{self.kind}: duration " + expected("seconds >= 1 (two half-second windows)", duration)
            )
        if not (isinstance(settle, (int, float)) and math.isfinite(settle) and settle >= 0):
            raise ConfigError(f"{self.kind}: settle " + expected("seconds >= 0", settle))
        if not (isinstance(max_spread, (int, float)) and max_spread > 1):
            raise ConfigError(f"{self.kind}: max_spread " + expected("a factor > 1", max_spread))
        self.conditionings = dict(conditionings or CONDITIONINGS)
        if "envelope" not in self.conditionings:
            raise ConfigError(
                f"{self.kind}: expected an 'envelope' conditioning among {sorted(self.conditionings)}"
            )
        self.stream = stream
        self.duration, self.settle, self.max_spread = float(duration), float(settle), float(max_spread)
        self.gate = gate
        self.limits = limits or (gate.emg if gate is not None else EMG_LIMITS)
        self._procs: dict[str, Processor] = {}

    def _bind(self) -> None:
        _emg_info_check(self, self.stream)
        info = self.infos[self.stream]
        self.muscles = muscles_of(info.channels)
        self.fs = info.rate
        # µV per unit; a channel in raw counts has no scale to volts: its noise limit is not checked (NaN
        # RMS, never above the limit), the stationarity of its envelope alone decides
        self._uv = np.array([uv_per_unit(c.unit) or math.nan for c in info.channels])
        self._make()

    def _make(self) -> None:
        n, fs = len(self.muscles), self.fs
        self._procs = {k: f(n, fs) for k, f in self.conditionings.items()}
        self._bp = SosFilter.bandpass(20.0, min(450.0, 0.45 * fs), fs, n)
        self._cap = round(self.duration * fs)
        self._step = round(0.5 * fs)
        self._rings = {k: np.zeros((n, self._cap)) for k in [*self._procs, "_raw"]}
        self._ring_t = np.zeros(self._cap)
        self._ring_lost = np.zeros(self._cap)  # samples lost just before each received one
        self._last_t: float | None = None
        self._pos = 0
        self._fill = 0
        self._since = 0
        self._loud: list[str] = []
        self._t0: float | None = None

    def reset(self) -> None:
        super().reset()
        if self._procs:
            self._make()

    def _observe(self, block: Block) -> None:
        self._condition(block)  # keep the filters settled while pending

    def _condition(self, block: Block) -> dict[str, F64]:
        out = {k: p.process(block).values for k, p in self._procs.items()}
        out["_raw"] = self._bp.process(block).values
        if self._t0 is None and block.n_samples:
            self._t0 = float(block.times[0])
        return out

    def _push(self, block: Block) -> None:
        sig = self._condition(block)
        assert self._t0 is not None
        lost = block.missing_before
        if block.n_samples:
            if self._last_t is not None:  # a jump in the sample times is a hole too
                lost = max(lost, round((float(block.times[0]) - self._last_t) * self.fs) - 1)
            self._last_t = float(block.times[-1])
        if lost > EMG_MAX_HOLE * self.fs or not np.all(np.isfinite(block.values)):
            # a dropout or a bad sample breaks the stretch; a lost packet does not (the readiness gate's
            # limits: holes up to EMG_MAX_HOLE, at most EMG_MAX_MISSING of the stretch, checked in _try)
            self._fill = 0
            lost = 0
        idx = np.flatnonzero(block.times >= self._t0 + self.settle)
        if idx.size == 0:
            self._wait("the filters to settle")
            return
        i = int(idx[0])
        n = block.n_samples
        first = True
        while i < n:  # ring buffers of the last `duration` seconds, checked every half second
            k = min(n - i, self._step - self._since, self._cap - self._pos)
            for name, v in sig.items():
                self._rings[name][:, self._pos : self._pos + k] = v[:, i : i + k]
            self._ring_t[self._pos : self._pos + k] = block.times[i : i + k]
            self._ring_lost[self._pos : self._pos + k] = 0.0
            if first:
                self._ring_lost[self._pos] = max(0, lost)
                first = False
            self._pos = (self._pos + k) % self._cap
            self._fill = min(self._cap, self._fill + k)
            self._since += k
            i += k
            if self._since >= self._step:
                self._since = 0
                self._loud = self._loud_now()
                if self._loud:  # the stretch must be quiet throughout: start it again after this half second
                    self._fill = 0
                elif self._fill == self._cap and self._try():
                    return
        if self.finished:
            return
        if self._loud:
            self._wait(f"the {', '.join(self._loud)} to relax (not at rest yet)", recording=True)
        elif self._fill < self._cap:
            self._wait(f"rest: {self._fill / self.fs:.1f} of {self.duration:g} s quiet", recording=True)

    def _loud_now(self) -> list[str]:
        """Muscles whose last half second of band-passed EMG is above the baseline-noise limit."""
        if self.gate is not None and self.gate.state.value == "overridden":
            return []
        j = (self._pos - self._step + np.arange(self._step)) % self._cap
        raw = self._rings["_raw"][:, j]
        rms = self._uv * np.sqrt(np.mean((raw - raw.mean(axis=1, keepdims=True)) ** 2, axis=1))
        return [m for m, r in zip(self.muscles, rms, strict=True) if r > self.limits.max_noise_uv]

    def _stretch(self, name: str) -> F64:
        """The ring ``name`` in time order."""
        return np.roll(self._rings[name], -self._pos, axis=1)

    def _try(self) -> bool:
        if self.gate is not None and not self.gate.open:
            self._wait("the signal check to pass (readiness gate)")
            return False
        lost = float(self._ring_lost.sum())
        if lost > EMG_MAX_MISSING * (self._cap + lost):
            self._wait(
                f"rest: {100 * lost / (self._cap + lost):.0f} % of the last {self.duration:g} s lost "
                f"(at most {100 * EMG_MAX_MISSING:.0f} %)",
                recording=True,
            )
            return False
        env = self._stretch("envelope")
        _, _, spread = quiet_baseline(env, self.fs, 0.5)
        raw = self._stretch("_raw")
        rms = self._uv * np.sqrt(np.mean((raw - raw.mean(axis=1, keepdims=True)) ** 2, axis=1))
        noisy_ok = self.gate is not None and self.gate.state.value == "overridden"
        loud = [
            m
            for m, s, r in zip(self.muscles, spread, rms, strict=True)
            if not s <= self.max_spread or (r > self.limits.max_noise_uv and not noisy_ok)
        ]
        if loud:
            self._wait(f"the {', '.join(loud)} to relax (not at rest yet)", recording=True)
            return False
        baselines = {}
        for k in self._procs:
            mu, sd = robust_baseline(self._stretch(k))
            baselines[k] = (mu.tolist(), sd.tolist())
        times = np.roll(self._ring_t, -self._pos)
        t0, t1 = float(times[0]), float(times[-1])
        result = EmgRest(
            self.stream,
            list(self.muscles),
            baselines,
            rms.round(3).tolist(),
            t0,
            t1,
            [float(s) for s in spread],
        )
        self._finish(
            t1,
            {self.stream: result},
            message=f"EMG rest baseline of {self.stream} over {t0:.1f}-{t1:.1f} s: "
            + ", ".join(
                f"{m} {r:.1f} µV" if math.isfinite(r) else f"{m} (no scale to µV)"
                for m, r in zip(self.muscles, rms, strict=True)
            ),
        )
        return True


class EmgReference(CalibrationStep):
    """Reference contraction(s) for %-reference normalisation (see the module docstring).

    Parameters
    ----------
    stream : str
        The EMG stream the reference is for.
    method : {"mvc", "submax", "contralateral"}
    muscles : sequence of str, optional
        Which muscles (channels) need a reference (default: all of the stream).
    source : str, optional
        For ``"contralateral"``: the other side's EMG stream, where the same muscles
        contract; the values are recorded for ``stream``.
    trials : int
        Contractions needed per muscle (3 for an MVC, 1 otherwise, by default).
    hold : float
        Shortest contraction that counts as a trial, seconds (3 s; Konrad 2005: 3–5 s).
    window : float
        Moving-mean window of the envelope for each trial's value, seconds (:data:`MVC_WINDOW`, 1 s).
    envelope : factory(n_channels, fs), optional
        The envelope conditioning (default :func:`envelope_chain`), the same as the drill's.
    """

    def __init__(
        self,
        stream: str,
        *,
        method: Literal["mvc", "submax", "contralateral"] = "mvc",
        muscles: Sequence[str] | None = None,
        source: str | None = None,
        trials: int | None = None,
        hold: float = 3.0,
        window: float = MVC_WINDOW,
        envelope: Factory | None = None,
        record: Calibration | None = None,
        autostart: bool = True,
        timeout: float | None = None,
    ) -> None:
        if method not in ("mvc", "submax", "contralateral"):
            raise ConfigError(
                "EMG reference: method " + expected("'mvc', 'submax' or 'contralateral'", method)
            )
        if (method == "contralateral") != (source is not None):
            raise ConfigError(
                "EMG reference: expected a source stream (the other side) exactly for method 'contralateral', "
                f"got method={method!r}, source={source!r}"
            )
        src = source if source is not None else stream
        super().__init__("emg_reference", (src,), record=record, autostart=autostart, timeout=timeout)
        n_trials = trials if trials is not None else (3 if method == "mvc" else 1)
        if not (isinstance(n_trials, int) and n_trials >= 1):
            raise ConfigError(f"{self.kind}: trials " + expected("a whole number >= 1", trials))
        for name, v, lo in (("hold", hold, 0.5), ("window", window, 0.05)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= lo):
                raise ConfigError(f"{self.kind}: {name} " + expected(f"seconds >= {lo:g}", v))
        if window > hold:
            raise ConfigError(f"{self.kind}: expected window <= hold, got window={window!r}, hold={hold!r}")
        self.stream, self.source, self.method = stream, src, method
        self.wanted = list(muscles) if muscles is not None else None
        self.trials, self.hold, self.window = n_trials, float(hold), float(window)
        self.envelope = envelope or envelope_chain

    def _bind(self) -> None:
        _emg_info_check(self, self.source)
        info = self.infos[self.source]
        have = muscles_of(info.channels)
        self.muscles = self.wanted if self.wanted is not None else have
        missing = [m for m in self.muscles if m not in have]
        if missing:
            raise ConfigError(f"{self.kind}: expected muscles {missing} on {self.source!r}, it has {have}")
        self.rows = [have.index(m) for m in self.muscles]
        self.fs = info.rate
        self._make()

    def _make(self) -> None:
        n = len(self.infos[self.source].channels)
        self._env = self.envelope(n, self.fs)
        base = self.record.baseline(self.source, "envelope")
        self._det = ContractionDetector(n, self.fs, baseline=base, t_off=0.5)
        self._w = max(1, round(self.window * self.fs))
        # running sums of the envelope S_k (k samples so far), the last `window` of them: a moving mean that
        # is a function of the samples only (summed one after another over the session, whatever the blocks)
        self._sums = np.zeros((n, 1))
        self._peak = np.full(n, -np.inf)
        self._trials: list[list[float]] = [[] for _ in range(n)]
        self._trial_at: list[list[float]] = [[] for _ in range(n)]  # the sample time each trial was confirmed

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "_det"):
            self._make()

    def _observe(self, block: Block) -> None:
        self._env.process(block)

    def _push(self, block: Block) -> None:
        env = self._env.process(block).values
        act = self._det.process(Block(block.stream, block.times, env)).values
        # moving mean of the envelope over `window` s (w samples): running sums S_k of the first k samples,
        # carried across blocks, and mean_g = (S_{g+1} - S_{g+1-w}) / w (fewer samples at the start)
        prev = self._sums
        new = np.cumsum(np.concatenate([prev[:, -1:], env], axis=1), axis=1)[:, 1:]
        both = np.concatenate([prev, new], axis=1)
        m = prev.shape[1]
        hi = np.arange(m, m + env.shape[1])  # S_{g+1} of each new sample g, as an index into `both`
        lo = np.maximum(hi - self._w, 0)  # fewer than `window` kept only at the start: S_0 is there
        mean = (both[:, hi] - both[:, lo]) / (hi - lo)
        self._sums = both[:, -self._w :]
        times = block.times
        by_channel: dict[int, list[Event]] = {}
        for e in self._det.pop_events():
            if e.kind.endswith("offset"):
                by_channel.setdefault(int(e.payload["channel"]), []).append(e)
        for c_ in range(env.shape[0]):
            on = act[c_] > 0
            i = 0
            for e in by_channel.get(c_, ()):  # the samples up to each offset's decision are its trial's
                at = float(e.payload["detected_at"])
                j = int(np.searchsorted(times, at, side="right"))
                seg = on[i:j]
                if seg.any():
                    self._peak[c_] = max(self._peak[c_], float(mean[c_, i:j][seg].max()))
                if float(e.payload["duration"]) >= self.hold and math.isfinite(self._peak[c_]):
                    self._trials[c_].append(float(self._peak[c_]))
                    self._trial_at[c_].append(at)
                self._peak[c_] = -np.inf
                i = j
            seg = on[i:]
            if seg.any():
                self._peak[c_] = max(self._peak[c_], float(mean[c_, i:][seg].max()))
        got = [len(self._trials[r]) for r in self.rows]
        if all(g >= self.trials for g in got):
            # at the sample time the last trial needed was confirmed, whatever block it came in
            self._done(max(self._trial_at[r][self.trials - 1] for r in self.rows))
            return
        effort = {
            "mvc": "as hard as you can",
            "submax": "at the reference effort",
            "contralateral": "as hard as you can",
        }
        side = f" (on {self.source}, the other side)" if self.method == "contralateral" else ""
        progress = ", ".join(f"{m} {g}/{self.trials}" for m, g in zip(self.muscles, got, strict=True))
        active = bool(np.any(act[self.rows, -1] > 0)) if act.shape[1] else False
        self._wait(
            f"contract {', '.join(self.muscles)}{side} {effort[self.method]} and hold {self.hold:g} s ({progress})",
            recording=active,
        )

    def _done(self, t: float) -> None:
        # the trials confirmed by then (not one of another muscle's that came later in the same block)
        kept = {
            r: [v for v, at in zip(self._trials[r], self._trial_at[r], strict=True) if at <= t]
            for r in self.rows
        }
        trials = [[kept[r][k] for r in self.rows] for k in range(self.trials)]
        values = [
            float(np.mean(kept[r][: self.trials])) if self.method == "submax" else max(kept[r])
            for r in self.rows
        ]
        unit = self.infos[self.source].channels[self.rows[0]].unit
        result = EmgReferenceResult(
            self.stream,
            list(self.muscles),
            self.method,
            values,
            unit,
            self.window,
            trials,
            self.source if self.method == "contralateral" else None,
        )
        self._finish(
            t,
            {self.stream: result},
            message=f"EMG reference ({self.method}) of {self.stream}: "
            + ", ".join(f"{m} {v:.3f} {unit}" for m, v in zip(self.muscles, values, strict=True)),
        )
