"""Session and progress reports: HTML and PDF with matplotlib plots.

``session_report`` shows one session: who, when, which drill; the watched signals
over time with their target bands and each rep's span and verdict; a table of the
reps with every check's value and verdict; the errors over time; the feedback the
patient was given; and the data quality (samples missing, gaps, what was not
judged and why). The signals come from replaying the recording (as recorded, so
they are the session's own); a stored session whose recording is gone still gets
everything but the traces, and says so.

``progress_report`` shows one patient's sessions of a drill: per metric (each
rule's per-rep value), the session means with their spread and, between sessions,
whether a change exceeds the minimal detectable change
``MDC95 = 1.96 * sqrt(2) * SEM`` (Weir 2005, J Strength Cond Res 19:231; Haley &
Fragala-Pinkham 2006, Phys Ther 86:735). The SEM of a session mean is taken from
the patient's own repeated trials: the pooled within-session standard deviation of
single reps divided by sqrt(reps in the session) (the typical error, Hopkins 2000,
Sports Med 30:1), or given as a published value for a metric.

Pages are A4 portrait; every figure is drawn inside its page with margins (a test
renders the PDF and checks that no page is blank or clipped).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmre.core import kinds
from nmre.core.interfaces import Sink
from nmre.core.model import Block, Event, StreamInfo
from nmre.errors import ConfigError, NmreError, StoreError
from nmre.sessions.metrics import RepRow, outcomes, rep_rows, session_metrics

__all__ = ["ProgressData", "SessionData", "mdc95", "progress_report", "session_data", "session_report"]

A4 = (8.27, 11.69)
_OK, _FIX, _GREY, _BAND = "#009E73", "#D55E00", "#999999", "#56B4E9"  # Okabe-Ito
MAX_POINTS = 4000  # per trace on a page


# -- the data of a report --------------------------------------------------------------------------------------
@dataclass
class Trace:
    rule: str
    signal: str  # "stream:channel"
    label: str
    unit: str
    t: np.ndarray
    v: np.ndarray
    lo: float | None
    hi: float | None


@dataclass
class SessionData:
    """Everything a session report shows."""

    title: str
    patient: str | None
    session: int | None
    started: str | None
    drill: str
    duration: float
    events: list[Event]
    reps: list[RepRow]
    metrics: dict[str, Any]
    traces: list[Trace] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recording: str | None = None

    @property
    def cues(self) -> list[Event]:
        return [e for e in self.events if e.kind == kinds.FEEDBACK_CUE]


class _TraceSink(Sink):
    """Keeps the blocks of the watched streams (derived signals) during a replay for the report."""

    def __init__(self, streams: set[str]) -> None:
        self.want = streams
        self.blocks: dict[str, list[Block]] = {s: [] for s in streams}
        self.infos: dict[str, StreamInfo] = {}

    def open(self, streams: Sequence[StreamInfo]) -> None:
        self.infos = {s.id: s for s in streams}

    def on_block(self, block: Block) -> None:
        if block.stream in self.want:
            self.blocks[block.stream].append(block)

    def on_event(self, event: Event) -> None:
        pass


def _watched(events: Sequence[Event]) -> dict[str, tuple[str, str, float | None, float | None]]:
    """``signal -> (rule, label, lo, hi)`` for the rules that name the signal they watch."""
    out: dict[str, tuple[str, str, float | None, float | None]] = {}
    for e in events:
        sig = e.payload.get("signal") if e.kind.startswith(kinds.RULE) else None
        if isinstance(sig, str) and ":" in sig and sig not in out:
            label = (e.therapist_message or "").split(": ", 1)[-1].split(" ")[0:3]
            out[sig] = (e.kind[len(kinds.RULE) :], " ".join(label), e.payload.get("lo"), e.payload.get("hi"))
    return out


def _quality(rec: Any, events: Sequence[Event]) -> list[dict[str, Any]]:
    rows = []
    for s in rec.raw:
        n = s.n_samples
        span = float(s.times[-1] - s.times[0]) if n > 1 else 0.0
        expected = round(span * s.srate) + 1 if s.srate > 0 and n else n
        finite = np.isfinite(s.values).all(axis=0) if n else np.zeros(0, dtype=bool)
        steps = np.diff(s.times) if n > 1 else np.zeros(0)
        gaps = int(np.sum(steps > 1.5 / s.srate)) if s.srate > 0 else 0
        rows.append(
            {
                "stream": s.name,
                "kind": s.info.kind.value if s.info else s.type,
                "rate": s.srate,
                "samples": n,
                "missing": max(0, expected - n),
                "missing_pct": 100.0 * max(0, expected - n) / expected if expected else 0.0,
                "gaps": gaps,
                "bad": int(n - int(finite.sum())),
            }
        )
    return rows


def session_data(
    recording: str | os.PathLike[str] | None = None,
    *,
    store: Any = None,
    session: int | None = None,
) -> SessionData:
    """Gather a report's data from a recording, a stored session, or both (the store's row + its recording)."""
    from nmre.sessions.replay import replay
    from nmre.sessions.xdf import read_xdf

    row = None
    notes: list[str] = []
    if store is not None and session is not None:
        row = store.session(session)
        notes = [f"{n['written']}: {n['text']}" for n in store.notes(session=session)]
        if recording is None:
            recording = row.recording
    path = os.fspath(recording) if recording is not None else None
    if path is not None and not os.path.isfile(path):
        if row is None:
            raise ConfigError(f"report: expected a recording, got no file at {path}")
        notes.append(f"the recording {path} is not there any more: no traces in this report")
        path = None
    traces: list[Trace] = []
    quality: list[dict[str, Any]] = []
    if path is not None:
        rec = read_xdf(path)
        recorded = rec.events
        watch = _watched(recorded)
        sink = _TraceSink({w.split(":", 1)[0] for w in watch})
        try:
            res = replay(rec, sinks=[sink])
            events = res.events
            drill = res.drill
        except NmreError as exc:  # a recording the drill cannot replay: the recorded events still report
            notes.append(f"not replayed ({exc}): no traces")
            events, drill = recorded, str((rec.metadata.get("drill") or {}).get("name", "unknown"))
        for sig, (rule, label, lo, hi) in watch.items():
            stream, channel = sig.split(":", 1)
            blocks = sink.blocks.get(stream) or []
            info = sink.infos.get(stream)
            if not blocks or info is None or channel not in info.channel_names:
                continue
            k = info.channel_names.index(channel)
            t = np.concatenate([b.times for b in blocks])
            v = np.concatenate([b.values[k] for b in blocks])
            step = max(1, t.shape[0] // MAX_POINTS)
            traces.append(
                Trace(rule, sig, f"{rule} ({label})", info.channels[k].unit, t[::step], v[::step], lo, hi)
            )
        quality = _quality(rec, events)
        for p in rec.problems:
            notes.append(f"file: {p}")
        duration = rec.duration
        meta = rec.metadata
        patient = meta.get("patient") if isinstance(meta.get("patient"), str) else None
        started = str(meta.get("created") or "") or None
    else:
        assert row is not None
        events = []
        drill, duration, patient, started = row.drill, float(row.duration or 0.0), row.patient, row.started
    reps = rep_rows(events) if events else _stored_reps(store, session)
    metrics = session_metrics(events) if events else dict(row.metrics if row else {})
    if row is not None:
        patient, started, drill = row.patient, row.started, row.drill
    title = f"Session {session}" if session is not None else f"Session {os.path.basename(path or '')}"
    return SessionData(
        title,
        patient,
        session,
        started,
        drill,
        duration,
        list(events),
        reps,
        metrics,
        traces,
        quality,
        notes,
        path,
    )


def _stored_reps(store: Any, session: int | None) -> list[RepRow]:
    """A stored session's reps as report rows (when its recording is gone)."""
    from nmre.sessions.metrics import Outcome

    if store is None or session is None:
        return []
    out = []
    for r in store.reps(session):
        row = RepRow(r.unit, r.index, r.start, r.end, cues=list(r.cues), unjudged=list(r.unjudged))
        for rule, c in r.checks.items():
            row.checks[rule] = Outcome(
                rule,
                r.unit,
                r.index,
                bool(c["ok"]),
                c.get("value"),
                c.get("unit") or "",
                c.get("error"),
                r.end or 0.0,
                c.get("lo"),
                c.get("hi"),
            )
        out.append(row)
    return out


