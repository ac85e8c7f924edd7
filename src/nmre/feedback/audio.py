"""Sound: continuous sonification and discrete cues, played through PortAudio or written to a WAV file.

Both sinks share one :class:`Synth` (preallocated tables and state, a numba
kernel that fills a buffer in place) and one control side (:class:`AudioSink`):
with each new feedback state the watched signal's :class:`~nmre.feedback.sonify.Sonification`
sets the tone's pitch and loudness; events map to discrete cues (a correction,
a rep done, a hold complete, a level up).

* :class:`PortAudioSink` opens a ``sounddevice`` output stream with
  ``latency='low'`` and the default ``blocksize=0``. Its callback computes the
  DAC time of the buffer on the session clock and calls the kernel: no lock, no
  I/O, no array allocation (python-sounddevice's rules for callbacks). Without
  PortAudio or an output device it raises :class:`AudioUnavailable` with one
  line saying what is missing; the studio goes on without sound and says so.
* :class:`WavFileSink` renders the same sound on the session clock into a WAV
  file (for tests and for listening to a replay): frame ``k`` of the file is what
  the output plays at session time ``k / rate``; each buffer is filled one
  buffer-length before it plays, with the settings current then, as a callback
  would.

Latency is measured all the time: each change that reaches the output (a new
tone setting, a cue's first frame) is logged with its DAC time, the time since
the causing block **arrived** (what the host added) and since its last **sample**
(what Bluetooth and the filters added too). :meth:`AudioSink.latency` summarises
them.
"""

from __future__ import annotations

import math
import os
import threading
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmre.core import kinds
from nmre.core.interfaces import Sink
from nmre.core.model import Block, Event, FeedbackState, StreamInfo
from nmre.errors import ConfigError, DeviceError, StateError, expected
from nmre.feedback import _synth as k
from nmre.feedback.sonify import Sonification

__all__ = [
    "CUES",
    "DEFAULT_CUE_EVENTS",
    "AudioSink",
    "AudioUnavailable",
    "CueSpec",
    "PortAudioSink",
    "Synth",
    "WavFileSink",
]


class AudioUnavailable(DeviceError):
    """No sound here: PortAudio is missing, there is no output device, or the device refused the stream."""


@dataclass(frozen=True, slots=True)
class CueSpec:
    """A discrete cue: notes as (frequency Hz, duration s), each with a 5 ms raised-cosine attack and release."""

    name: str
    notes: tuple[tuple[float, float], ...]
    level: float = 0.8

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.notes)


#: The cues, by name. Rising = success, falling = correction; short and distinct, 260–1050 Hz.
CUES: Mapping[str, CueSpec] = {
    c.name: c
    for c in (
        CueSpec("error", ((392.0, 0.12), (311.1, 0.16))),  # G4 -> Eb4, falling: "not quite"
        CueSpec("rep", ((880.0, 0.07),), level=0.6),  # A5 tick: a rep done
        CueSpec("good", ((659.3, 0.08), (880.0, 0.10)), level=0.7),  # E5 -> A5: on target
        CueSpec("hold", ((659.3, 0.10), (987.8, 0.16))),  # E5 -> B5: hold complete
        CueSpec("level_up", ((523.3, 0.09), (659.3, 0.09), (784.0, 0.09), (1046.5, 0.2))),  # C major arpeggio
    )
}

#: Which events sound which cue. ``feedback.cue`` events choose by their tone (``correct`` / ``good``).
DEFAULT_CUE_EVENTS: Mapping[str, str] = {
    kinds.REP_END: "rep",
    "hold.end": "hold",
    "hold.complete": "hold",
    "progression.level_up": "level_up",
}

#: Cues that a verdict in the same moment makes redundant: a rep's tick waits until the rules have
#: judged the rep (the same engine step) and is dropped when a verdict cue sounds instead, so the
#: verdict is not queued behind the tick.
DEFERRED_CUES = frozenset({"rep"})

_TABLE_SIZE = 4096
_QUEUE = 16
_LOG = 8192
_RAMP = 0.005  # s


