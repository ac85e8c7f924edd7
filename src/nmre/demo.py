"""``nmre demo``: a simulated session end to end, headless.

The body simulator stands in for the patient and the sensors; the same
engine, DSP nodes, rules and feedback schedule as a live session process it on
the virtual clock (or paced to wall time with ``--realtime``). One line per rep
says what the patient would be told; the summary puts the detected errors next
to the simulator's ground truth, which the detectors never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from nmre.core import kinds
from nmre.core.clock import Clock, RealClock, VirtualClock
from nmre.core.interfaces import Sink, Source
from nmre.core.model import Event
from nmre.engine import Engine
from nmre.errors import ConfigError, expected
from nmre.feedback.schedule import make_schedule
from nmre.feedback.sinks import JsonLinesSink, MemorySink

__all__ = ["EXERCISES", "INJECTABLE", "DemoOptions", "DemoResult", "run_demo", "run_from_args"]

#: ``--exercise`` names and the drill file each runs.
EXERCISES: Mapping[str, str] = {"squat": "squat", "stance": "single_leg_stance"}
#: Errors ``--inject`` accepts for a squat rep.
INJECTABLE = ("shallow_squat", "excessive_trunk_lean", "knee_valgus", "late_vmo_onset")
#: Default injected errors: 10 reps, 3 of them too shallow (1-based reps 3, 6, 9).
DEFAULT_SQUAT_ERRORS: Mapping[int, tuple[str, ...]] = {
    2: ("shallow_squat",),
    5: ("shallow_squat",),
    8: ("shallow_squat",),
}


@dataclass
class DemoOptions:
    """What ``nmre demo`` runs. ``errors`` maps 0-based rep index to injected error kinds."""

    exercise: str = "squat"
    reps: int = 10
    seed: int = 1
    seconds: float | None = None
    realtime: bool = False
    schedule: str = "continuous"
    errors: Mapping[int, tuple[str, ...]] | None = None
    ble: bool = False
    events: str | None = None
    record: str | None = None
    #: Session times at which the patient asks for feedback (``self-controlled`` schedule only).
    requests: tuple[float, ...] = ()


@dataclass
class DemoResult:
    """Everything the demo produced: events, per-rep rows, error matching and engine figures."""

    options: DemoOptions
    events: list[Event]
    summary: dict[str, Any] = field(default_factory=dict)


def parse_injections(items: Sequence[str], reps: int) -> dict[int, tuple[str, ...]]:
    """Parse ``REP:ERROR`` strings (1-based rep) into ``{index0: (error, ...)}``."""
    out: dict[int, list[str]] = {}
    for item in items:
        rep_text, sep, kind = item.partition(":")
        if not sep or not rep_text.strip().isdigit():
            raise ConfigError("--inject: " + expected("REP:ERROR such as 3:shallow_squat", item))
        rep = int(rep_text)
        if not 1 <= rep <= reps:
            raise ConfigError(f"--inject {item}: " + expected(f"a rep between 1 and {reps}", rep))
        if kind not in INJECTABLE:
            raise ConfigError(
                f"--inject {item}: " + expected(f"an error among {', '.join(INJECTABLE)}", kind)
            )
        out.setdefault(rep - 1, []).append(kind)
    return {k: tuple(v) for k, v in out.items()}


def _stance_errors(duration: float) -> list[tuple[str, float, float]]:
    """A sway episode over two 5 s windows and, in a trial of 40 s or more, a loss of balance."""
    errors: list[tuple[str, float, float]] = []
    if duration >= 25.0:
        errors.append(("excessive_sway", 15.0, 25.0))
    if duration >= 40.0:
        errors.append(("loss_of_balance", 30.0, 34.0))
    return errors


def _ble_source(sim: Any, seed: int) -> tuple[Source, list[Any]]:
    """The simulated body worn by emulated nmre boards (one per IMU, EMG on the thigh), over bleak + Bumble."""
    from bumble.link import LocalLink

    from nmre.acquisition.ble import BleConfig, BleSource
    from nmre.sim.devices.nmre_device import simulated_boards

    link = LocalLink()  # type: ignore[no-untyped-call]
    boards, specs = simulated_boards(sim, link)
    config = BleConfig(backend="bumble", bumble_link=link, emulated=boards, seed=seed)
    return BleSource(specs, config), boards


def check_options(opts: DemoOptions) -> None:
    """Raise a ConfigError naming the first option that cannot be run (before anything is printed)."""
    if opts.exercise not in EXERCISES:
        raise ConfigError("exercise: " + expected(f"one of {', '.join(EXERCISES)}", opts.exercise))
    if opts.exercise != "squat" and opts.errors:
        raise ConfigError(
            f"--inject: expected it with --exercise squat (errors are injected per rep), got --exercise {opts.exercise}"
        )
    if opts.requests and opts.schedule != "self-controlled":
        raise ConfigError(
            "--request-at: expected it with --schedule self-controlled (the patient asks for feedback), "
            f"got --schedule {opts.schedule}"
        )
    for option, path in (("--events", opts.events), ("--record", opts.record)):
        if path is not None:
            _check_writable(option, path)


def _check_writable(option: str, path: str) -> None:
    """``path`` can be created and written (it is, empty, when this returns); else a ConfigError."""
    if not path or os.path.isdir(path):
        raise ConfigError(f"{option}: expected a writable file path, got {path!r}")
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{option}: expected a writable file path, got {path!r} ({exc.strerror or exc})"
        ) from None


def run_demo(opts: DemoOptions, out: TextIO | None = None) -> DemoResult:
    """Run the demo session. Prints per-rep lines to ``out`` (if given); returns the result."""
    from nmre.drills import build_drill
    from nmre.sim import SquatConfig, StanceConfig, simulate

    check_options(opts)
    if opts.exercise == "squat":
        errors = DEFAULT_SQUAT_ERRORS if opts.errors is None else opts.errors
        errors = {k: v for k, v in errors.items() if k < opts.reps}
        cfg: Any = SquatConfig(reps=opts.reps, errors=errors)
    else:
        duration = opts.seconds if opts.seconds is not None else 40.0
        cfg = StanceConfig(duration=duration, errors=_stance_errors(duration))
    sim = simulate(cfg, seed=opts.seed)
    drill = build_drill(EXERCISES[opts.exercise], sim.streams)
    boards: list[Any] = []
    if opts.ble:
        source, boards = _ble_source(sim, opts.seed)
    else:
        from nmre.sim import SimSource

        source = SimSource(sim, seed=opts.seed)
    sink = MemorySink()
    printer = _RepPrinter(out) if out is not None else None
    sinks: list[Sink] = [sink] + ([printer] if printer is not None else [])
    if opts.events is not None:
        sinks.append(JsonLinesSink(opts.events))
    if opts.record is not None:
        from nmre.sessions import XdfRecorder

        meta = {
            "drill": {"name": drill.name, "settings": drill.settings},
            "schedule": opts.schedule,
            "demo": {"exercise": opts.exercise, "reps": opts.reps, "seed": opts.seed, "ble": opts.ble},
        }
        sinks.append(XdfRecorder(opts.record, meta, raw=[s.id for s in source.streams]))
    from nmre.dsp import warmup

    warmup()  # compile or load cached kernels before the session clock starts
    # live Bluetooth cannot run ahead of wall time: --ble always paces to the real clock
    clock: Clock = RealClock() if (opts.realtime or opts.ble) else VirtualClock()
    schedule = make_schedule(opts.schedule)
    for t in opts.requests:
        schedule.request(t)
    engine = Engine([source], drill.nodes, sinks, clock=clock, schedule=schedule)
    until = opts.seconds
    if opts.ble and until is None:
        until = sim.duration + 1.0  # the boards power on as the session starts, then play the body once
    wall0 = time.perf_counter()
    engine.run(until=until)
    wall = time.perf_counter() - wall0
    shift = 0.0
    if boards:  # board sample k was taken at its power-on + k / rate: sim time k / rate
        assert isinstance(clock, RealClock)
        shift = boards[0].start_time - clock.origin
    summary = summarise(opts, sim.truth, sink.events, engine, wall, shift)
    summary["drill"] = {"name": drill.name, "settings": drill.settings}
    if opts.record is not None:
        summary["recording"] = opts.record
    if opts.ble:
        summary["ble"] = {"boards": [b.name for b in boards], "truth_shift_s": round(shift, 4)}
    if out is not None:
        _print_summary(out, summary)
    return DemoResult(opts, sink.events, summary)


# -- reporting ----------------------------------------------------------------------
class _RepPrinter(Sink):
    """Prints one line per completed rep as soon as its outcomes and cues are in."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._rep: Any = None
        self._time = 0.0
        self._outcomes: list[Event] = []
        self._unjudged: list[Event] = []
        self._cues: list[str] = []

    def on_event(self, event: Event) -> None:
        belongs = (
            event.kind == kinds.FEEDBACK_CUE
            or (event.kind.startswith(kinds.RULE) and "ok" in event.payload)
            or event.kind == kinds.REP_UNJUDGED
        )
        if self._rep is not None and not belongs:
            self._flush()
        if event.kind.startswith(kinds.RULE) and "ok" in event.payload and "rep" not in event.payload:
            mark = "ok " if event.payload["ok"] else "FIX"
            self.out.write(f"  [{mark}] {event.therapist_message}\n")
        elif event.kind == kinds.REP_END:
            self._rep, self._time = event.payload.get("rep"), event.time
        elif event.kind.startswith(kinds.RULE) and "ok" in event.payload:
            self._outcomes.append(event)
        elif event.kind == kinds.REP_UNJUDGED:
            self._unjudged.append(event)
        elif event.kind == kinds.FEEDBACK_CUE:
            self._cues.append(event.patient_message or "")
            if self._rep is None:  # a cue outside a rep (summary, balance)
                self.out.write(f"  {event.time:6.1f} s  patient hears: {self._cues.pop()}\n")
        elif event.kind.startswith(
            ("stream.", "signal.", "balance.", "window.", "engine.", "device.", "source.")
        ):
            self.out.write(f"  {event.time:6.1f} s  [{event.kind}] {event.therapist_message or ''}\n")

    def _flush(self) -> None:
        """One line: rep, time, verdict, what the patient hears, then each check's value (! = outside)."""
        outcomes, cues = self._outcomes, self._cues
        ok = all(e.payload["ok"] for e in outcomes)
        told = (
            " / ".join(f'"{c}"' for c in cues) if cues else ("(silent: on target)" if ok else "(held back)")
        )
        checks = "  ".join(
            [_check_text(e) for e in outcomes] + [f"{e.source[5:]} not judged" for e in self._unjudged]
        )
        mark = ("ok " if ok else "FIX") if outcomes else "-- "
        self.out.write(
            f"  rep {int(self._rep):2d}  {self._time:6.1f} s  {mark}  {told:<40} {checks or 'no checks'}\n"
        )
        for e in self._unjudged[:1]:  # why, once per rep (the therapist's words)
            self.out.write(f"           not judged: {e.payload.get('reason')}\n")
        self._rep, self._outcomes, self._unjudged, self._cues = None, [], [], []

    def close(self) -> None:
        if self._rep is not None:
            self._flush()


