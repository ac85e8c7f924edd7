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

__all__ = [
    "EXERCISES",
    "INJECTABLE",
    "DemoOptions",
    "DemoResult",
    "drill_session",
    "match_units",
    "run_demo",
    "run_drill_demo",
    "run_from_args",
]

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


def run_demo(opts: DemoOptions, out: TextIO | None = None) -> DemoResult:
    """Run the demo session. Prints per-rep lines to ``out`` (if given); returns the result."""
    from nmre.drills import build_drill
    from nmre.sim import SquatConfig, StanceConfig, simulate

    if opts.exercise not in EXERCISES:
        raise ConfigError("exercise: " + expected(f"one of {', '.join(EXERCISES)}", opts.exercise))
    if opts.exercise != "squat" and opts.errors:
        raise ConfigError(
            f"--inject: expected it with --exercise squat (errors are injected per rep), got --exercise {opts.exercise}"
        )
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
        folder = os.path.dirname(os.path.abspath(opts.events))
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)) or os.path.isdir(opts.events):
            raise ConfigError(f"--events: expected a writable file path, got {opts.events!r}")
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
    engine = Engine([source], drill.nodes, sinks, clock=clock, schedule=make_schedule(opts.schedule))
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


def _drill_from_args(args: argparse.Namespace) -> int:
    if args.inject is not None or args.ble or args.record or args.realtime or args.seconds is not None:
        raise ConfigError(
            "--drill: expected it without --inject, --ble, --record, --realtime and --seconds "
            "(a drill's errors come from the simulator's ranges, its session from the drill's structure)"
        )
    if args.exercise != "squat":
        raise ConfigError(f"--drill: expected it without --exercise, got --exercise {args.exercise}")
    summary = run_drill_demo(
        args.drill,
        level=args.level,
        seed=args.seed,
        kit=args.kit,
        units=args.reps,
        schedule=args.schedule if args.schedule != "continuous" else None,
        clean=args.clean,
        out=None if args.json else sys.stdout,
    )
    if args.json:
        json.dump({k: v for k, v in summary.items() if k != "_wall"}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 1 if summary["mismatch"] else 0


def run_from_args(args: argparse.Namespace) -> int:
    """Entry point for ``nmre demo`` (arguments already parsed by :mod:`nmre.cli`)."""
    if getattr(args, "drill", None) is not None:
        return _drill_from_args(args)
    for flag in ("level", "clean"):
        if getattr(args, flag, None):
            raise ConfigError(f"--{flag}: expected it with --drill NAME")
    if getattr(args, "kit", "full") != "full":
        raise ConfigError("--kit: expected it with --drill NAME")
    args.reps = 10 if args.reps is None else args.reps
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
    )
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


# -- any drill on the simulator (``nmre demo --drill NAME|FILE [--level N]``) ------------------------
#: Of a drill made of units (reps, transitions, targets, holds), every third unit from the second
#: carries an error of the drill's (in turn); its severity is drawn from the simulator's range for it.
ERROR_EVERY = 3
#: Length of a simulated balance trial, s (a sway episode at 15-25 s, a loss of balance at 30-34 s).
STANCE_TRIAL = 40.0
_COUNT_FIELDS = ("reps", "transitions", "cycles", "holds")


def drill_errors(spec: Any) -> set[str]:
    """The movement-error labels a drill's rules report."""
    return {e for r in spec.rules for e in (r.error_below, r.error_above) if e}