# -- drawing ---------------------------------------------------------------------------------------------------
def _figure(plt: Any) -> Any:
    fig = plt.figure(figsize=A4)
    return fig


def _header(fig: Any, title: str, subtitle: str) -> None:
    fig.text(0.07, 0.955, title, fontsize=16, weight="bold", va="top")
    fig.text(0.07, 0.925, subtitle, fontsize=9, color="#444444", va="top")
    fig.text(
        0.93, 0.03, f"nmre report, {_dt.date.today().isoformat()}", fontsize=7, color="#777777", ha="right"
    )


def _table(
    ax: Any,
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    colors: Sequence[Sequence[str]] | None = None,
    font: float = 7.5,
) -> None:
    ax.axis("off")
    if not rows:
        ax.text(0.0, 1.0, "(none)", fontsize=font, va="top", transform=ax.transAxes)
        return
    # columns as wide as their longest text (at least 4 characters), filling the axes' width
    lens = [max([4, len(str(h))] + [len(str(r[c])) for r in rows]) for c, h in enumerate(header)]
    widths = [n / sum(lens) for n in lens]
    tab = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(header),
        colWidths=widths,
        loc="upper left",
        cellLoc="left",
        colLoc="left",
    )
    tab.auto_set_font_size(False)
    tab.set_fontsize(font)
    tab.scale(1.0, 1.25)
    for (r, c), cell in tab.get_celld().items():
        cell.set_edgecolor("#dddddd")
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_text_props(weight="bold")
        elif colors is not None:
            cell.set_facecolor(colors[r - 1][c])


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def _band(lo: Any, hi: Any, unit: str) -> str:
    if lo is not None and hi is not None:
        return f"{_num(lo)}-{_num(hi)} {unit}"
    if hi is not None:
        return f"<= {_num(hi)} {unit}"
    if lo is not None:
        return f">= {_num(lo)} {unit}"
    return ""