def _check_text(e: Event) -> str:
    """``depth 56.8 deg!``: a rule outcome's short name and value, ``!`` when outside its band."""
    name = e.kind[5:].replace("squat_", "").replace("_timing", " lag").replace("knee_", "").replace("_", " ")
    v = e.payload.get("value")
    value = "n/a" if v is None else f"{v:.1f} {e.payload.get('unit', '')}".rstrip()
    return f"{name} {value}{'' if e.payload['ok'] else '!'}"


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def summarise(
    opts: DemoOptions, truth: Any, events: Sequence[Event], engine: Engine, wall: float, shift: float = 0.0
) -> dict[str, Any]:
    """Build the machine-readable summary: detected errors and ground truth side by side.

    ``shift`` (s) is added to the simulator's times to put them on the session clock
    (non-zero when the body is played through emulated Bluetooth boards).
    """
    st = engine.stats
    reps = [e for e in events if e.kind == kinds.REP_END]
    outcomes = [e for e in events if e.kind.startswith(kinds.RULE) and "ok" in e.payload]
    by_rep: dict[Any, list[Event]] = {}
    for e in outcomes:
        by_rep.setdefault(e.payload.get("rep"), []).append(e)
    rows: list[dict[str, Any]] = []
    # a session cut short (--seconds) is compared with what the body did before the cut
    end = st.session_seconds
    truth_reps = [tr for tr in getattr(truth, "reps", ()) if tr.end + shift <= end]
    matched_truth: dict[int, int] = {}
    for r in reps:
        idx = int(r.payload["rep"])
        start, end = float(r.payload.get("start", r.time)), float(r.payload.get("end", r.time))
        best, best_ov = None, 0.0
        for tr in truth_reps:
            ov = _overlap(start, end, tr.start + shift, tr.end + shift)
            if ov > best_ov:
                best, best_ov = tr, ov
        row: dict[str, Any] = {
            "rep": int(idx),
            "start": round(start, 3),
            "end": round(end, 3),
            "detected_errors": sorted(
                {
                    e.payload["error"]
                    for e in by_rep.get(idx, [])
                    if not e.payload["ok"] and e.payload.get("error")
                }
            ),
            "not_judged": {
                e.source[5:]: e.payload.get("reason")
                for e in events
                if e.kind == kinds.REP_UNJUDGED and e.payload.get("rep") == idx
            },
            "checks": {
                e.kind[5:]: {
                    "ok": e.payload["ok"],
                    "value": e.payload.get("value"),
                    "unit": e.payload.get("unit"),
                }
                for e in by_rep.get(idx, [])
            },
        }
        if best is not None:
            matched_truth[best.index] = int(idx)
            row["truth"] = {
                "rep": best.index + 1,
                "errors": list(best.errors),
                "peak_knee_flexion_deg": round(best.peak_knee_flexion_deg, 2),
                "peak_trunk_lean_deg": round(best.peak_trunk_lean_deg, 2),
                "peak_valgus_deg": round(best.peak_valgus_deg, 2),
                "vmo_vl_onset_ms": round(best.vmo_vl_onset_ms, 1),
            }
        rows.append(row)
    # per error kind: injected reps (truth numbering), detected, missed, false alarms
    error_kinds = sorted(
        {k for tr in truth_reps for k in tr.errors} | {k for row in rows for k in row["detected_errors"]}
    )
    matching: dict[str, Any] = {}
    for k in error_kinds:
        injected = [tr.index + 1 for tr in truth_reps if k in tr.errors]
        detected = [row["truth"]["rep"] for row in rows if k in row["detected_errors"] and "truth" in row]
        unmatched = [row["rep"] for row in rows if k in row["detected_errors"] and "truth" not in row]
        matching[k] = {
            "injected": injected,
            "detected": sorted(detected),
            "missed": [r for r in injected if r not in detected],
            "false_alarms": sorted([r for r in detected if r not in injected] + unmatched),
        }
    missed_reps = [tr.index + 1 for tr in truth_reps if tr.index not in matched_truth]
    windows = _match_windows(truth, [e for e in outcomes if "rep" not in e.payload], shift, end)
    if windows:
        matching.update(windows)
    return {
        "nmre_demo": 1,
        "exercise": opts.exercise,
        "seed": opts.seed,
        "clock": "real" if (opts.realtime or opts.ble) else "virtual",
        "transport": "ble-emulated" if opts.ble else "simulator",
        "schedule": opts.schedule,
        "session_seconds": round(st.session_seconds, 3),
        "reps_detected": len(reps),
        "reps_in_truth": len(truth_reps),
        "reps_not_detected": missed_reps,
        "reps": rows,
        "errors": matching,
        "windows": [
            {
                "start": round(float(e.payload.get("start", e.time)), 3),
                "end": round(float(e.payload.get("end", e.time)), 3),
                "check": e.kind[5:],
                "ok": e.payload["ok"],
                "value": e.payload.get("value"),
                "limit": e.payload.get("hi"),
            }
            for e in outcomes
            if "rep" not in e.payload
        ],
        "feedback": [
            {"time": round(e.time, 3), "message": e.patient_message}
            for e in events
            if e.kind == kinds.FEEDBACK_CUE
        ],
        "stream_events": [
            e.to_dict()
            for e in events
            if e.kind.startswith(("stream.", "signal.", "device.", "source.", "engine.", "window."))
        ],
        "latency_ms": {
            "transport": st.transport.to_dict(),
            "detection": st.detection.to_dict(),
        },
        "events": len(events),
        "truth": truth.to_dict(),
        "_wall": {"seconds": round(wall, 3), "engine_cost_per_block_us": st.cost.to_dict(1e6, "us")},
    }


