"""EMG onset/offset and contraction/relaxation detection that does not depend on luck.

One streaming state machine serves two uses:

* :class:`OnsetDetector` — *when* a muscle switches on and off (timing between
  muscles, e.g. VMO against VL). Fed a timing-conditioned signal (band-pass → TKEO →
  rectify → 30 Hz low-pass, Li et al. 2007, Solnik et al. 2010) with short minimum
  durations (25 ms on, 50 ms off) and thresholds from the rest baseline only.
* :class:`ContractionDetector` — *whether* a muscle is contracted or relaxed, for
  counting contractions and for contraction/relaxation training (work/rest cycles
  as EMG biofeedback units such as MyoTrac run them). Fed an amplitude envelope
  (2nd-order 6 Hz linear envelope, in mV or % of a reference) with minimum
  durations long enough that a dip inside a contraction, or a spike at rest, is not
  a new contraction (100 ms on, 250 ms off).

Thresholds (per channel, at every sample)::

    on  = max(mu + k_on·sigma,  on_level,  on_fraction·ref)
    off = max(mu + k_off·sigma, off_level, off_fraction·ref)

* ``mu, sigma``: the rest baseline of the conditioned signal (median and
  1.4826·MAD, Hodges & Bui 1996 use mean + h·SD of the same signal). It comes from
  a stretch the readiness gate verified as quiet (:func:`quiet_baseline`,
  :mod:`nmre.calibration`) and, with ``horizon`` set (default 30 s), is checked as
  the session goes against the **quietest** (lowest-median) ``baseline_window``-second
  sub-window of the last ``horizon`` seconds — the baseline estimate of Delsys
  EMGworks' "EMG Threshold" (the smallest mean of many windows, each shorter than the
  shortest quiescent period) made causal, the minimum-statistics idea of Martin (2001)
  for noise floors. When that sub-window is more than ``rebaseline`` (2) times quieter
  than the baseline in use, the calibration was not taken at rest (it fell on a
  contraction or on pre-activity) and the sub-window becomes the baseline; when, over
  a whole horizon, even the quietest sub-window is that many times louder, the floor
  itself has risen and is re-estimated the same way. Inside the factor the baseline
  stays, so the downward bias of a minimum over many noisy windows never lowers the
  thresholds. A calibration second that fell on a contraction is thus corrected by
  the first quiet half second, and the count does not depend on where it fell.
* ``on_level, off_level``: absolute levels in the signal's unit (e.g. % MVC set by a
  therapist for contraction training).
* ``ref``: a reference amplitude — a fixed one (MVC, sub-maximal or contralateral
  reference from calibration) or, when none is given and a fraction is, the running
  peak of the ``peak_window``-second moving mean of the signal ("task peak"
  normalisation, Halaki & Ginn 2012). The fractions only ever *raise* a threshold
  above the baseline one: a dip inside a strong contraction stays above
  ``off_fraction`` of its peak, and a twitch at rest after strong contractions stays
  below ``on_fraction`` of them.

State machine (double threshold with minimum durations, Hodges & Bui 1996;
Bonato, D'Alessio & Knaflitz 1998 require the active state to last ≥ 30 ms; Delsys
EMGworks suppresses "spikes and gaps" shorter than a suppression time): inactive →
active when the signal stays above ``on`` for ``t_on`` seconds (dips of at most
``max_gap`` s allowed), active → inactive when it stays below ``off`` for ``t_off``.
So bursts shorter than ``t_on`` are dropped and gaps shorter than ``t_off`` merge
two bursts into one. Onset and offset times are the **first sample of the
qualifying run** (retrospective); the decision comes ``t_on`` (``t_off``) later and
is the event's ``detected_at``.

References
----------
Hodges P.W., Bui B.H. (1996) A comparison of computer-based methods for the determination
of onset of muscle contraction using electromyography, EEG Clin Neurophysiol 101:511–519.
Bonato P., D'Alessio T., Knaflitz M. (1998) A statistical method for the measurement of
muscle activation intervals from surface myoelectric signal during gait, IEEE Trans
Biomed Eng 45:287–299.
Li X., Zhou P., Aruin A.S. (2007) Teager–Kaiser energy operation of surface EMG improves
muscle activity onset detection, Ann Biomed Eng 35:1532–1538.
Solnik S. et al. (2010) Teager–Kaiser energy operator signal conditioning improves EMG
onset detection, Eur J Appl Physiol 110:489–498.
Martin R. (2001) Noise power spectral density estimation based on optimal smoothing and
minimum statistics, IEEE Trans Speech Audio Process 9:504–512.
Delsys EMGworks Analysis user's guide, "EMG Threshold" (baseline estimation; suppress
spikes and gaps).
Halaki M., Ginn K. (2012) Normalization of EMG signals: to normalize or not to normalize
and what to normalize to? In: Computational Intelligence in Electromyography Analysis,
InTech, ch. 7.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre.core import kinds
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp import _onset_kernels as K
from nmre.dsp._filter_checks import as_signal
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError, StateError, expected

__all__ = [
    "MAD_TO_SD",
    "ContractionDetector",
    "OnsetDetector",
    "quiet_baseline",
    "robust_baseline",
]

F64 = NDArray[np.float64]
MAD_TO_SD = 1.4826  # SD of a normal distribution per unit of median absolute deviation
STATE_CHANNELS_UNIT = "1"


def _n_channels(n: object) -> int:
    if not (isinstance(n, (int, np.integer)) and int(n) >= 1):
        raise ConfigError(f"expected n_channels >= 1, got {n!r}")
    return int(n)


def _rate(fs: object) -> float:
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and math.isfinite(fs) and fs > 0):
        raise ConfigError(f"expected a sampling rate fs > 0 Hz, got {fs!r}")
    return float(fs)


def _seconds(value: object, what: str, *, zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)
    if not ok or not (value >= 0 if zero else value > 0):  # type: ignore[operator]
        raise ConfigError(
            f"{what}: " + expected("a finite number of seconds " + (">= 0" if zero else "> 0"), value)
        )
    return float(value)  # type: ignore[arg-type]


def robust_baseline(rest: ArrayLike) -> tuple[F64, F64]:
    """Robust mean and SD of each channel of a rest recording: median and 1.4826·MAD.

    Parameters
    ----------
    rest : ndarray, shape (n_channels, n_samples)
        The conditioned signal (envelope) during rest.

    Returns
    -------
    mu, sigma : ndarray, shape (n_channels,)
    """
    x = as_signal(np.asarray(rest), None, "rest recording")
    if x.shape[1] < 2 or not np.all(np.isfinite(x)):
        raise InputError(f"expected a finite rest recording of at least 2 samples; got {x.shape[1]} samples")
    mu = np.median(x, axis=1)
    sigma = MAD_TO_SD * np.median(np.abs(x - mu[:, None]), axis=1)
    return mu, sigma


def quiet_baseline(rest: ArrayLike, fs: float, window: float = 0.5) -> tuple[F64, F64, F64]:
    """Baseline of the quietest sub-window of a stretch, per channel, and how stationary the stretch is.

    The stretch is cut into consecutive ``window``-second sub-windows (a last
    partial one is dropped); the baseline is the median and 1.4826·MAD of the
    sub-window with the lowest median (Delsys EMGworks baseline estimation). The
    third result is the ratio of the highest to the lowest sub-window median: close
    to 1 for a quiet stretch, well above 2 when it held a contraction or a ramp.

    Parameters
    ----------
    rest : ndarray, shape (n_channels, n_samples)
        Conditioned signal (envelope), signal units.
    fs : float
        Sampling rate, Hz.
    window : float
        Sub-window length, seconds (shorter than the shortest quiet period).

    Returns
    -------
    mu, sigma, spread : ndarray, shape (n_channels,)
        ``spread`` is inf for a channel whose quietest median is 0.
    """
    x = as_signal(np.asarray(rest), None, "rest recording")
    w = max(2, round(_seconds(window, "window") * _rate(fs)))
    m = x.shape[1] // w
    if m < 1:
        raise InputError(
            f"expected a rest recording of at least {w} samples ({window:g} s); got {x.shape[1]}"
        )
    if not np.all(np.isfinite(x[:, : m * w])):
        raise InputError("rest recording: expected finite samples, got NaN or inf")
    segs = x[:, : m * w].reshape(x.shape[0], m, w)
    med = np.median(segs, axis=2)
    j = np.argmin(med, axis=1)
    rows = np.arange(x.shape[0])
    mu = med[rows, j]
    sigma = MAD_TO_SD * np.median(np.abs(segs[rows, j] - mu[:, None]), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(mu > 0, med.max(axis=1) / np.where(mu > 0, mu, 1.0), np.inf)
    return mu, sigma, spread


def _per_channel(value: ArrayLike | None, n: int, what: str, default: float) -> F64:
    if value is None:
        return np.full(n, default)
    try:
        a = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    except (ValueError, TypeError):
        a = None
    if a is None or a.shape != (n,) or np.any(np.isnan(a)):
        raise ConfigError(f"{what}: " + expected(f"a number or {n} numbers (one per channel)", value))
    return a


@protected("nan")
class OnsetDetector(Processor):
    """Streaming double-threshold onset/offset detector: minimum durations, a baseline that re-estimates itself.

    See the module docstring for the thresholds, the state machine and their
    sources. ``process`` returns the activity state (1.0 active, 0.0 rest) as
    decided at each sample; onsets and offsets come out of :meth:`pop_events` as
    Events of kind ``"emg.onset"`` / ``"emg.offset"`` with payload ``channel`` (row
    index), ``threshold`` (the threshold crossed), ``peak`` (largest sample of the
    qualifying run for an onset; for an offset, of the burst from its onset until the offset was
    decided), ``duration``
    (offsets: seconds from the onset) and ``detected_at``. NaN samples count as
    neither above nor below a threshold (put a :class:`nmre.dsp.guard.Guard` first).

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    fs : float
        Sampling rate, Hz.
    k_on, k_off : float
        Threshold multipliers of the baseline sigma (defaults 3 and 2; Hodges & Bui
        1996 compared 1–3 SD; TKEO-conditioned signals need more, 3–15).
    t_on, t_off : float
        Minimum on/off durations, seconds (25 ms, 50 ms: dsp.md §1.4).
    max_gap : float
        Longest dip allowed inside a qualifying run, seconds (2 ms).
    baseline : (mu, sigma), optional
        Calibrated per-channel baseline (e.g. from :func:`quiet_baseline` over a
        stretch the readiness gate verified). Without it (and with ``horizon``) the
        detector decides nothing until its first sub-window is complete.
    on_level, off_level : float or array_like, optional
        Absolute thresholds in the signal's unit, per channel.
    reference : float or array_like, optional
        Fixed reference amplitude per channel (signal units, > 0) for the fractions.
    on_fraction, off_fraction : float
        Thresholds as fractions of the reference (default 0: not used).
    peak_window : float
        Moving-mean length for the running reference when none is given, seconds.
    baseline_window : float
        Sub-window of the baseline re-estimation, seconds (0.5 s). Its median and MAD
        are taken over every ``floor(fs / 250)``-th sample (250 samples/s: the
        conditioned signal is low-passed well below 125 Hz), which keeps the cost per
        sample small at 2 kHz.
    horizon : float or None
        Seconds of sub-windows kept for the re-estimation (30 s). ``None``: the
        baseline stays as calibrated.
    rebaseline : float
        Factor (> 1) by which the quietest sub-window of the horizon must be quieter
        than the baseline in use to replace it (2, i.e. 6 dB: a calibration that
        fell on a contraction or on pre-activity), or louder over a whole horizon
        (the floor rose). Within the factor the baseline is kept, so the downward
        bias of a minimum over many windows never lowers the thresholds.
    confirm : int
        The floor is the ``confirm``-th quietest distinct sub-window (default 1,
        the quietest): with 2 or more a floor must be seen in that many sub-windows.
    max_drop : float
        A sub-window more than ``max_drop`` times (1e4: 80 dB in the TKEO domain,
        40 dB in amplitude) below the baseline in use, or at 0, is a dead or zeroed
        signal — a guard holding a dropout, whose conditioned signal decays to
        nearly 0 — and never becomes the baseline.
    peak_fraction : float or None
        With a fraction ``f`` (e.g. 0.5), each onset is re-timed ``rise_window``
        seconds after its threshold crossing: to the last upward crossing of
        ``f`` × the burst's own peak in that window (payload ``threshold_time``
        keeps the crossing of the threshold; ``detected_at`` is the release). A
        threshold cuts a slow ramp early for a strong muscle and late for a weak
        one, and low-level pre-activity crosses it before the burst; a fraction of
        each burst's own peak times two muscles' bursts alike whatever their
        amplitudes (onset at a percentage of the peak amplitude, e.g. 50 %:
        the half-maximum). Default None: the threshold crossing.
    rise_window : float
        Seconds after the threshold crossing in which the burst's peak is taken (0.3).
        The peak and the crossing are taken on a 50 ms moving mean of the signal (its
        delay removed), since a TKEO path fluctuates too much sample by sample.
    """

    def __init__(
        self,
        n_channels: int,
        fs: float,
        k_on: float = 3.0,
        k_off: float = 2.0,
        t_on: float = 0.025,
        t_off: float = 0.05,
        max_gap: float = 0.002,
        baseline: tuple[ArrayLike, ArrayLike] | None = None,
        *,
        on_level: ArrayLike | None = None,
        off_level: ArrayLike | None = None,
        reference: ArrayLike | None = None,
        on_fraction: float = 0.0,
        off_fraction: float = 0.0,
        peak_window: float = 0.25,
        baseline_window: float = 0.5,
        horizon: float | None = 30.0,
        rebaseline: float = 2.0,
        confirm: int = 1,
        max_drop: float = 1e4,
        peak_fraction: float | None = None,
        rise_window: float = 0.3,
    ) -> None:
        self.n_channels = n = _n_channels(n_channels)
        self.fs = _rate(fs)
        for name, v in (
            ("k_on", k_on),
            ("k_off", k_off),
            ("on_fraction", on_fraction),
            ("off_fraction", off_fraction),
        ):
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name}: " + expected("a finite number >= 0", v))
        if not (k_off <= k_on):
            raise ConfigError(f"expected k_off <= k_on (hysteresis), got k_on={k_on!r}, k_off={k_off!r}")
        if not (off_fraction <= on_fraction):
            raise ConfigError(
                f"expected off_fraction <= on_fraction (hysteresis), got {on_fraction!r} and {off_fraction!r}"
            )
        self.k_on, self.k_off = float(k_on), float(k_off)
        self.on_fraction, self.off_fraction = float(on_fraction), float(off_fraction)
        self.t_on, self.t_off = _seconds(t_on, "t_on"), _seconds(t_off, "t_off")
        self.n_on = max(1, round(self.t_on * self.fs))
        self.n_off = max(1, round(self.t_off * self.fs))
        self.max_gap = round(_seconds(max_gap, "max_gap", zero=True) * self.fs)
        self._abs_on = _per_channel(on_level, n, "on_level", -math.inf)
        self._abs_off = _per_channel(off_level, n, "off_level", -math.inf)
        if (on_level is None) != (off_level is None):
            raise ConfigError("on_level and off_level: expected both or neither, got one of them")
        if np.any(self._abs_off > self._abs_on):
            raise ConfigError(
                "expected off_level <= on_level (hysteresis), got "
                f"on_level={on_level!r}, off_level={off_level!r}"
            )
        self._ref_fixed = _per_channel(reference, n, "reference", math.nan)
        if reference is not None and not np.all(np.isfinite(self._ref_fixed) & (self._ref_fixed > 0)):
            raise ConfigError("reference: " + expected("finite amplitudes > 0", reference))
        self._use_ref = reference is None and (self.on_fraction > 0 or self.off_fraction > 0)
        self.peak_window = _seconds(peak_window, "peak_window")
        sm_w = max(1, round(self.peak_window * self.fs)) if self._use_ref else 1
        self.baseline_window = _seconds(baseline_window, "baseline_window")
        self._track = horizon is not None
        if horizon is not None:
            _seconds(horizon, "horizon")
            if horizon < self.baseline_window:
                raise ConfigError(
                    "horizon: "
                    + expected(f"at least one baseline_window ({self.baseline_window:g} s)", horizon)
                )
        self.horizon = None if horizon is None else float(horizon)
        sub_w = max(2, round(self.baseline_window * self.fs)) if self._track else 1
        hcap = max(1, round(self.horizon / self.baseline_window)) if self.horizon is not None else 1
        self._hcap = hcap
        if not (isinstance(rebaseline, (int, float, np.floating, np.integer)) and rebaseline > 1):
            raise ConfigError("rebaseline: " + expected("a factor > 1", rebaseline))
        self.rebaseline = float(rebaseline)
        if not (
            isinstance(confirm, (int, np.integer)) and 1 <= confirm <= (hcap if self._track else confirm)
        ):
            raise ConfigError("confirm: " + expected(f"a whole number of sub-windows in 1..{hcap}", confirm))
        self.confirm = int(confirm)
        if not (isinstance(max_drop, (int, float, np.floating, np.integer)) and max_drop > self.rebaseline):
            raise ConfigError(
                "max_drop: " + expected(f"a factor above rebaseline ({self.rebaseline:g})", max_drop)
            )
        self.max_drop = float(max_drop)
        self._prm = np.array(
            [
                self.k_on,
                self.k_off,
                self.on_fraction,
                self.off_fraction,
                self.rebaseline,
                float(self.confirm),
                self.max_drop,
            ]
        )
        self._iprm = np.zeros(K.IP_SIZE, dtype=np.int64)
        self._iprm[K.IP_N_ON], self._iprm[K.IP_N_OFF], self._iprm[K.IP_MAX_GAP] = (
            self.n_on,
            self.n_off,
            self.max_gap,
        )
        self._iprm[K.IP_TRACK], self._iprm[K.IP_USE_REF] = int(self._track), int(self._use_ref)
        # the envelope is low-passed well below 125 Hz: 250 samples/s describe a sub-window's median
        stride = max(1, int(self.fs // 250.0))
        self._iprm[K.IP_SUB_N], self._iprm[K.IP_STRIDE] = sub_w, stride
        kept = (sub_w + stride - 1) // stride
        self._pch = np.ascontiguousarray(np.vstack([self._abs_on, self._abs_off, self._ref_fixed]))
        self._needs_baseline = not self._track and not np.all(np.isfinite(self._abs_on))
        self._ist = np.zeros(K.IS_SIZE, dtype=np.int64)
        self._fst = np.zeros((K.FS_SIZE, n))
        self._cst = np.zeros((K.CS_SIZE, n), dtype=np.int64)
        self._sub = np.zeros((n, kept))
        self._scratch = np.zeros(kept)
        self._hist = np.zeros((2, n, hcap))
        self._hist[0] = math.inf
        self._sm = np.zeros((n, sm_w))
        self._cap = 0
        self._grow(256)
        self._events: list[Event] = []
        if peak_fraction is not None and not (
            isinstance(peak_fraction, (int, float)) and 0 < peak_fraction < 1
        ):
            raise ConfigError("peak_fraction: " + expected("a fraction in (0, 1) or None", peak_fraction))
        self.peak_fraction = None if peak_fraction is None else float(peak_fraction)
        self.rise_window = _seconds(rise_window, "rise_window")
        self._smooth_n = max(1, round(0.05 * self.fs))
        self._keep = round((self.rise_window + self.t_on + 1.0) * self.fs)
        self._rt = np.zeros(self._keep if self.peak_fraction is not None else 0)
        self._rx = np.zeros((n, self._rt.shape[0]))
        self._cal: tuple[F64, F64] | None = None
        self._reset_state()
        if baseline is not None:
            self.set_baseline(*baseline)

    # -- configuration -----------------------------------------------------------------------

    def _grow(self, cap: int) -> None:
        self._cap = cap
        self._ev_i = np.zeros((cap, 3), dtype=np.int64)  # channel, onset (1) or offset (0), sample
        self._ev_f = np.zeros((cap, K.EV_F_SIZE))

    def _reset_state(self) -> None:
        f = self._fst
        f[...] = 0.0
        f[K.FS_MU] = f[K.FS_SD] = math.nan
        if self._cal is not None:
            f[K.FS_MU], f[K.FS_SD] = self._cal
        self._cst[...] = 0
        self._ist[...] = 0
        self._sub[...] = 0.0
        self._hist[0] = math.inf
        self._hist[1] = 0.0
        self._sm[...] = 0.0
        self._events = []
        self._pending: list[tuple[float, int, bool, Event]] = []
        self._due_of_channel: dict[int, float] = {}
        self._rpos = 0
        self._rcount = 0
        self._update_thresholds()

    def set_baseline(self, mu: ArrayLike, sigma: ArrayLike) -> None:
        """Set the calibrated rest baseline per channel (units of the conditioned signal).

        With ``horizon`` set it is the starting point of the re-estimation: it stays
        in use unless the session shows a floor ``rebaseline`` times quieter (the
        calibration was not at rest) or, over a whole horizon, that many times louder.
        """
        m = np.broadcast_to(np.asarray(mu, dtype=np.float64), (self.n_channels,)).copy()
        s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (self.n_channels,)).copy()
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s >= 0)):
            raise InputError(f"expected finite baseline mu and sigma >= 0; got mu={m!r}, sigma={s!r}")
        self._cal = (m, s)
        self._fst[K.FS_MU], self._fst[K.FS_SD] = m, s
        self._update_thresholds()

    def calibrate(self, rest: ArrayLike) -> None:
        """Set the baseline from a rest recording ``(n_channels, n_samples)`` of the conditioned signal.

        Median and 1.4826·MAD of the whole recording (:func:`robust_baseline`).
        For a stretch that may not be quiet throughout use
        ``set_baseline(*quiet_baseline(rest, fs)[:2])``.
        """
        mu, sigma = robust_baseline(rest)
        if mu.shape[0] != self.n_channels:
            raise InputError(
                f"expected a rest recording with n_channels={self.n_channels}; got {mu.shape[0]}"
            )
        self.set_baseline(mu, sigma)

    def _update_thresholds(self) -> None:
        f = self._fst
        mu, sd = f[K.FS_MU], f[K.FS_SD]
        with np.errstate(invalid="ignore"):
            on = np.where(np.isfinite(mu), mu + self.k_on * sd, -math.inf)
            off = np.where(np.isfinite(mu), mu + self.k_off * sd, -math.inf)
        on, off = np.maximum(on, self._abs_on), np.maximum(off, self._abs_off)
        ref = np.where(np.isfinite(self._ref_fixed), self._ref_fixed, f[K.FS_REF] if self._use_ref else 0.0)
        f[K.FS_THR_ON] = np.where(np.isfinite(on), np.maximum(on, self.on_fraction * ref), math.nan)
        f[K.FS_THR_OFF] = np.where(np.isfinite(on), np.maximum(off, self.off_fraction * ref), math.nan)

    # -- results -----------------------------------------------------------------------------

    @property
    def mu(self) -> F64 | None:
        """Baseline level in use per channel (None before there is one)."""
        m = self._fst[K.FS_MU]
        return None if not np.any(np.isfinite(m)) else m.copy()

    @property
    def sigma(self) -> F64 | None:
        """Baseline spread in use per channel (None before there is one)."""
        return None if self.mu is None else self._fst[K.FS_SD].copy()

    @property
    def thresholds(self) -> tuple[F64, F64]:
        """(on, off) thresholds per channel for the next sample (NaN: no decision possible yet)."""
        self._update_thresholds()
        return self._fst[K.FS_THR_ON].copy(), self._fst[K.FS_THR_OFF].copy()

    @property
    def active(self) -> NDArray[np.bool_]:
        """Per channel, whether it is in a burst now."""
        return self._cst[K.CS_ACTIVE] == 1

    def output_info(self, info: StreamInfo) -> StreamInfo:
        chans = tuple(Channel(c.name, STATE_CHANNELS_UNIT, c.placement) for c in info.channels)
        return StreamInfo(
            f"{info.id}.active",
            StreamKind.MARKER if info.rate == 0 else StreamKind.ENVELOPE,
            chans,
            info.rate,
            info.placement,
        )

    # -- processing --------------------------------------------------------------------------

    def process(self, block: Block) -> Block:
        if self._needs_baseline and self._cal is None:
            raise StateError(
                "OnsetDetector has no baseline: call calibrate(rest) or set_baseline(mu, sigma) first"
            )
        x = as_signal(block.values, self.n_channels, f"block of {block.stream!r}")
        y = np.empty_like(x)
        need = self.n_channels * (x.shape[1] // min(self.n_on, self.n_off) + 2)
        if need > self._cap:
            self._grow(need)
        k = K.burst_kernel(
            x,
            np.ascontiguousarray(block.times, dtype=np.float64),
            self._prm,
            self._iprm,
            self._pch,
            self._ist,
            self._fst,
            self._cst,
            self._sub,
            self._scratch,
            self._hist,
            self._sm,
            y,
            self._ev_i,
            self._ev_f,
        )
        if self.peak_fraction is not None:
            self._remember(block.times, x)
        if k:
            self._take(k, block.stream)
        if self.peak_fraction is not None and block.n_samples:
            self._release(float(block.times[-1]))
        return Block(block.stream, block.times, y, block.seq, block.missing_before, block.arrival)

    def _take(self, k: int, stream: str) -> None:
        """The ``k`` event rows the burst kernel wrote, as events of ``stream`` (queued, or held for re-timing)."""
        # by decision time, then sample, then channel: one pass over samples with channels inside
        order = np.lexsort((self._ev_i[:k, 0], self._ev_i[:k, 2], self._ev_f[:k, K.EV_DETECT]))
        ev_i, ev_f = self._ev_i[:k].tolist(), self._ev_f[:k].tolist()  # Python numbers, read once
        for j in order.tolist():
            c, on = ev_i[j][0], ev_i[j][1] == 1
            f = ev_f[j]
            payload: dict[str, object] = {
                "channel": c,
                "threshold": f[K.EV_THRESHOLD],
                "peak": f[K.EV_PEAK],
                "detected_at": f[K.EV_DETECT],
            }
            if not on:
                payload["duration"] = f[K.EV_DURATION]
            ev = Event(
                time=f[K.EV_TIME],
                kind=kinds.EMG_ONSET if on else kinds.EMG_OFFSET,
                source=stream,
                payload=payload,
                detected_at=f[K.EV_DETECT],
            )
            if self.peak_fraction is None:
                self._events.append(ev)
            else:
                self._hold(c, on, ev)

    # -- onsets at a fraction of the burst's own peak --------------------------------------

    def _remember(self, t: F64, x: F64) -> None:
        """Keep the last samples of the conditioned signal (ring) for re-timing onsets."""
        n = t.shape[0]
        if n == 0:
            return
        if n + self._keep > self._rt.shape[0]:  # a block longer than the ring: grow it (never lose history)
            order = (self._rpos - self._rcount + np.arange(self._rcount)) % self._rt.shape[0]
            t_old, x_old = self._rt[order], self._rx[:, order]
            cap = n + self._keep
            self._rt, self._rx = np.zeros(cap), np.zeros((self.n_channels, cap))
            self._rt[: self._rcount], self._rx[:, : self._rcount] = t_old, x_old
            self._rpos = self._rcount % cap
        cap = self._rt.shape[0]
        idx = (self._rpos + np.arange(n)) % cap
        self._rt[idx] = t
        self._rx[:, idx] = x
        self._rpos = int((self._rpos + n) % cap)
        self._rcount = min(cap, self._rcount + n)

    def _hold(self, c: int, on: bool, ev: Event) -> None:
        due = ev.time + self.rise_window if on else ev.detected_at
        last = self._due_of_channel.get(c, -math.inf)
        due = max(due, last)  # never release an offset before its onset
        self._due_of_channel[c] = due
        self._pending.append((due, c, on, ev))

    def _release(self, now: float) -> None:
        if not self._pending:
            return
        ready = sorted((p for p in self._pending if p[0] <= now), key=lambda p: (p[0], p[1]))
        if not ready:
            return
        self._pending = [p for p in self._pending if p[0] > now]
        cap = self._rt.shape[0]
        order = (self._rpos - self._rcount + np.arange(self._rcount)) % cap
        t, x = self._rt[order], self._rx[:, order]
        for due, c, on, ev in ready:
            if not on:
                self._events.append(ev)
                continue
            sel = (t >= ev.time) & (t <= due)
            if not sel.any():
                self._events.append(ev)
                continue
            # a moving mean of `smooth` s: a TKEO path fluctuates too much sample by sample for a crossing
            w = self._smooth_n
            cs = np.concatenate([[0.0], np.cumsum(x[c])])
            hi = np.arange(1, x.shape[1] + 1)
            xs = (cs[hi] - cs[np.maximum(hi - w, 0)]) / np.minimum(hi, w)
            seg_idx = np.flatnonzero(sel)
            k_peak = int(seg_idx[np.argmax(xs[seg_idx])])
            target = self.peak_fraction * float(xs[k_peak])  # type: ignore[operator]
            below = np.flatnonzero(xs[: k_peak + 1] < target)
            k_on = max(0, (int(below[-1]) + 1 if below.size else 0) - (w - 1) // 2)  # the mean's delay back
            payload = dict(ev.payload)
            payload["threshold_time"] = ev.time
            payload["fraction_of_peak"] = self.peak_fraction
            payload["rise_peak"] = float(x[c, k_peak])
            payload["detected_at"] = due
            self._events.append(Event(float(t[k_on]), ev.kind, ev.source, payload, detected_at=due))

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def reset(self) -> None:
        """Forget activity state, tracked baseline, running reference and pending events.

        A calibrated baseline (:meth:`set_baseline`) is kept.
        """
        self._reset_state()


class ContractionDetector(OnsetDetector):
    """Contraction / relaxation state of EMG amplitude envelopes, for counting and training.

    The same state machine as :class:`OnsetDetector` with defaults for an
    amplitude envelope (2nd-order 6 Hz linear envelope, mV or % reference):
    ``k_on = 8``, ``k_off = 4`` baseline SDs (with a 6 Hz envelope the rest SD is
    0.1–0.2 of the rest level, so about 2 and 1.5 times the rest level);
    ``on_fraction = 0.25``, ``off_fraction = 0.1`` of the reference (a therapist's
    MVC or sub-maximal reference, or the running task peak); a contraction must
    last ``t_on = 0.1`` s and a relaxation ``t_off = 0.25`` s, so bursts shorter than
    0.1 s are dropped and gaps shorter than 0.25 s merge (Delsys EMGworks suppresses
    spikes and gaps the same way); dips of up to ``max_gap = 0.02`` s inside a run
    are tolerated. For %-reference training set ``on_level`` / ``off_level`` (the
    drill's contraction and rest thresholds) and the durations of the drill.

    Events are ``emg.onset`` (contraction start) and ``emg.offset`` (relaxation
    start, with the contraction's ``duration`` and ``peak``). :attr:`count` is the
    number of contractions per channel so far.
    """

    def __init__(
        self,
        n_channels: int,
        fs: float,
        k_on: float = 8.0,
        k_off: float = 4.0,
        t_on: float = 0.1,
        t_off: float = 0.25,
        max_gap: float = 0.02,
        baseline: tuple[ArrayLike, ArrayLike] | None = None,
        *,
        on_level: ArrayLike | None = None,
        off_level: ArrayLike | None = None,
        reference: ArrayLike | None = None,
        on_fraction: float = 0.25,
        off_fraction: float = 0.1,
        peak_window: float = 0.25,
        baseline_window: float = 0.5,
        horizon: float | None = 30.0,
        rebaseline: float = 2.0,
        confirm: int = 1,
        max_drop: float = 1e4,
    ) -> None:
        super().__init__(
            n_channels,
            fs,
            k_on,
            k_off,
            t_on,
            t_off,
            max_gap,
            baseline,
            on_level=on_level,
            off_level=off_level,
            reference=reference,
            on_fraction=on_fraction,
            off_fraction=off_fraction,
            peak_window=peak_window,
            baseline_window=baseline_window,
            horizon=horizon,
            rebaseline=rebaseline,
            confirm=confirm,
            max_drop=max_drop,
        )
        self._count = np.zeros(self.n_channels, dtype=np.int64)

    @property
    def count(self) -> NDArray[np.int64]:
        """Contractions (onsets) per channel since the start or the last reset."""
        return self._count.copy()

    def process(self, block: Block) -> Block:
        before = len(self._events)
        out = super().process(block)
        for e in self._events[before:]:
            if e.kind == kinds.EMG_ONSET:
                self._count[int(e.payload["channel"])] += 1  # type: ignore[call-overload]
        return out

    def reset(self) -> None:
        super().reset()
        self._count[...] = 0