def _summary_page(plt: Any, d: SessionData) -> Any:
    fig = _figure(plt)
    who = f"patient {d.patient}" if d.patient else "patient not named"
    _header(
        fig,
        f"{d.title}: {d.drill}",
        f"{who}  |  {d.started or 'date unknown'}  |  {d.duration:.0f} s of session",
    )
    m = d.metrics
    judged = [r for r in d.reps if r.ok is not None]
    lines = [
        f"Reps and windows judged: {len(judged)}   on target: {sum(1 for r in judged if r.ok)}   "
        f"not judged: {sum(1 for r in d.reps if r.ok is None and r.unjudged)}",
        f"Checks on target: {m.get('outcomes_ok', 0)} of {m.get('outcomes', 0)}   cues given: {len(d.cues)}",
    ]
    errors = {k[len("error.") :]: v for k, v in m.items() if k.startswith("error.")}
    lines.append("Errors: " + (", ".join(f"{k} x{v}" for k, v in sorted(errors.items())) or "none"))
    for i, ln in enumerate(lines):
        fig.text(0.07, 0.87 - 0.025 * i, ln, fontsize=10, va="top")
    rules = sorted({rule for r in d.reps for rule in r.checks})
    rows = []
    for rule in rules:
        vals = [r.checks[rule].value for r in d.reps if rule in r.checks and r.checks[rule].value is not None]
        anyc = next(r.checks[rule] for r in d.reps if rule in r.checks)
        ok = sum(1 for r in d.reps if rule in r.checks and r.checks[rule].ok)
        n = sum(1 for r in d.reps if rule in r.checks)
        rows.append(
            [
                rule,
                _band(anyc.lo, anyc.hi, anyc.value_unit),
                f"{ok}/{n}",
                _num(float(np.mean(vals))) if vals else "n/a",
                _num(float(min(vals))) if vals else "n/a",
                _num(float(max(vals))) if vals else "n/a",
            ]
        )
    ax = fig.add_axes((0.07, 0.58, 0.86, 0.17))
    ax.set_title("Checks", loc="left", fontsize=11)
    _table(ax, rows, ["check", "target", "on target", "mean", "min", "max"], font=8)
    ax2 = fig.add_axes((0.07, 0.3, 0.86, 0.24))
    ax2.set_title("Data quality", loc="left", fontsize=11)
    q = [
        [
            r["stream"],
            r["kind"],
            f"{r['rate']:g} Hz",
            str(r["samples"]),
            f"{r['missing']} ({r['missing_pct']:.1f} %)",
            str(r["gaps"]),
            str(r["bad"]),
        ]
        for r in d.quality
    ]
    qc = [
        ["white"] * 7 if r["missing_pct"] < 1 and r["bad"] == 0 else ["white"] * 4 + ["#fbe3d6"] * 3
        for r in d.quality
    ]
    _table(ax2, q, ["stream", "kind", "rate", "samples", "missing", "gaps", "bad"], qc if q else None, font=8)
    if not q:
        ax2.text(0, 0.8, "no recording: data quality not available", fontsize=8, transform=ax2.transAxes)
    notes = d.notes + [f"not judged: {u}" for r in d.reps for u in r.unjudged]
    if notes:
        fig.text(0.07, 0.25, "Notes", fontsize=11, va="top")
    for i, n in enumerate(notes[:8]):
        fig.text(0.07, 0.225 - 0.018 * i, _clip(n, 115), fontsize=7.5, va="top", color="#333333")
    if len(notes) > 8:
        fig.text(
            0.07,
            0.225 - 0.018 * 8,
            f"... and {len(notes) - 8} more notes (all in the HTML report)",
            fontsize=7.5,
            va="top",
        )
    return fig


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _rep_spans(ax: Any, d: SessionData, rule: str | None = None) -> None:
    """Shade each rep: green when the check (``rule``, else the whole rep) was on target, orange if not."""
    for r in d.reps:
        if r.start is None or r.end is None or r.unit != "rep":
            continue
        c = r.checks.get(rule) if rule is not None else None
        ok = c.ok if c is not None else r.ok
        color = _GREY if ok is None else (_OK if ok else _FIX)
        ax.axvspan(r.start, r.end, color=color, alpha=0.12, lw=0)