def drill_session(
    spec: Any, *, level: int | None = None, units: int | None = None, errors: bool = True
) -> tuple[Any, dict[str, Any]]:
    """The simulator configuration that performs ``spec`` at ``level``, and what was injected.

    The movement is the file's ``movement``, under the level's conditions (eyes closed, foam, a
    band, a tempo). A drill that shows targets (limits of stability) gives the body its schedule,
    as a patient follows the screen. Errors: see :data:`ERROR_EVERY`; a stance gets a sway episode
    and a loss of balance (``_stance_errors``). ``errors=False``: a clean session.
    """
    from nmre.drills import target_plan
    from nmre.sim import MOVEMENTS

    if spec.movement not in MOVEMENTS:
        raise ConfigError(
            f"drill {spec.name!r}: movement: expected a movement the simulator performs "
            f"({', '.join(MOVEMENTS)}), got {spec.movement!r}"
        )
    cls = MOVEMENTS[spec.movement]
    if level is not None and not (
        isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= len(spec.levels)
    ):
        have = f"1 to {len(spec.levels)}" if spec.levels else "none (this drill has no levels)"
        raise ConfigError(f"drill {spec.name!r}: level: " + expected(f"a level of the drill ({have})", level))
    conditions = dict(spec.level(level).conditions) if level is not None else {}
    kw: dict[str, Any] = dict(conditions)
    if cls.record == "window":
        kw["duration"] = STANCE_TRIAL
        if errors:
            kw["errors"] = [e for e in _stance_errors(STANCE_TRIAL) if e[0] in cls.error_labels]
        cfg = cls(**kw)
        return cfg, {"errors": [[e.label, e.start, e.end] for e in cfg.errors], "conditions": conditions}
    plan = target_plan(spec, level)
    if plan:
        rounds = -(-len(plan) // 8)
        cues = [t.cue for t in plan]
        step = plan[-1].end - plan[-1].cue
        while len(cues) < 8 * rounds:
            cues.append(cues[-1] + step)
        kw.update(rounds=rounds, cues=cues)
    elif units is not None:
        field_name = next((f for f in _COUNT_FIELDS if f in cls.__dataclass_fields__), None)
        if field_name is not None:
            kw[field_name] = units
    cfg = cls(**kw)
    injected: dict[int, dict[str, None]] = {}
    labels = [k for k in cls.error_labels if k in drill_errors(spec)]
    n = len(cfg.cues) if plan else next((getattr(cfg, f) for f in _COUNT_FIELDS if hasattr(cfg, f)), 0)
    if errors and labels:
        for k, i in enumerate(range(1, n, ERROR_EVERY)):
            injected[i] = {labels[k % len(labels)]: None}
        cfg = dataclasses.replace(cfg, errors=injected)
    return cfg, {"errors": {str(i + 1): list(e) for i, e in injected.items()}, "conditions": conditions}


def _unit_spans(events: Sequence[Event], unit: str, end_kind: str) -> dict[int, tuple[float, float]]:
    """Detected units: index -> (start, end), from the segmenter's end events."""
    out: dict[int, tuple[float, float]] = {}
    for e in events:
        if e.kind == end_kind and isinstance(e.payload.get(unit), int):
            out[int(e.payload[unit])] = (
                float(e.payload.get("start", e.time)),
                float(e.payload.get("end", e.time)),
            )
    return out


def match_units(drill: Any, truth: Any, events: Sequence[Event]) -> dict[str, Any]:
    """Each rule's verdicts on the detected units against the body's truth (unit drills).

    A unit should be flagged by a rule when the true value of the rule's quantity lies outside
    the rule's tolerance (as the drill judged with it); true values within the quantity's stated
    accuracy of the tolerance (``nmre.eval.margins``) are borderline and not counted either way.
    Per error label: ``injected`` (units whose truth is outside), ``detected``, ``missed`` (not
    flagged, or not judged), ``false_alarms`` (flagged while the truth is inside); units are
    numbered as the body did them (1-based). ``units_not_detected``: units of the body with no
    detected unit; ``extra_units``: detected units with no unit of the body.
    """
    from nmre.eval.margins import margin_for
    from nmre.rules import BalanceLossRule

    unit = drill.spec.structure.unit
    ep = drill.episodes
    spans = _unit_spans(events, unit, ep.end)
    records = [r for r in truth.records if r.kind == unit]
    best: dict[int, int] = {}  # truth index -> detected index
    for k, (a, b) in spans.items():
        ov = [(_overlap(a, b, r.start, r.end), r.index) for r in records]
        o, i = max(ov, default=(0.0, -1))
        if o > 0 and i not in best:
            best[i] = k
    verdict: dict[tuple[str, int], Event] = {}
    for e in events:
        if e.kind.startswith(kinds.RULE) and isinstance(e.payload.get(unit), int):
            verdict[(e.source, int(e.payload[unit]))] = e
    errors: dict[str, Any] = {}
    borderline: list[dict[str, Any]] = []
    for rule in drill.rules:
        if isinstance(rule, BalanceLossRule):
            continue
        margin = margin_for(rule.quantity).value
        for side, label in ((-1, rule.error_below), (1, rule.error_above)):
            if not label:
                continue
            edge = rule.lo if side < 0 else rule.hi
            if edge is None:
                continue
            m = errors.setdefault(label, {"injected": [], "detected": [], "missed": [], "false_alarms": []})
            for r in records:
                v = r.quantities.get(rule.quantity)
                if v is None or not math.isfinite(v):
                    continue
                outside = v < edge if side < 0 else v > edge
                if abs(v - edge) <= margin:
                    borderline.append(
                        {"unit": r.index + 1, "rule": rule.id, "true": round(v, 3), "edge": edge}
                    )
                    continue
                k = best.get(r.index)
                e = verdict.get((rule.name, k)) if k is not None else None
                flagged = e is not None and e.payload.get("ok") is False and e.payload.get("error") == label
                if outside:
                    m["injected"].append(r.index + 1)
                    (m["detected"] if flagged else m["missed"]).append(r.index + 1)
                elif flagged:
                    m["false_alarms"].append(r.index + 1)
    matched = set(best.values())
    return {
        "unit": unit,
        "units_in_truth": len(records),
        "units_detected": len(spans),
        "units_not_detected": [r.index + 1 for r in records if r.index not in best],
        "extra_units": sorted(k for k in spans if k not in matched),
        "errors": errors,
        "borderline": borderline,
    }


def _unit_lines(drill: Any, events: Sequence[Event]) -> list[str]:
    """One line per detected unit: index, span, verdict, what the patient hears, each check's value."""
    unit = drill.spec.structure.unit
    rows: dict[int, list[Event]] = {}
    cues: dict[int, list[str]] = {}
    what: dict[int, str] = {}
    at: dict[tuple[str, float], int] = {}  # a cue is released at its outcome's time, from its rule
    for e in events:
        idx = e.payload.get(unit)
        if e.kind == kinds.FEEDBACK_CUE and e.patient_message and (e.source, e.time) in at:
            cues.setdefault(at[(e.source, e.time)], []).append(e.patient_message)
        if not isinstance(idx, int):
            continue
        if e.kind == drill.episodes.end and "direction" in e.payload:
            what[idx] = str(e.payload["direction"])
        if e.kind.startswith(kinds.RULE) or e.kind == kinds.UNJUDGED.get(unit):
            rows.setdefault(idx, []).append(e)
            at[(e.source, e.time)] = idx
    lines = []
    for idx in sorted(rows):
        outs = [e for e in rows[idx] if "ok" in e.payload]
        bad = [e for e in outs if not e.payload["ok"]]
        head = next((e for e in outs), rows[idx][0])
        a, b = float(head.payload.get("start", head.time)), float(head.payload.get("end", head.time))
        mark = ("FIX" if bad else "ok ") if outs else "-- "
        checks = "  ".join(
            f"{e.source[5:]} {e.payload.get('value', float('nan')):.3g}{'!' if not e.payload['ok'] else ''}"
            if "ok" in e.payload
            else f"{e.source[5:]} not judged"
            for e in rows[idx]
        )
        told = " / ".join(f'"{c}"' for c in dict.fromkeys(cues.get(idx, []))) or (
            "(silent: on target)" if not bad else "(held back)"
        )
        lines.append(
            f"  {unit} {idx:2d} {what.get(idx, ''):<14} {a:6.1f}-{b:5.1f} s  {mark}  {told:<44} {checks}"
        )
    return lines


def run_drill_demo(
    drill_name: str,
    *,
    level: int | None = None,
    seed: int = 1,
    kit: str = "full",
    units: int | None = None,
    schedule: str | None = None,
    clean: bool = False,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Run any drill (a name or a file) on the simulator and compare its verdicts with the body's truth.

    Returns the summary; ``summary["mismatch"]`` lists what did not agree (an injected error
    missed, a clean unit flagged, a unit not counted): ``nmre demo --drill`` exits 1 then.
    """
    from nmre.drills import build_drill, load_drill
    from nmre.sim import SimSource, simulate

    spec = load_drill(drill_name)
    cfg, injected = drill_session(spec, level=level, units=units, errors=not clean)
    sim = simulate(cfg, seed=seed, kit=kit)
    drill = build_drill(spec, sim.streams, level=level)
    source = SimSource(sim, seed=seed)
    sink = MemorySink()
    from nmre.dsp import warmup

    warmup()
    sched = drill.make_schedule(schedule)
    engine = Engine([source], drill.nodes, [sink], clock=VirtualClock(), schedule=sched)
    wall0 = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - wall0
    events = sink.events
    unit = spec.structure.unit
    summary: dict[str, Any] = {
        "nmre_demo": 1,
        "drill": {"name": drill.name, "level": level, "settings": drill.settings},
        "movement": spec.movement,
        "seed": seed,
        "kit": kit,
        "sensors": [s.id for s in sim.streams],
        "skipped_rules": [{"rule": s.rule, "reason": s.reason} for s in drill.skipped],
        "injected": injected,
        "session_seconds": round(engine.stats.session_seconds, 3),
    }
    mismatch: list[str] = []
    if unit == "window":
        outcomes = [e for e in events if e.kind.startswith(kinds.RULE) and "ok" in e.payload]
        summary["errors"] = _match_windows(sim.truth, outcomes, 0.0, engine.stats.session_seconds)
        summary["windows_judged"] = len([e for e in outcomes if "window" in e.payload])
    else:
        m = match_units(drill, sim.truth, events)
        summary.update(m)
        if m["units_not_detected"]:
            mismatch.append(f"{unit}s of the body not counted: {m['units_not_detected']}")
        if m["extra_units"]:
            mismatch.append(f"{unit}s counted that the body did not do: {m['extra_units']}")
    for label, mm in summary["errors"].items():
        if mm["missed"]:
            mismatch.append(f"{label}: missed in {mm['missed']}")
        if mm["false_alarms"]:
            mismatch.append(f"{label}: flagged where the body had none: {mm['false_alarms']}")
    summary["mismatch"] = mismatch
    summary["_wall"] = {"seconds": round(wall, 3)}
    if out is not None:
        lv = f", level {level} ({spec.level(level).title})" if level is not None else ""
        out.write(
            f"nmre demo: drill {spec.name!r}{lv}, seed {seed}, {kit} kit ({', '.join(summary['sensors'])})\n"
        )
        for s in drill.skipped:
            out.write(f"  not judged in this session: {s.rule} ({s.reason})\n")
        if unit != "window":
            for line in _unit_lines(drill, events):
                out.write(line + "\n")
        else:
            for e in events:
                if e.kind.startswith(kinds.RULE) and "ok" in e.payload and not e.payload["ok"]:
                    out.write(f"  {e.time:6.1f} s  FIX  {e.therapist_message}\n")
        out.write("\nSummary\n")
        if unit != "window":
            out.write(
                f"  {unit}s detected: {summary['units_detected']} of {summary['units_in_truth']} performed\n"
            )
        for label, mm in summary["errors"].items():
            verdict = "all found" if not mm["missed"] and not mm["false_alarms"] else "MISMATCH"
            out.write(
                f"  {label:<26} truth outside the tolerance in {mm['injected'] or '-'}; flagged in "
                f"{mm['detected'] or '-'}; missed {mm['missed'] or 'none'}; false alarms "
                f"{mm['false_alarms'] or 'none'}  [{verdict}]\n"
            )
        out.write(
            "  result: "
            + ("agrees with the body" if not mismatch else "MISMATCH: " + "; ".join(mismatch))
            + "\n"
        )
    return summary
