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
    "DrillDemo",
    "drill_config",
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
    if getattr(args, "drill", None) is not None:
        return _run_drill_from_args(args)
    for flag in ("level",):
        if getattr(args, flag, None) is not None:
            raise ConfigError(f"--{flag}: expected it with --drill NAME, got --exercise {args.exercise}")
    if args.reps is None:
        args.reps = 10
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


# -- any drill of the library: nmre demo --drill NAME|FILE [--level N] --------------------------
# ``nmre demo --drill NAME|FILE [--level N]``: any drill of the library on the body simulator, headless.
#
# The drill file says which movement it trains (``movement``); the simulator
# performs it with the level's conditions (eyes closed, foam, band resistance,
# tempo), errors are injected into some records (reps, holds, transitions,
# targets) and the rest are done well. The drill is built from the streams the
# simulated kit offers, exactly as for a live session, and runs on the virtual
# clock through :class:`nmre.sim.SimSource`. The summary puts each unit the drill
# judged next to the record of the body it overlaps, and per error label: the
# records it was injected into, where it was found, missed and flagged without
# being injected (a clean rep flagged).
#
# Default injections: each error the movement can make *and* a rule of the drill
# reports goes into one record, every second record from the second on (records
# 1, 3, 5, ... 0-based), with the severity drawn from the simulator's range of
# what the error looks like in patients (``nmre.sim.ERRORS``), never from the
# drill's tolerance. The other records are clean.

#: Unit names of the drill and the truth record kind each is matched with.
_RECORD_OF = {"rep": "rep", "hold": "hold", "transition": "transition", "target": "target"}
_UNIT_END = {
    "rep": kinds.REP_END,
    "hold": kinds.HOLD_END,
    "transition": kinds.TRANSITION_END,
    "target": kinds.TARGET_END,
}
_COUNTS = ("reps", "cycles", "holds", "transitions", "targets")


@dataclass
class DrillDemo:
    """What a drill demo produced: the drill, the simulation, every event and the matching summary."""

    drill: Any
    sim: Any
    events: list[Event]
    summary: dict[str, Any] = field(default_factory=dict)


def _count_field(cfg: Any) -> str | None:
    return next((n for n in _COUNTS if isinstance(getattr(cfg, n, None), int)), None)


def reported_errors(spec: Any) -> set[str]:
    """Movement-error labels the drill's rules report."""
    return {e for r in spec.rules for e in (r.error_below, r.error_above) if e}


def default_errors(spec: Any, cls: Any, n: int) -> dict[int, tuple[str, ...]]:
    """One record per error the movement can make and the drill reports: records 1, 3, 5, ... (0-based)."""
    labels = [e for e in cls.error_labels if e in reported_errors(spec)]
    out: dict[int, tuple[str, ...]] = {}
    for k, label in enumerate(labels):
        i = 1 + 2 * k
        if i < n:
            out[i] = (label,)
    return out