def _traces_page(plt: Any, d: SessionData, traces: Sequence[Trace], part: str) -> Any:
    fig = _figure(plt)
    _header(
        fig,
        f"{d.title}: signals{part}",
        "blue: target band; reps shaded green where this check was on target, orange where not",
    )
    n = len(traces)
    top, bottom, gap = 0.88, 0.07, 0.05
    h = (top - bottom - gap * (n - 1)) / n
    for i, tr in enumerate(traces):
        ax = fig.add_axes((0.1, top - (i + 1) * h - i * gap, 0.85, h))
        _rep_spans(ax, d, tr.rule)
        ax.plot(tr.t, tr.v, color="#222222", lw=0.7)
        lo = tr.lo if tr.lo is not None else None
        hi = tr.hi if tr.hi is not None else None
        if lo is not None or hi is not None:
            y0 = lo if lo is not None else min(float(np.nanmin(tr.v)), hi or 0.0)
            y1 = hi if hi is not None else max(float(np.nanmax(tr.v)), lo or 0.0)
            ax.axhspan(y0, y1, color=_BAND, alpha=0.18, lw=0)
            for y in (lo, hi):
                if y is not None:
                    ax.axhline(y, color=_BAND, lw=0.8, ls="--")
        ax.set_title(tr.label, loc="left", fontsize=9)
        ax.set_ylabel(tr.unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max(d.duration, float(tr.t[-1]) if tr.t.size else 1.0))
        if i == n - 1:
            ax.set_xlabel("session time (s)", fontsize=8)
    return fig