def _match_windows(
    truth: Any, outcomes: Sequence[Event], shift: float = 0.0, end: float = math.inf
) -> dict[str, Any]:
    """Match time-window outcomes (balance) against the truth windows (shifted by ``shift`` s), per error kind.

    Only truth windows that started before the session ended (``end``) count.
    """
    twins = [
        dataclasses.replace(w, start=w.start + shift, end=w.end + shift)
        for w in getattr(truth, "windows", ())
        if w.errors and w.start + shift < end
    ]
    error_kinds = sorted(
        {k for w in twins for k in w.errors}
        | {e.payload["error"] for e in outcomes if e.payload.get("error")}
    )
    out: dict[str, Any] = {}
    for k in error_kinds:
        injected = [w for w in twins if k in w.errors]
        flagged = [e for e in outcomes if e.payload.get("error") == k]

        def span(e: Event) -> tuple[float, float]:
            return float(e.payload.get("start", e.time)), float(e.payload.get("end", e.time))

        def hits(w: Any, e: Event) -> bool:
            a, b = span(e)
            return _overlap(a, b, w.start, w.end) > 0 or (a == b and w.start <= a <= w.end)

        out[k] = {
            "injected": [[round(w.start, 2), round(w.end, 2)] for w in injected],
            "detected": [
                [round(span(e)[0], 2), round(span(e)[1], 2)]
                for e in flagged
                if any(hits(w, e) for w in injected)
            ],
            "missed": [
                [round(w.start, 2), round(w.end, 2)] for w in injected if not any(hits(w, e) for e in flagged)
            ],
            # a flag inside any erroneous window (sway before a fall) is not a false alarm
            "false_alarms": [
                [round(span(e)[0], 2), round(span(e)[1], 2)]
                for e in flagged
                if not any(hits(w, e) for w in twins)
            ],
        }
    return out