def drill_config(
    spec: Any,
    level: int | None = None,
    count: int | None = None,
    errors: Mapping[int, Sequence[str]] | None = None,
    side: str = "right",
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """The simulator configuration of ``spec``'s movement at ``level`` with ``errors`` (default: :func:`default_errors`)."""
    from nmre.sim import MOVEMENTS

    if spec.movement not in MOVEMENTS:
        raise ConfigError(
            f"drill {spec.name!r}: movement: "
            + expected(f"a movement the simulator performs ({', '.join(MOVEMENTS)})", spec.movement)
        )
    cls = MOVEMENTS[spec.movement]
    conditions = dict(spec.level(level).conditions) if level is not None and spec.levels else {}
    kw: dict[str, Any] = {**conditions, **(extra or {})}
    if "side" in {f.name for f in dataclasses.fields(cls)}:
        kw["side"] = side
    base = cls(**kw)
    what = _count_field(base)
    if what is None:  # a movement in time (a stance): the demo runs it as it is
        return base
    n = int(count if count is not None else getattr(base, what))
    kw[what] = n
    errs = default_errors(spec, cls, n) if errors is None else dict(errors)
    bad = [e for es in errs.values() for e in es if e not in cls.error_labels]
    if bad:
        raise ConfigError(
            f"--inject: expected an error of {spec.movement} ({', '.join(cls.error_labels)}), got {bad[0]!r}"
        )
    kw["errors"] = {i: tuple(es) for i, es in errs.items() if i < n}
    return cls(**kw)


def run_drill_demo(
    name: str,
    *,
    level: int | None = None,
    seed: int = 1,
    count: int | None = None,
    errors: Mapping[int, Sequence[str]] | None = None,
    kit: str = "full",
    side: str = "right",
    extra: Mapping[str, Any] | None = None,
    out: TextIO | None = None,
) -> DrillDemo:
    """Simulate ``name``'s movement, run the drill on it, and match what it found with the body's truth."""
    from nmre.core.clock import VirtualClock
    from nmre.drills import build_drill, load_drill
    from nmre.dsp import warmup
    from nmre.engine import Engine
    from nmre.feedback.sinks import MemorySink
    from nmre.sim import SimSource, simulate

    spec = load_drill(name)
    cfg = drill_config(spec, level, count, errors, side, extra)
    sim = simulate(cfg, seed=seed, kit=kit)
    drill = build_drill(spec, sim.streams, level=level)
    sink = MemorySink()
    warmup()
    engine = Engine(
        [SimSource(sim, seed=seed)], drill.nodes, [sink], clock=VirtualClock(), schedule=drill.make_schedule()
    )
    engine.run()
    summary = summarise_drill(spec, drill, sim, sink.events)
    summary["level"] = level
    summary["seed"] = seed
    summary["kit"] = kit
    if out is not None:
        print_drill_summary(out, summary)
    return DrillDemo(drill, sim, sink.events, summary)


def summarise_drill(spec: Any, drill: Any, sim: Any, events: Sequence[Event]) -> dict[str, Any]:
    """Units judged against the body's records, and per error: injected, detected, missed, false alarms."""
    unit = spec.structure.unit
    record = _RECORD_OF.get(unit)
    truth = list(sim.truth.of(record)) if record else []
    ends = [e for e in events if e.kind == _UNIT_END.get(unit, "")]
    outcomes = [e for e in events if kinds.is_outcome(e.kind) and "ok" in e.payload]
    unjudged = [e for e in events if kinds.is_unjudged(e.kind)]
    rows: list[dict[str, Any]] = []
    matched: dict[int, int] = {}
    for e in ends:
        idx = e.payload.get(unit)
        t0, t1 = float(e.payload.get("start", e.time)), float(e.payload.get("end", e.time))
        best = max(truth, key=lambda r: _overlap(t0, t1, r.start, r.end), default=None)
        if best is not None and _overlap(t0, t1, best.start, best.end) <= 0:
            best = None
        # a rest after hold k is judged as rest k: it belongs to the same cycle
        mine = [o for o in outcomes if o.payload.get(unit, o.payload.get("rest")) == idx]
        row: dict[str, Any] = {
            unit: idx,
            "start": round(t0, 3),
            "end": round(t1, 3),
            "detected_errors": sorted({o.payload["error"] for o in mine if not o.payload["ok"]} - {None}),
            "checks": {
                o.kind[5:]: {
                    "ok": o.payload["ok"],
                    "value": o.payload.get("value"),
                    "unit": o.payload.get("unit"),
                }
                for o in mine
            },
            "not_judged": {
                u.source[5:]: u.payload.get("reason")
                for u in unjudged
                if u.payload.get(unit, u.payload.get("rest")) == idx
            },
            "cues": [o.patient_message for o in mine if not o.payload["ok"]],
        }
        if best is not None:
            matched[best.index] = idx
            row["truth"] = {
                "record": best.index + 1,
                "errors": dict(best.errors),
                "quantities": {k: round(float(v), 3) for k, v in best.quantities.items()},
            }
        rows.append(row)
    labels = sorted(
        {k for r in truth for k in r.errors} | {k for row in rows for k in row["detected_errors"]}
    )
    reported = reported_errors(spec)
    errors: dict[str, Any] = {}
    for k in labels:
        injected = [r.index + 1 for r in truth if k in r.errors]
        found = [row["truth"]["record"] for row in rows if k in row["detected_errors"] and "truth" in row]
        unmatched = [row[unit] for row in rows if k in row["detected_errors"] and "truth" not in row]
        # a flag on a record whose true value is outside the tolerance is right even if another error was
        # injected there (a fast rep has a short hold too): only a true value inside it makes a false alarm
        also = [r for r in found if r not in injected and _truly_outside(spec, k, truth[r - 1])]
        errors[k] = {
            "injected": injected,
            "detected": sorted(found),
            "missed": [r for r in injected if r not in found] if k in reported else [],
            "not_checked": k not in reported,
            "also_true": also,
            "false_alarms": sorted([r for r in found if r not in injected and r not in also] + unmatched),
        }
    clean = [row for row in rows if "truth" in row and not row["truth"]["errors"]]
    return {
        "drill": spec.name,
        "movement": spec.movement,
        "unit": unit,
        "side": drill.side,
        "bilateral": drill.bilateral,
        "skipped_rules": {s.rule: s.reason for s in drill.skipped},
        "units_detected": len(rows),
        "units_in_truth": len(truth),
        "records_not_detected": [r.index + 1 for r in truth if r.index not in matched],
        "units": rows,
        "errors": errors,
        "clean_units": len(clean),
        "clean_units_flagged": [row["truth"]["record"] for row in clean if row["detected_errors"]],
        "calibration": [
            {"time": round(e.time, 3), "kind": e.kind, "message": e.therapist_message}
            for e in events
            if e.kind.startswith((kinds.CALIBRATION, "readiness."))
        ],
        "progression": [
            {"time": round(e.time, 3), "message": e.therapist_message}
            for e in events
            if e.kind.startswith("progression")
        ],
    }


def _truly_outside(spec: Any, label: str, record: Any) -> bool:
    """Whether ``record``'s true value is outside the tolerance of the rule that reports ``label``."""
    for r in spec.rules:
        q = record.quantities.get(r.quantity)
        if q is None or not math.isfinite(float(q)):
            continue
        if r.error_below == label and r.lo is not None and q < r.lo:
            return True
        if r.error_above == label and r.hi is not None and q > r.hi:
            return True
    return False


def print_drill_summary(out: TextIO, s: Mapping[str, Any]) -> None:
    """One line per unit, then per error: injected, found, missed, false alarms."""
    unit = s["unit"]
    for row in s["units"]:
        mark = "FIX" if row["detected_errors"] else ("ok " if row["checks"] else "-- ")
        told = " / ".join(f'"{c}"' for c in row["cues"]) or "(on target)"
        checks = "  ".join(
            f"{k} {'n/a' if c['value'] is None else format(c['value'], '.1f')}{'' if c['ok'] else '!'}"
            for k, c in row["checks"].items()
        )
        nj = "  ".join(f"{k} not judged" for k in row["not_judged"])
        truth = f"  [body: {', '.join(row['truth']['errors']) or 'clean'}]" if "truth" in row else ""
        out.write(
            f"  {unit} {row[unit]!s:>2}  {row['end']:6.1f} s  {mark}  {told:<38} {checks} {nj}{truth}\n"
        )
        for k, why in list(row["not_judged"].items())[:1]:
            out.write(f"           not judged ({k}): {why}\n")
    out.write("\nSummary\n")
    out.write(f"  {unit}s detected: {s['units_detected']} of {s['units_in_truth']} performed\n")
    for k, why in s["skipped_rules"].items():
        out.write(f"  rule {k} left out: {why}\n")
    for k, m in s["errors"].items():
        if m["not_checked"]:
            verdict = "not checked by this drill"
        else:
            verdict = "all found" if not m["missed"] and not m["false_alarms"] else "MISMATCH"
        also = f" (true there too: {m['also_true']})" if m["also_true"] else ""
        out.write(
            f"  {k:<24} injected {m['injected'] or '-'}; detected {m['detected'] or '-'}{also}; "
            f"missed {m['missed'] or 'none'}; false alarms {m['false_alarms'] or 'none'}  [{verdict}]\n"
        )
    out.write(f"  clean {unit}s: {s['clean_units']}, flagged: {s['clean_units_flagged'] or 'none'}\n")
    for c in s["calibration"]:
        out.write(f"  {c['time']:6.1f} s  {c['kind']}: {c['message']}\n")
    for p in s["progression"]:
        out.write(f"  {p['time']:6.1f} s  {p['message']}\n")


def parse_drill_injections(
    items: Sequence[str], n: int, labels: Sequence[str], what: str
) -> dict[int, tuple[str, ...]]:
    """``REC:ERROR`` strings (1-based record) into ``{index0: (error, ...)}``, errors among ``labels``."""
    out: dict[int, list[str]] = {}
    for item in items:
        rec, sep, kind = item.partition(":")
        if not sep or not rec.strip().isdigit():
            raise ConfigError("--inject: " + expected(f"{what.upper()}:ERROR such as 2:{labels[0]}", item))
        i = int(rec)
        if not 1 <= i <= n:
            raise ConfigError(f"--inject {item}: " + expected(f"a {what} between 1 and {n}", i))
        if kind not in labels:
            raise ConfigError(f"--inject {item}: " + expected(f"an error among {', '.join(labels)}", kind))
        out.setdefault(i - 1, []).append(kind)
    return {k: tuple(v) for k, v in out.items()}


def _run_drill_from_args(args: argparse.Namespace) -> int:
    from nmre.drills import load_drill
    from nmre.sim import MOVEMENTS

    spec = load_drill(args.drill)
    cls = MOVEMENTS.get(spec.movement)
    errors = None
    if args.inject is not None and cls is not None:
        base = cls()
        what = _count_field(base)
        n = args.reps if args.reps is not None else (getattr(base, what) if what else 0)
        errors = parse_drill_injections(args.inject, n, cls.error_labels, spec.structure.unit)
    if args.level is not None and not 1 <= args.level <= len(spec.levels):
        have = f"1 to {len(spec.levels)}" if spec.levels else "none"
        raise ConfigError("--level: " + expected(f"a level of drill {spec.name!r} ({have})", args.level))
    if not args.json:
        lv = f", level {args.level} ({spec.level(args.level).title})" if args.level else ""
        print(
            f"nmre demo: drill {spec.name} ({spec.title}){lv}, seed {args.seed}, kit {args.kit}", flush=True
        )
    res = run_drill_demo(
        args.drill,
        level=args.level,
        seed=args.seed,
        count=args.reps,
        errors=errors,
        kit=args.kit,
        side=args.side,
        out=None if args.json else sys.stdout,
    )
    if args.json:
        json.dump(res.summary, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    return 0