def _values_page(plt: Any, d: SessionData) -> Any:
    """Each check's value per rep/window over time, with its band: the errors over time, and the cues."""
    fig = _figure(plt)
    _header(
        fig,
        f"{d.title}: errors over time and feedback given",
        "each marker one rep or window; orange = outside the target",
    )
    outs = outcomes(d.events) if d.events else [c for r in d.reps for c in r.checks.values()]
    rules = sorted({o.rule for o in outs})
    n = max(1, len(rules))
    top, bottom = 0.88, 0.36
    h = (top - bottom - 0.04 * (n - 1)) / n
    for i, rule in enumerate(rules):
        ax = fig.add_axes((0.1, top - (i + 1) * h - i * 0.04, 0.85, h))
        pts = [o for o in outs if o.rule == rule and o.value is not None]
        t = [o.time for o in pts]
        ax.scatter(t, [o.value for o in pts], c=[_OK if o.ok else _FIX for o in pts], s=14, zorder=3)
        if pts:
            lo, hi = pts[0].lo, pts[0].hi
            for y in (lo, hi):
                if y is not None:
                    ax.axhline(y, color=_BAND, lw=0.8, ls="--")
        ax.set_title(f"{rule} ({pts[0].value_unit if pts else ''})", loc="left", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max(d.duration, 1.0))
    axc = fig.add_axes((0.07, 0.06, 0.86, 0.25))
    axc.set_title("Feedback given to the patient", loc="left", fontsize=10)
    cues = d.cues
    rows = [
        [f"{c.time:.1f} s", _clip(c.patient_message or "", 60), str(c.payload.get("tone", ""))]
        for c in cues[:18]
    ]
    _table(axc, rows, ["time", "message", "tone"], font=7.5)
    if len(cues) > 18:
        axc.text(
            0,
            -0.05,
            f"... and {len(cues) - 18} more cues (all in the HTML report)",
            fontsize=7,
            transform=axc.transAxes,
        )
    return fig


def _reps_pages(plt: Any, d: SessionData, per_page: int = 34) -> list[Any]:
    rules = sorted({rule for r in d.reps for rule in r.checks})
    header = ["rep", "time (s)", "verdict", *rules, "told"]
    body, colors = [], []
    for r in d.reps:
        where = f"{r.unit} {r.index}" if r.unit != "rep" else str(r.index)
        span = f"{r.start:.1f}-{r.end:.1f}" if r.start is not None and r.end is not None else ""
        verdict = "not judged" if r.ok is None else ("ok" if r.ok else "correct")
        cells = [where, span, verdict]
        cc = ["white", "white", "#e5f5ee" if r.ok else ("#fbe3d6" if r.ok is False else "#eeeeee")]
        for rule in rules:
            c = r.checks.get(rule)
            cells.append("" if c is None else _num(c.value) + ("" if c.ok else " !"))
            cc.append("white" if c is None or c.ok else "#fbe3d6")
        cells.append(_clip(r.cues[0], 28) if r.cues else "")
        cc.append("white")
        body.append(cells)
        colors.append(cc)
    pages = []
    for k in range(0, max(1, len(body)), per_page):
        fig = _figure(plt)
        part = f" ({k // per_page + 1} of {math.ceil(len(body) / per_page)})" if len(body) > per_page else ""
        _header(fig, f"{d.title}: reps{part}", "values in each check's unit; ! = outside the target")
        ax = fig.add_axes((0.05, 0.06, 0.9, 0.84))
        _table(ax, body[k : k + per_page], header, colors[k : k + per_page], font=7 if len(rules) <= 5 else 6)
        pages.append(fig)
    return pages


def _pages(d: SessionData) -> list[Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figs = [_summary_page(plt, d)]
    for k in range(0, len(d.traces), 4):
        part = f" ({k // 4 + 1} of {math.ceil(len(d.traces) / 4)})" if len(d.traces) > 4 else ""
        figs.append(_traces_page(plt, d, d.traces[k : k + 4], part))
    figs.append(_values_page(plt, d))
    figs += _reps_pages(plt, d)
    return figs


def _write(figs: Sequence[Any], stem: str, title: str, body_html: str) -> list[str]:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    folder = os.path.dirname(os.path.abspath(stem))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise ConfigError(f"report: expected a writable folder for {stem}, got {folder}")
    pdf_path = stem + ".pdf"
    images = []
    with PdfPages(pdf_path, metadata={"Title": title, "Creator": "nmre"}) as pdf:
        for fig in figs:
            pdf.savefig(fig)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            images.append(base64.b64encode(buf.getvalue()).decode("ascii"))
            plt.close(fig)
    html_path = stem + ".html"
    imgs = "\n".join(
        f'<figure><img alt="page {i + 1}" src="data:image/png;base64,{b}"></figure>'
        for i, b in enumerate(images)
    )
    doc = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;}}"
        "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
        ".fix{background:#fbe3d6}.ok{background:#e5f5ee}img{width:100%;border:1px solid #ccc}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body_html}<h2>Pages</h2>{imgs}</body></html>"
    )
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(doc)
    return [html_path, pdf_path]