def _print_summary(out: TextIO, s: Mapping[str, Any]) -> None:
    out.write("\nSummary\n")
    if s["exercise"] == "squat":
        out.write(f"  reps detected: {s['reps_detected']} of {s['reps_in_truth']} performed\n")
    for k, m in s["errors"].items():
        verdict = "all found" if not m["missed"] and not m["false_alarms"] else "MISMATCH"
        where = "reps" if s["exercise"] == "squat" else "windows (s)"
        out.write(
            f"  {k:<22} injected in {where} {m['injected'] or '-'}; detected in {m['detected'] or '-'}; "
            f"missed {m['missed'] or 'none'}; false alarms {m['false_alarms'] or 'none'}  [{verdict}]\n"
        )
    if s["exercise"] == "squat":
        clean = [r["rep"] for r in s["reps"] if not r["detected_errors"]]
        out.write(f"  reps on target: {len(clean)}\n")
    lat = s["latency_ms"]
    out.write(
        f"  latency (session clock): transport p50 {lat['transport']['p50']} ms, "
        f"detection after the movement p50 {lat['detection']['p50']} ms\n"
    )
    w = s["_wall"]
    c = w["engine_cost_per_block_us"]
    out.write(
        f"  {s['session_seconds']:.1f} s of session in {w['seconds']:.2f} s of wall time; "
        f"engine cost per block p50 {c['p50']} us, p99 {c['p99']} us\n"
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Entry point for ``nmre demo`` (arguments already parsed by :mod:`nmre.cli`)."""
    errors = None if args.inject is None else parse_injections(args.inject, args.reps)
    opts = DemoOptions(
        exercise=args.exercise,
        reps=args.reps,
        seed=args.seed,
        seconds=args.seconds,
        realtime=args.realtime,
        schedule=args.schedule,
        errors=errors,
        ble=args.ble,
        events=args.events,
        record=args.record,
        requests=tuple(getattr(args, "request_at", None) or ()),
    )
    check_options(opts)  # an unusable option is one line before anything is printed
    if args.json:
        result = run_demo(opts, out=None)
        json.dump(
            {k: v for k, v in result.summary.items() if k != "_wall"}, sys.stdout, indent=2, sort_keys=True
        )
        sys.stdout.write("\n")
    else:
        head = f"{opts.reps}-rep squat set" if opts.exercise == "squat" else "single-leg stance (right leg)"
        how = (
            "through emulated Bluetooth boards (bleak + Bumble), real-time clock"
            if opts.ble
            else f"{'real-time' if opts.realtime else 'virtual'} clock"
        )
        print(f"nmre demo: {head}, seed {opts.seed}, {how}", flush=True)
        result = run_demo(opts, out=sys.stdout)
    return 0 if math.isfinite(result.summary["session_seconds"]) else 1
