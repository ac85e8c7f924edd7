"""Gap reporting a person can read: one event per outage, scattered loss summarised.

Every lost BLE packet used to be its own ``stream.gap`` event (394 in 20 s at 2 %
loss), which floods a therapist's console and hides the one outage that matters.
:class:`GapReporter` keeps the exact counts (for the stream statistics) and says

* ``stream.gap`` once per **outage**: a loss of at least ``outage`` seconds of
  samples in one go (a disconnect, a stall), with the exact count;
* ``stream.loss`` about once per ``period`` seconds while shorter, **scattered**
  losses happen: samples and losses since the last summary, the running loss
  fraction of the stream, and the seconds it covers. A period without loss says
  nothing; the loss left unsaid when a stream stops is said by :meth:`flush`.

The block's ``missing_before`` still carries every lost sample exactly; the
events are what a person reads.
"""

from __future__ import annotations

import math
from typing import Any

from nmre.core import kinds
from nmre.core.model import Event
from nmre.errors import ConfigError, expected

__all__ = ["OUTAGE_SECONDS", "SUMMARY_SECONDS", "GapReporter"]

#: A loss of at least this much signal in one go is an outage with its own event, seconds.
OUTAGE_SECONDS = 0.25
#: Scattered loss is summarised about this often, seconds.
SUMMARY_SECONDS = 1.0


class GapReporter:
    """Per-stream loss accounting and the events a person reads (see the module docs).

    Parameters
    ----------
    stream : str
        Stream id (the events' source).
    rate : float
        Nominal rate, Hz (0 for irregular streams: every loss is then an outage).
    outage, period : float
        Seconds of signal lost in one go that make an outage; seconds between summaries.
    """

    def __init__(
        self, stream: str, rate: float, outage: float = OUTAGE_SECONDS, period: float = SUMMARY_SECONDS
    ) -> None:
        if not (outage > 0 and period > 0):
            raise ConfigError("gap reporting: " + expected("outage and period > 0 s", (outage, period)))
        self.stream = stream
        self.rate = float(rate)
        self.outage_samples = max(1, math.ceil(outage * rate)) if rate > 0 else 1
        self.period = float(period)
        #: Exact counts since the start: samples received, samples lost, loss episodes, outages among them.
        self.received = 0
        self.lost = 0
        self.losses = 0
        self.outages = 0
        self._window_start = math.nan
        self._window_lost = 0
        self._window_losses = 0

    @property
    def fraction(self) -> float:
        """Running loss fraction: lost / (lost + received) since the start (0 before any sample)."""
        total = self.lost + self.received
        return self.lost / total if total else 0.0

    def counts(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "lost": self.lost,
            "losses": self.losses,
            "outages": self.outages,
            "fraction": round(self.fraction, 6),
        }

    def packet(
        self, time: float, n_samples: int, missing: int, extra: dict[str, Any] | None = None
    ) -> list[Event]:
        """A packet of ``n_samples`` at session ``time`` after ``missing`` lost samples; the events to raise."""
        out: list[Event] = []
        self.received += n_samples
        if math.isnan(self._window_start):
            self._window_start = time
        if missing > 0:
            self.lost += missing
            self.losses += 1
            if missing >= self.outage_samples:
                self.outages += 1
                seconds = missing / self.rate if self.rate else math.nan
                out.append(
                    Event(
                        time,
                        kinds.STREAM_GAP,
                        self.stream,
                        {"missing": missing, "seconds": seconds, **(extra or {})},
                        therapist_message=f"{self.stream}: {missing} samples lost"
                        + (f" ({seconds:.2f} s)" if self.rate else ""),
                    )
                )
            else:
                self._window_lost += missing
                self._window_losses += 1
        if time - self._window_start >= self.period:
            out += self._summary(time)
        return out

    def flush(self, time: float) -> list[Event]:
        """The scattered loss not yet summarised (at the end of a stream or session)."""
        return self._summary(time) if self._window_lost else []

    def _summary(self, time: float) -> list[Event]:
        lost, losses, start = self._window_lost, self._window_losses, self._window_start
        self._window_start, self._window_lost, self._window_losses = time, 0, 0
        if not lost:
            return []
        seconds = time - start
        return [
            Event(
                time,
                kinds.STREAM_LOSS,
                self.stream,
                {
                    "lost": lost,
                    "losses": losses,
                    "seconds": seconds,
                    "fraction": self.fraction,
                    "total_lost": self.lost,
                },
                therapist_message=f"{self.stream}: {lost} samples lost in {losses} places over the last "
                f"{seconds:.1f} s; {100 * self.fraction:.1f} % lost since the start",
            )
        ]