def _html_session(d: SessionData) -> str:
    rules = sorted({rule for r in d.reps for rule in r.checks})
    head = "".join(
        f"<th>{html.escape(x)}</th>" for x in ["rep", "time (s)", "verdict", *rules, "told", "not judged"]
    )
    rows = []
    for r in d.reps:
        cls = "" if r.ok is None else ("ok" if r.ok else "fix")
        cells = [
            f"{r.unit} {r.index}",
            f"{r.start:.2f}-{r.end:.2f}" if r.start is not None and r.end is not None else "",
            "not judged" if r.ok is None else ("ok" if r.ok else "correct"),
        ]
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        for rule in rules:
            c = r.checks.get(rule)
            if c is None:
                tds += "<td></td>"
            else:
                tds += (
                    f"<td class='{'ok' if c.ok else 'fix'}'>{html.escape(_num(c.value))} {html.escape(c.value_unit)}"
                    + (f" ({html.escape(c.error)})" if c.error and not c.ok else "")
                    + "</td>"
                )
        tds += f"<td>{html.escape('; '.join(r.cues))}</td><td>{html.escape('; '.join(r.unjudged))}</td>"
        rows.append(f"<tr class='{cls}'>{tds}</tr>")
    cues = "".join(
        f"<tr><td>{c.time:.2f}</td><td>{html.escape(c.patient_message or '')}</td><td>{html.escape(str(c.payload.get('tone', '')))}</td></tr>"
        for c in d.cues
    )
    quality = "".join(
        f"<tr><td>{html.escape(q['stream'])}</td><td>{q['samples']}</td><td>{q['missing']} ({q['missing_pct']:.1f} %)</td>"
        f"<td>{q['gaps']}</td><td>{q['bad']}</td></tr>"
        for q in d.quality
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in d.notes)
    return (
        f"<p>Patient {html.escape(d.patient or 'not named')}, {html.escape(d.started or '')}, drill "
        f"<b>{html.escape(d.drill)}</b>, {d.duration:.0f} s.</p>"
        f"<h2>Reps</h2><table><tr>{head}</tr>{''.join(rows)}</table>"
        f"<h2>Feedback given</h2><table><tr><th>time (s)</th><th>message</th><th>tone</th></tr>{cues}</table>"
        f"<h2>Data quality</h2><table><tr><th>stream</th><th>samples</th><th>missing</th><th>gaps</th><th>bad</th></tr>"
        f"{quality}</table>" + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
    )


def session_report(data: SessionData, stem: str | os.PathLike[str]) -> list[str]:
    """Write ``stem.html`` and ``stem.pdf`` for one session; return their paths."""
    stem = os.fspath(stem)
    return _write(_pages(data), stem, f"nmre {data.title}: {data.drill}", _html_session(data))


# -- progress --------------------------------------------------------------------------------------------------
def mdc95(sem: float) -> float:
    """The minimal detectable change at 95 % confidence: ``1.96 * sqrt(2) * SEM``."""
    return 1.96 * math.sqrt(2.0) * sem


@dataclass
class MetricTrend:
    rule: str
    unit: str
    sessions: list[int]
    dates: list[str]
    means: list[float]
    sds: list[float]
    counts: list[int]
    sem_single: (
        float | None
    )  # SEM of one rep (pooled within-session SD), or the published SEM of a session score
    sem_source: str
    changes: list[dict[str, Any]] = field(default_factory=list)  # per session after the first


@dataclass
class ProgressData:
    patient: str
    drill: str
    trends: list[MetricTrend]
    notes: list[str] = field(default_factory=list)


def _pooled_sd(groups: Sequence[Sequence[float]]) -> float | None:
    num = sum((len(g) - 1) * float(np.var(g, ddof=1)) for g in groups if len(g) > 1)
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    return math.sqrt(num / dof) if dof > 0 else None