def _render_cue(spec: CueSpec, rate: float) -> np.ndarray:
    parts = []
    for f, d in spec.notes:
        n = max(1, round(d * rate))
        t = np.arange(n) / rate
        env = np.ones(n)
        r = min(n // 2, round(_RAMP * rate))
        if r:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
            env[:r] = ramp
            env[n - r :] = ramp[::-1]
        parts.append(np.sin(2 * np.pi * f * t) * env)
    return (np.concatenate(parts) * spec.level).astype(np.float32)


class Synth:
    """Preallocated synthesis state: one gliding sine tone plus a queue of cues.

    Control methods (:meth:`set_tone`, :meth:`trigger`, :meth:`set_volume` ...) may be
    called from any thread; :meth:`render` is called by one audio thread only.

    Parameters
    ----------
    rate : float
        Output sample rate, Hz.
    cues : mapping of str to CueSpec
        The cues it can play (rendered once into tables here).
    glide : float
        Time constant of pitch and loudness changes, s (smooths steps without audible lag).
    """

    def __init__(
        self, rate: float = 48000.0, cues: Mapping[str, CueSpec] = CUES, glide: float = 0.005
    ) -> None:
        if not (8000.0 <= rate <= 192000.0):
            raise ConfigError("synth: rate " + expected("a sample rate in Hz between 8000 and 192000", rate))
        if not (0.0 < glide < 1.0):
            raise ConfigError("synth: glide " + expected("a time constant in s between 0 and 1", glide))
        self.rate = float(rate)
        self.cue_names = tuple(cues)
        self._cue_index = {name: i for i, name in enumerate(self.cue_names)}
        self.cue_specs = dict(cues)
        rendered = [_render_cue(c, rate) for c in cues.values()]
        width = max((len(r) for r in rendered), default=1)
        self._cues = np.zeros((max(1, len(rendered)), width), np.float32)
        self._cue_len = np.ones(max(1, len(rendered)), np.int64)
        for i, r in enumerate(rendered):
            self._cues[i, : len(r)] = r
            self._cue_len[i] = len(r)
        # the rep tick gives way to a verdict queued behind it (5 ms fade) rather than delaying it by
        # its 70 ms: a verdict that waits for a lagging stream comes after its tick started
        self._cue_yields = np.array(
            [1 if name in DEFERRED_CUES else 0 for name in self.cue_names] or [0], np.int64
        )
        self._table = np.sin(2 * np.pi * np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE)
        self._state = np.zeros(k.N_STATE)
        self._state[k.S_CUE] = -1.0
        self._state[k.S_FADE] = -1.0
        self._state[k.S_FREQ] = 220.0
        self._params = np.zeros(k.N_PARAMS)
        self._params[k.P_FREQ] = 220.0
        self._params[k.P_VOLUME] = 0.7
        g = 1.0 - math.exp(-1.0 / (glide * rate))
        self._params[k.P_GLIDE_F] = g
        self._params[k.P_GLIDE_A] = g
        self._params[k.P_FADE_N] = max(1, round(_RAMP * rate))
        self._queue = np.zeros(_QUEUE, np.int64)
        self._q_cause = np.zeros((_QUEUE, 2))
        self._qstate = np.zeros(3, np.int64)
        self._log = np.zeros((_LOG, 4))
        self._lstate = np.zeros(1, np.int64)
        self._lock = threading.Lock()  # control side only (several producers); never taken by render
        self.render(np.zeros((0, 1), np.float32), 0.0)  # compile or load the kernel now, not in a callback

    # -- control side (any thread) ----------------------------------------------------
    def set_tone(self, freq: float, amp: float, arrival: float = math.nan, sample: float = math.nan) -> None:
        """Glide to ``freq`` Hz at loudness ``amp`` (0–1); the cause's arrival/sample times are for the latency log."""
        p = self._params
        freq = min(max(float(freq), 20.0), 0.45 * self.rate)
        amp = min(max(float(amp), 0.0), 1.0)
        if p[k.P_FREQ] == freq and p[k.P_AMP] == amp:
            return
        p[k.P_ARRIVAL] = arrival
        p[k.P_SAMPLE] = sample
        p[k.P_FREQ] = freq
        p[k.P_AMP] = amp
        p[k.P_GEN] += 1.0  # last: the kernel sees the new generation after its cause

    def trigger(self, cue: str, arrival: float = math.nan, sample: float = math.nan) -> bool:
        """Queue ``cue``; returns False (and drops it) when the queue is full or the output is muted."""
        i = self._cue_index.get(cue)
        if i is None:
            raise ConfigError("synth: cue " + expected(f"one of {', '.join(self.cue_names)}", cue))
        if self._params[k.P_MUTE]:
            return False
        with self._lock:
            head, tail = int(self._qstate[k.Q_HEAD]), int(self._qstate[k.Q_TAIL])
            if tail - head >= _QUEUE:
                return False
            slot = tail % _QUEUE
            self._queue[slot] = i
            self._q_cause[slot, 0] = arrival
            self._q_cause[slot, 1] = sample
            self._qstate[k.Q_TAIL] = tail + 1  # publish last
        return True

    def set_volume(self, volume: float) -> None:
        if not (0.0 <= volume <= 1.0):
            raise ConfigError("volume " + expected("a number between 0 and 1", volume))
        self._params[k.P_VOLUME] = float(volume)

    @property
    def volume(self) -> float:
        return float(self._params[k.P_VOLUME])

    def set_mute(self, muted: bool) -> None:
        self._params[k.P_MUTE] = 1.0 if muted else 0.0

    @property
    def muted(self) -> bool:
        return bool(self._params[k.P_MUTE])

    def set_hold(self, held: bool) -> None:
        """Silence the continuous tone (its signal is not trustworthy now); cues still play."""
        self._params[k.P_HOLD] = 1.0 if held else 0.0

    @property
    def held(self) -> bool:
        return bool(self._params[k.P_HOLD])

    @property
    def tone_target(self) -> tuple[float, float]:
        return float(self._params[k.P_FREQ]), float(self._params[k.P_AMP])

    # -- audio side (one thread) ------------------------------------------------------
    def render(self, out: np.ndarray, dac0: float) -> None:
        """Fill ``out`` (frames, channels) float32 in place; its first frame plays at session time ``dac0``."""
        k.synth_render(
            out,
            self.rate,
            dac0,
            self._table,
            self._state,
            self._params,
            self._cues,
            self._cue_len,
            self._cue_yields,
            self._queue,
            self._q_cause,
            self._qstate,
            self._log,
            self._lstate,
        )

    @property
    def cues_started(self) -> int:
        return int(self._qstate[k.Q_STARTED])

    def log(self) -> np.ndarray:
        """The latency log, oldest first: rows (kind, dac time, from arrival, from sample) (a copy)."""
        n = int(self._lstate[0])
        if n <= _LOG:
            return self._log[:n].copy()
        i = n % _LOG
        return np.concatenate([self._log[i:], self._log[:i]])

    def onsets(self) -> list[tuple[str, float]]:
        """Cue name and DAC onset time (session s) of every cue started (as far as the log reaches)."""
        rows = self.log()
        cues = rows[rows[:, 0] >= 1.0]
        return [(self.cue_names[int((r[0] - 1.0) / 10.0 + 0.5)], float(r[1])) for r in cues]


def _summary(values: np.ndarray) -> dict[str, Any]:
    v = values[np.isfinite(values)]
    if not v.size:
        return {"unit": "ms", "n": 0, "p50": None, "p95": None, "max": None}
    p50, p95 = np.percentile(v, [50, 95])
    return {
        "unit": "ms",
        "n": int(v.size),
        "p50": round(float(p50) * 1e3, 2),
        "p95": round(float(p95) * 1e3, 2),
        "max": round(float(v.max()) * 1e3, 2),
    }


class AudioSink(Sink):
    """The control side shared by the PortAudio and WAV sinks: feedback → tone, events → cues.

    Parameters
    ----------
    sonification : Sonification or None
        Which watched signal is sonified and how; ``None`` for cues only.
    cue_events : mapping of str to str
        Event kind → cue name (``feedback.cue`` events choose by their tone).
    rate : float
        Output sample rate, Hz.
    volume : float
        Initial volume, 0–1.
    """

    def __init__(
        self,
        sonification: Sonification | None = None,
        *,
        cue_events: Mapping[str, str] = DEFAULT_CUE_EVENTS,
        rate: float = 48000.0,
        volume: float = 0.7,
    ) -> None:
        self.synth = Synth(rate)
        self.synth.set_volume(volume)
        self.sonification = sonification
        for kind, cue in cue_events.items():
            if cue not in self.synth.cue_specs:
                raise ConfigError(f"cue for {kind!r}: " + expected(f"one of {', '.join(CUES)}", cue))
        self.cue_events = dict(cue_events)
        self._arrival = math.nan
        self._sample = math.nan
        self._paused = False
        self._hold_reason: str | None = None
        self._deferred: tuple[str, float, float] | None = None

    # -- controls (any thread) --------------------------------------------------------
    def set_volume(self, volume: float) -> None:
        self.synth.set_volume(volume)

    def set_mute(self, muted: bool) -> None:
        self.synth.set_mute(muted)

    def set_paused(self, paused: bool) -> None:
        """A paused session gives no feedback: the tone is silenced and no cue is queued."""
        self._paused = paused
        self.synth.set_hold(paused or self._hold_reason is not None)

    def hold(self, reason: str | None) -> None:
        """Silence the continuous tone while its signal cannot be trusted (``reason``), resume with ``None``."""
        self._hold_reason = reason
        self.synth.set_hold(self._paused or reason is not None)

    @property
    def hold_reason(self) -> str | None:
        return self._hold_reason

    def set_sonification(self, sonification: Sonification | None) -> None:
        self.sonification = sonification
        if sonification is None:
            self.synth.set_tone(self.synth.tone_target[0], 0.0)

    # -- sink interface (engine thread) -----------------------------------------------
    def on_block(self, block: Block) -> None:
        if self._deferred is not None:  # the engine moved on: the tick sounds now
            self._advance(block.arrival)
            self._flush_deferred()
        n = block.times.shape[0]
        if n:
            self._arrival = block.arrival
            self._sample = float(block.times[n - 1])

    def on_feedback(self, state: FeedbackState) -> None:
        self._advance(state.time)
        self._flush_deferred()
        son = self.sonification
        if son is None:
            return
        freq, amp = son.tone(state.signals.get(son.signal))
        self.synth.set_tone(freq, amp, self._arrival, self._sample)

    def on_event(self, event: Event) -> None:
        self._advance(event.detected_at)
        if self._paused:
            return
        if event.kind == kinds.FEEDBACK_CUE:
            cue = {"correct": "error", "good": "good"}.get(str(event.payload.get("tone")))
            if cue is not None:
                self._deferred = None  # the verdict says the rep is done
        else:
            cue = self.cue_events.get(event.kind)
        if cue in DEFERRED_CUES:
            self._flush_deferred()
            self._deferred = (cue, self._arrival, self._sample)
        elif cue is not None:
            self.synth.trigger(cue, self._arrival, self._sample)

    def _flush_deferred(self) -> None:
        """Sound a deferred tick no verdict replaced (the engine has moved on to the next block or state)."""
        if self._deferred is not None:
            cue, arrival, sample = self._deferred
            self._deferred = None
            if not self._paused:
                self.synth.trigger(cue, arrival, sample)

    def _advance(self, now: float) -> None:
        """Render up to session time ``now`` (the file sink); a live sink's callback needs nothing here."""

    # -- measurements -----------------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        """Latency to the output at the 50th/95th percentile, ms: tone changes and cue onsets, from arrival and from sample time."""
        log = self.synth.log()
        tone, cue = log[log[:, 0] == 0.0], log[log[:, 0] >= 1.0]
        return {
            "tone_from_arrival": _summary(tone[:, 2]),
            "tone_from_sample": _summary(tone[:, 3]),
            "cue_from_arrival": _summary(cue[:, 2]),
            "cue_from_sample": _summary(cue[:, 3]),
        }


class PortAudioSink(AudioSink):
    """Plays the feedback through PortAudio (python-sounddevice), ``latency='low'``.

    Parameters
    ----------
    now : callable
        The session clock (``clock.now``): the callback puts PortAudio's DAC time on it.
    device : int, str or None
        Output device (sounddevice's notation); ``None`` for the default.
    channels : int
        Output channels (the mono signal is copied to each).
    **kwargs
        See :class:`AudioSink`.

    Raises
    ------
    AudioUnavailable
        From :meth:`open` (or :meth:`start`) when PortAudio, an output device or the stream is not to be had.
    """

    def __init__(
        self,
        now: Callable[[], float],
        *,
        device: int | str | None = None,
        channels: int = 1,
        rate: float | None = None,
        **kwargs: Any,
    ) -> None:
        sd = _sounddevice()
        try:
            info = sd.query_devices(device, kind="output")
        except (ValueError, sd.PortAudioError) as error:
            if device is not None:
                raise AudioUnavailable(f"no audio output device {device!r} ({_first_line(error)})") from None
            apis = ", ".join(str(a["name"]) for a in sd.query_hostapis()) or "none"
            raise AudioUnavailable(
                f"no audio output device: PortAudio finds none through its host APIs ({apis})"
            ) from None
        if rate is None:
            rate = float(info["default_samplerate"])
        super().__init__(rate=rate, **kwargs)
        self.device_name = str(info["name"])
        self._sd = sd
        self._now = now
        self._device = device
        self._channels = int(channels)
        self._stream: Any = None
        self.underflows = 0
        self.callbacks = 0
        self.reported_latency = math.nan

    def open(self, streams: Sequence[StreamInfo]) -> None:
        self.start()

    def start(self) -> None:
        """Open and start the output stream (idempotent)."""
        if self._stream is not None:
            return
        sd = self._sd
        try:
            stream = sd.OutputStream(
                samplerate=self.synth.rate,
                device=self._device,
                channels=self._channels,
                dtype="float32",
                latency="low",
                callback=self._callback,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as error:
            raise AudioUnavailable(
                f"audio output {self.device_name!r} refused the stream ({_first_line(error)})"
            ) from None
        self._stream = stream
        self.reported_latency = float(stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        # real-time: no lock, no I/O, no array allocation
        if status:
            self.underflows += 1
        self.callbacks += 1
        dac0 = self._now() + (time.outputBufferDacTime - time.currentTime)
        self.synth.render(outdata, dac0)

    def close(self) -> None:
        self._flush_deferred()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)


class WavFileSink(AudioSink):
    """Renders the feedback sound on the session clock into a mono 16-bit WAV file.

    Frame ``k`` of the file is what the output plays at session time ``k / rate``.
    The sound is rendered in buffers of ``blocksize`` frames; each is filled
    ``blocksize`` frames before it plays, with the settings current at that time,
    as a PortAudio callback would. The file is written as the session goes (a
    crash loses at most the buffers not yet written).

    Parameters
    ----------
    path : str or path
        The WAV file to write (replaced).
    blocksize : int
        Frames per buffer (default 256: 5.3 ms at 48 kHz).
    **kwargs
        See :class:`AudioSink`.
    """

    def __init__(self, path: str | os.PathLike[str], *, blocksize: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (16 <= blocksize <= 65536):
            raise ConfigError("WAV sink: blocksize " + expected("16 to 65536 frames", blocksize))
        self.path = os.fspath(path)
        self.blocksize = int(blocksize)
        self._buf = np.zeros((self.blocksize, 1), np.float32)
        self._wav: wave.Wave_write | None = None
        self.frames = 0

    def open(self, streams: Sequence[StreamInfo]) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise ConfigError(f"WAV sink: expected an existing folder for {self.path!r}, got none")
        wav = wave.open(self.path, "wb")  # noqa: SIM115 - closed in close()
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(round(self.synth.rate))
        self._wav = wav
        self.frames = 0

    def _advance(self, now: float) -> None:
        if self._wav is None or not math.isfinite(now):
            return
        rate, b = self.synth.rate, self.blocksize
        # the buffer that starts at frame f is filled at (f - b) / rate
        while (self.frames - b) / rate <= now:
            self._write_block()

    def _write_block(self) -> None:
        assert self._wav is not None
        self.synth.render(self._buf, self.frames / self.synth.rate)
        pcm = np.round(self._buf[:, 0] * 32767.0).astype("<i2")
        self._wav.writeframes(pcm.tobytes())
        self.frames += self.blocksize

    def advance(self, now: float) -> None:
        """Render up to session time ``now`` (the engine calls this through events and feedback)."""
        if self._wav is None:
            raise StateError("WAV sink: advance() before the session opened the sink")
        self._advance(now)

    def close(self) -> None:
        self._flush_deferred()
        wav, self._wav = self._wav, None
        if wav is None:
            return
        # let the last cue ring out: render until the queue is empty and the cue has ended
        end = (
            self.frames
            + round(max((c.duration for c in self.synth.cue_specs.values()), default=0.0) * self.synth.rate)
            * 2
        )
        self._wav = wav
        while self.frames < end:
            self._write_block()
        self._wav = None
        wav.close()


def _sounddevice() -> Any:
    """Import sounddevice, or say in one line why there is no PortAudio."""
    try:
        import sounddevice
    except OSError as error:  # the module is there, libportaudio is not
        raise AudioUnavailable(
            f"PortAudio library not found ({_first_line(error)}); install libportaudio2 (scripts/setup-system.sh)"
        ) from None
    except ImportError:
        raise AudioUnavailable("python-sounddevice is not installed (pip install -e .)") from None
    return sounddevice


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
