"""Streaming dynamic time warping: SPRING subsequence matching and open-end progress tracking.

* :class:`Spring` finds where a template occurs in a stream (Sakurai,
  Faloutsos & Yamamuro 2007, "Stream monitoring under the time warping
  distance", ICDE): one column of the subsequence-DTW matrix per sample, O(m)
  time and memory per sample for a template of m samples. Local cost is the
  squared Euclidean distance and the reported distance its accumulated sum's
  square root, the definition of ``tslearn.metrics.dtw_subsequence_path``;
  ties between predecessors break like tslearn's backtracking (diagonal,
  then same time, then previous time) so start, end and distance agree exactly.
* :class:`OpenEndDtw` tracks how far through a template a movement has come
  (Tormene, Giorgino, Quaglini & Stefanelli 2009, Artif Intell Med 45:11):
  open-end DTW with the asymmetric step pattern (each stream sample advances
  the template by 0, 1 or 2 samples; the path starts at both beginnings, its
  end on the template is free). Local cost is the Euclidean distance.

Templates are ``(n_dims, m)`` float64; stream blocks carry the same ``n_dims``
rows in the same units (e.g. joint angles in degrees).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nmre._numba import kernel
from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, Event, StreamInfo, StreamKind
from nmre.dsp._imu_common import checked_values, derived_info, out_block
from nmre.dsp._protect import protected
from nmre.errors import ConfigError, InputError, expected

__all__ = ["OpenEndDtw", "Spring", "subsequence_match"]

F64 = NDArray[np.float64]

# Spring scalar state
SP_N, SP_BEST, SP_BEST_S, SP_BEST_E, SP_DMIN, SP_TS, SP_TE, SP_TS_T, SP_TE_T, SP_SIZE = range(10)
# event row: start index, end index, squared cost, start time, end time
EV_SIZE = 5


def _template(template: ArrayLike) -> F64:
    y = np.asarray(template, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] < 1 or y.shape[0] < 1:
        raise ConfigError(
            "template: " + expected("shape (m,) or (n_dims, m) with m >= 1", np.shape(template))
        )
    if not np.all(np.isfinite(y)):
        raise ConfigError("template: " + expected("finite values", "NaN or inf"))
    return np.ascontiguousarray(y)


@kernel
def _spring(
    x: F64,
    t: F64,
    y: F64,
    D: F64,
    S: F64,
    ST: F64,
    Dn: F64,
    Sn: F64,
    STn: F64,
    st: F64,
    eps2: float,
    out: F64,
    events: F64,
) -> int:
    dims, m = y.shape
    ne = 0
    for k in range(x.shape[1]):
        finite = True
        for c in range(dims):
            if not math.isfinite(x[c, k]):
                finite = False
        g = st[SP_N]
        if not finite:
            # a gap: no match may span it
            for i in range(m):
                D[i] = np.inf
            out[0, k] = np.nan
            out[1, k] = np.nan
            st[SP_N] = g + 1.0
            continue
        for i in range(m):
            d = 0.0
            for c in range(dims):
                diff = y[c, i] - x[c, k]
                d += diff * diff
            if i == 0:
                Dn[0] = d
                Sn[0] = g
                STn[0] = t[k]
            else:
                best = D[i - 1]  # diagonal
                s = S[i - 1]
                s_t = ST[i - 1]
                if Dn[i - 1] < best:  # same time, previous template sample
                    best = Dn[i - 1]
                    s = Sn[i - 1]
                    s_t = STn[i - 1]
                if D[i] < best:  # previous time, same template sample
                    best = D[i]
                    s = S[i]
                    s_t = ST[i]
                Dn[i] = d + best
                Sn[i] = s
                STn[i] = s_t
        for i in range(m):
            D[i] = Dn[i]
            S[i] = Sn[i]
            ST[i] = STn[i]
        # Sakurai's disjoint-match report (only with a threshold)
        if st[SP_DMIN] <= eps2:
            done = True
            for i in range(m):
                if D[i] < st[SP_DMIN] and S[i] <= st[SP_TE]:
                    done = False
                    break
            if done:
                events[ne, 0] = st[SP_TS]
                events[ne, 1] = st[SP_TE]
                events[ne, 2] = st[SP_DMIN]
                events[ne, 3] = st[SP_TS_T]
                events[ne, 4] = st[SP_TE_T]
                ne += 1
                for i in range(m):
                    if S[i] <= st[SP_TE]:
                        D[i] = np.inf
                st[SP_DMIN] = np.inf
        c_end = D[m - 1]
        if c_end <= eps2 and c_end < st[SP_DMIN]:
            st[SP_DMIN] = c_end
            st[SP_TS] = S[m - 1]
            st[SP_TE] = g
            st[SP_TS_T] = ST[m - 1]
            st[SP_TE_T] = t[k]
        if c_end < st[SP_BEST]:
            st[SP_BEST] = c_end
            st[SP_BEST_S] = S[m - 1]
            st[SP_BEST_E] = g
        out[0, k] = math.sqrt(c_end)
        out[1, k] = S[m - 1] if c_end < np.inf else np.nan
        st[SP_N] = g + 1.0
    return ne


@protected("nan")
class Spring(Processor):
    """Streaming subsequence DTW (SPRING): matches of a template anywhere in a stream.

    Output, one sample per input sample: ``distance``, the DTW distance
    (square root of the accumulated squared Euclidean cost) of the best match
    of the whole template ending at this sample, and ``start``, the stream
    sample index (counted from the first sample since construction or
    :meth:`reset`) where that match begins. Non-finite samples give NaN and
    break every match running through them.

    Without ``threshold`` the processor only keeps the best match so far
    (:attr:`best`), which equals ``tslearn.metrics.dtw_subsequence_path`` on
    the concatenated stream. With a ``threshold`` (same unit as the distance)
    it also reports, as ``"dtw.match"`` events, each locally optimal match
    below the threshold once no overlapping match can beat it (Sakurai et al.
    2007, Fig. 5), and then the cells of that match are cleared, so
    :attr:`best` is among the matches left after clearing.

    Parameters
    ----------
    template : array_like, shape (m,) or (n_dims, m)
        The query movement, in the stream's units.
    threshold : float, optional
        Distance threshold ε for match events.
    name : str, optional
        Event source and output stream id (default input id + ``".spring"``).
    """

    def __init__(self, template: ArrayLike, threshold: float | None = None, name: str | None = None) -> None:
        self.template = _template(template)
        if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
            raise ConfigError("threshold: " + expected("a finite distance >= 0 or None", threshold))
        self.threshold = threshold
        self._eps2 = -1.0 if threshold is None else float(threshold) ** 2
        self.name = name
        m = self.template.shape[1]
        self._cols = np.empty((6, m))
        self._st = np.empty(SP_SIZE)
        self._events: list[Event] = []
        self.reset()

    def reset(self) -> None:
        self._cols[0] = np.inf
        self._cols[1:] = 0.0
        self._st[:] = 0.0
        self._st[SP_BEST] = np.inf
        self._st[SP_BEST_S] = -1.0
        self._st[SP_BEST_E] = -1.0
        self._st[SP_DMIN] = np.inf
        self._events = []

    @property
    def best(self) -> tuple[int, int, float]:
        """Best match so far: (start index, end index, distance); (-1, -1, inf) before any."""
        s = self._st
        return int(s[SP_BEST_S]), int(s[SP_BEST_E]), math.sqrt(s[SP_BEST])

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".spring"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(
            info,
            self._out_id(info.id),
            StreamKind.ANGLE,
            (Channel("distance", "1"), Channel("start", "sample")),
        )

    def pop_events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def process(self, block: Block) -> Block:
        x = checked_values(block, self.template.shape[0], f"Spring input {block.stream!r}")
        n = x.shape[1]
        out = np.empty((2, n))
        ev = np.empty((n, EV_SIZE))
        c = self._cols
        ne = _spring(
            x,
            np.ascontiguousarray(block.times, dtype=np.float64),
            self.template,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            self._st,
            self._eps2,
            out,
            ev,
        )
        src = self._out_id(block.stream)
        for r in ev[:ne]:
            self._events.append(
                Event(
                    float(r[4]),
                    "dtw.match",
                    src,
                    {
                        "start": int(r[0]),
                        "end": int(r[1]),
                        "distance": math.sqrt(r[2]),
                        "start_time": float(r[3]),
                        "end_time": float(r[4]),
                    },
                )
            )
        return out_block(block, src, out)


def subsequence_match(template: ArrayLike, series: ArrayLike) -> tuple[int, int, float]:
    """Best match of ``template`` inside ``series`` by subsequence DTW (batch, via :class:`Spring`).

    Parameters
    ----------
    template : array_like, shape (m,) or (n_dims, m)
    series : array_like, shape (n,) or (n_dims, n)

    Returns
    -------
    (start, end, distance)
        Inclusive sample indices into ``series`` and the DTW distance, as
        ``tslearn.metrics.dtw_subsequence_path(template.T, series.T)`` gives
        (``path[0][1]``, ``path[-1][1]``, cost).
    """
    sp = Spring(template)
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] != sp.template.shape[0] or x.shape[1] == 0:
        raise InputError(
            "series: " + expected(f"shape (n,) or ({sp.template.shape[0]}, n) with n >= 1", np.shape(series))
        )
    sp.process(Block("series", np.arange(x.shape[1], dtype=np.float64), np.ascontiguousarray(x)))
    return sp.best


@kernel
def _open_end(x: F64, y: F64, D: F64, Dn: F64, st: F64, out: F64) -> None:
    dims, m = y.shape
    for k in range(x.shape[1]):
        finite = True
        for c in range(dims):
            if not math.isfinite(x[c, k]):
                finite = False
        if not finite:
            out[0, k] = np.nan
            out[1, k] = np.nan
            continue
        first = st[0] == 0.0
        for j in range(m):
            d = 0.0
            for c in range(dims):
                diff = x[c, k] - y[c, j]
                d += diff * diff
            d = math.sqrt(d)
            if first:
                Dn[j] = d if j == 0 else np.inf
            else:
                best = D[j]
                if j >= 1 and D[j - 1] < best:
                    best = D[j - 1]
                if j >= 2 and D[j - 2] < best:
                    best = D[j - 2]
                Dn[j] = d + best
        jb = 0
        for j in range(m):
            D[j] = Dn[j]
            if D[j] < D[jb]:
                jb = j
        st[0] += 1.0
        out[0, k] = jb / (m - 1) if m > 1 else 1.0
        out[1, k] = D[jb] / st[0]


@protected()
class OpenEndDtw(Processor):
    """Progress through a template by open-end DTW, sample by sample.

    Each stream sample ``i`` extends the alignment; the template index ``j*``
    that minimises the accumulated cost ``D(i, j)`` is where the movement is
    now. With the asymmetric step pattern (``D(i, j) = d(i, j) + min(D(i-1, j),
    D(i-1, j-1), D(i-1, j-2))``, ``d`` the Euclidean distance, the path
    starting at ``(0, 0)``), this is ``dtw.dtw(stream, template,
    step_pattern=asymmetric, open_end=True).index2[-1]`` of dtw-python,
    computed in O(m) per sample.

    Output, per input sample: ``progress`` = ``j* / (m - 1)`` in [0, 1] and
    ``cost`` = ``D(i, j*) / (i + 1)`` (mean distance per stream sample, in the
    stream's units). Non-finite samples give NaN and are left out of the
    alignment. Call :meth:`reset` at the start of each repetition.

    Parameters
    ----------
    template : array_like, shape (m,) or (n_dims, m)
    name : str, optional
        Output stream id (default input id + ``".progress"``).
    """

    def __init__(self, template: ArrayLike, name: str | None = None) -> None:
        self.template = _template(template)
        self.name = name
        m = self.template.shape[1]
        self._D = np.full(m, np.inf)
        self._Dn = np.full(m, np.inf)
        self._st = np.zeros(1)

    def reset(self) -> None:
        self._D[:] = np.inf
        self._st[:] = 0.0

    @property
    def progress(self) -> float:
        """Latest progress in [0, 1] (NaN before the first sample)."""
        if self._st[0] == 0:
            return math.nan
        m = self._D.shape[0]
        return float(np.argmin(self._D)) / (m - 1) if m > 1 else 1.0

    def _out_id(self, stream: str) -> str:
        return self.name if self.name is not None else stream + ".progress"

    def output_info(self, info: StreamInfo) -> StreamInfo:
        return derived_info(
            info, self._out_id(info.id), StreamKind.ANGLE, (Channel("progress", "1"), Channel("cost", "1"))
        )

    def process(self, block: Block) -> Block:
        x = checked_values(block, self.template.shape[0], f"OpenEndDtw input {block.stream!r}")
        out = np.empty((2, x.shape[1]))
        _open_end(x, self.template, self._D, self._Dn, self._st, out)
        return out_block(block, self._out_id(block.stream), out)