def progress_data(
    store: Any,
    patient: str,
    drill: str | None = None,
    published_sem: Mapping[str, tuple[float, str]] | None = None,
) -> ProgressData:
    """Per metric, the session means and whether each change exceeds MDC95 (see the module docs)."""
    sessions = store.sessions(patient)
    if not sessions:
        raise StoreError(f"patient {patient!r} has no sessions in the store")
    drills = sorted({s.drill for s in sessions})
    if drill is None:
        if len(drills) > 1:
            counts = {d: sum(1 for s in sessions if s.drill == d) for d in drills}
            drill = max(drills, key=lambda d: (counts[d], d))
        else:
            drill = drills[0]
    elif drill not in drills:
        raise ConfigError(f"--drill: expected one of {patient}'s drills ({', '.join(drills)}), got {drill!r}")
    chosen = [s for s in sessions if s.drill == drill]
    per_rule: dict[str, dict[int, list[float]]] = {}
    units: dict[str, str] = {}
    for s in chosen:
        for r in store.reps(s.id):
            for rule, c in r.checks.items():
                if c.get("value") is not None:
                    per_rule.setdefault(rule, {}).setdefault(s.id, []).append(float(c["value"]))
                    units[rule] = c.get("unit") or ""
    published = dict(published_sem or {})
    trends = []
    for rule in sorted(per_rule):
        by_s = per_rule[rule]
        ids = [s.id for s in chosen if s.id in by_s]
        groups = [by_s[i] for i in ids]
        own = _pooled_sd(groups)
        if rule in published:
            sem, source = published[rule][0], published[rule][1]
        else:
            sem, source = own, "the patient's own repeated reps (pooled within-session SD)"
        t = MetricTrend(
            rule,
            units.get(rule, ""),
            ids,
            [next(s.started for s in chosen if s.id == i) for i in ids],
            [float(np.mean(g)) for g in groups],
            [float(np.std(g, ddof=1)) if len(g) > 1 else 0.0 for g in groups],
            [len(g) for g in groups],
            sem,
            source,
        )
        for k in range(1, len(ids)):
            change = t.means[k] - t.means[k - 1]
            from_first = t.means[k] - t.means[0]
            if sem is None:
                mdc_prev = mdc_first = None
            elif rule in published:  # a published SEM is the SEM of a session score
                mdc_prev = mdc_first = mdc95(sem)
            else:  # SEM of a mean of k reps = SD / sqrt(k); for two sessions 1.96 * SD * sqrt(1/k1 + 1/k2)
                mdc_prev = 1.96 * sem * math.sqrt(1 / t.counts[k] + 1 / t.counts[k - 1])
                mdc_first = 1.96 * sem * math.sqrt(1 / t.counts[k] + 1 / t.counts[0])
            t.changes.append(
                {
                    "session": ids[k],
                    "change": change,
                    "mdc95": mdc_prev,
                    "exceeds": None if mdc_prev is None else abs(change) > mdc_prev,
                    "from_first": from_first,
                    "mdc95_first": mdc_first,
                    "exceeds_first": None if mdc_first is None else abs(from_first) > mdc_first,
                }
            )
        trends.append(t)
    notes = []
    if len(drills) > 1:
        notes.append(f"{patient} has sessions of {', '.join(drills)}; this report is for {drill} (--drill)")
    return ProgressData(patient, drill, trends, notes)


def _progress_pages(p: ProgressData) -> list[Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figs = []
    per_page = 3
    for k in range(0, max(1, len(p.trends)), per_page):
        fig = _figure(plt)
        part = (
            f" ({k // per_page + 1} of {math.ceil(len(p.trends) / per_page)})"
            if len(p.trends) > per_page
            else ""
        )
        _header(
            fig,
            f"Progress of {p.patient}: {p.drill}{part}",
            "session mean ± SD of the reps; filled marker = change from the previous session exceeds MDC95",
        )
        trends = p.trends[k : k + per_page]
        for i, t in enumerate(trends):
            top = 0.87 - i * 0.28
            ax = fig.add_axes((0.11, top - 0.17, 0.84, 0.17))
            x = np.arange(len(t.means))
            ax.errorbar(x, t.means, yerr=t.sds, color="#222222", lw=0.9, capsize=3, zorder=2)
            exceeds = [False] + [bool(c["exceeds"]) for c in t.changes]
            for xi, yi, ex in zip(x, t.means, exceeds, strict=True):
                ax.plot(xi, yi, "o", ms=6, zorder=3, color=_FIX if ex else "white", mec="#222222")
            ax.set_xticks(
                x, [f"#{s}\n{d[:10]}" for s, d in zip(t.sessions, t.dates, strict=True)], fontsize=6.5
            )
            ax.set_xlim(-0.3, max(1, len(x) - 1) + 0.3)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_ylabel(t.unit, fontsize=8)
            ax.set_title(t.rule, loc="left", fontsize=10)
            for j, line in enumerate(_trend_lines(t)):
                fig.text(0.11, top - 0.215 - 0.015 * j, line, fontsize=7, va="top", color="#333333")
        for i, n in enumerate(p.notes[:3]):
            fig.text(0.07, 0.08 - 0.018 * i, n, fontsize=7.5)
        figs.append(fig)
    return figs


def _trend_lines(t: MetricTrend) -> list[str]:
    """Two or three short lines under a trend plot: the SEM and its source, the last change against MDC95."""
    import textwrap

    sem = "n/a (one rep per session)" if t.sem_single is None else f"{_num(t.sem_single)} {t.unit}"
    text = f"SEM {sem}, from {t.sem_source}."
    last = t.changes[-1] if t.changes else None
    if last is not None and last["mdc95"] is not None:
        verdict = "exceeds" if last["exceeds"] else "does not exceed"
        text += (
            f" Last change {last['change']:+.2f} {t.unit}: {verdict} MDC95 {last['mdc95']:.2f}."
            f" Since the first session {last['from_first']:+.2f}: "
            f"{'exceeds' if last['exceeds_first'] else 'within'} MDC95 {last['mdc95_first']:.2f}."
        )
    elif last is None:
        text += " One session only: no change to judge yet."
    return textwrap.wrap(text, 125)[:3]


def progress_report(p: ProgressData, stem: str | os.PathLike[str]) -> list[str]:
    """Write ``stem.html`` and ``stem.pdf``: one patient's trend per metric with MDC95 marks."""
    rows = []
    for t in p.trends:
        for k, sid in enumerate(t.sessions):
            c = t.changes[k - 1] if k else None
            ch = "" if c is None else f"{c['change']:+.3g}"
            mdc = "" if c is None or c["mdc95"] is None else f"{c['mdc95']:.3g}"
            ex = "" if c is None or c["exceeds"] is None else ("yes" if c["exceeds"] else "no")
            rows.append(
                f"<tr><td>{html.escape(t.rule)}</td><td>#{sid} {html.escape(t.dates[k])}</td><td>{t.counts[k]}</td>"
                f"<td>{t.means[k]:.3g} ± {t.sds[k]:.2g} {html.escape(t.unit)}</td><td>{ch}</td><td>{mdc}</td>"
                f"<td class='{'fix' if ex == 'yes' else ''}'>{ex}</td></tr>"
            )
    sems = "".join(
        f"<li>{html.escape(t.rule)}: SEM {'n/a' if t.sem_single is None else f'{t.sem_single:.3g} {html.escape(t.unit)}'}"
        f" from {html.escape(t.sem_source)}</li>"
        for t in p.trends
    )
    body = (
        "<p>MDC95 = 1.96·√2·SEM (Weir 2005). With the patient's own reps, the SEM of a session mean is the pooled "
        "within-session SD of single reps divided by √(reps); the MDC of two session means is 1.96·SD·√(1/k₁ + 1/k₂).</p>"
        f"<ul>{sems}</ul><table><tr><th>metric</th><th>session</th><th>reps</th><th>mean ± SD</th>"
        f"<th>change from previous</th><th>MDC95</th><th>exceeds</th></tr>{''.join(rows)}</table>"
        + "".join(f"<p>{html.escape(n)}</p>" for n in p.notes)
    )
    return _write(_progress_pages(p), os.fspath(stem), f"nmre progress: {p.patient}, {p.drill}", body)
