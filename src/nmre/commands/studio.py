"""``nmre studio``: the therapist workstation and the patient view (see :mod:`nmre.gui`)."""

from __future__ import annotations

import argparse
from typing import Any

from nmre.commands._args import at_most, integer, positive_int, positive_seconds
from nmre.commands._lsl import add_lsl_arguments

__all__ = ["NAME", "add_parser", "run"]

NAME = "studio"


def _fps(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (1.0 <= v <= 240.0):
        raise argparse.ArgumentTypeError(f"expected frames per second between 1 and 240, got {text!r}")
    return v


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from nmre.drills import DRILLS
    from nmre.feedback.schedule import SCHEDULES

    p: argparse.ArgumentParser = subparsers.add_parser(
        "studio",
        help="the therapist workstation and the patient view (Qt)",
        description="Run a session with the therapist's dashboard and the patient view. "
        "--sim: the simulated body on emulated Bluetooth sensors.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sim", action="store_true", help="the simulated body on emulated BLE devices")
    src.add_argument("--replay", metavar="FILE", default=None, help="review a recording (XDF)")
    p.add_argument(
        "--drill",
        metavar="NAME|FILE",
        default=None,
        help=f"a drill ({', '.join(DRILLS)}; 'stance' is the single-leg stance) or a drill file "
        "(default squat; a review: the recording's)",
    )
    p.add_argument(
        "--level",
        type=positive_int,
        default=None,
        help="progression level of the drill (nmre drills show NAME)",
    )
    from nmre.demo import MAX_REPS, MAX_SECONDS

    reps = at_most(
        positive_int, MAX_REPS, f"1 to {MAX_REPS} simulated reps (a clinical set is 5-15; the demo's ceiling)"
    )
    seconds = at_most(
        positive_seconds,
        MAX_SECONDS,
        f"a number of seconds > 0 and at most {MAX_SECONDS:g} (2 h: longer than any clinical session)",
    )
    p.add_argument("--reps", type=reps, default=10, help="simulated squat reps (default 10; at most 1000)")
    p.add_argument("--seed", type=integer, default=1, help="simulator seed (default 1)")
    p.add_argument(
        "--seconds", type=seconds, default=None, help="stop after this many seconds of session (at most 2 h)"
    )
    p.add_argument(
        "--screenshot",
        metavar="DIR",
        default=None,
        help="at the end save dashboard.png, patient.png and summary.json in DIR and exit (no display needed)",
    )
    p.add_argument(
        "--schedule",
        choices=tuple(SCHEDULES),
        default=None,
        help="feedback schedule (default: the drill file's)",
    )
    p.add_argument("--patient", metavar="ID", default=None, help="pseudonymous patient id, e.g. P-0042")
    p.add_argument("--no-sound", action="store_true", help="no audio output")
    p.add_argument(
        "--audio-device",
        metavar="DEV",
        default=None,
        help="PortAudio output device (default: system default)",
    )
    p.add_argument(
        "--wav",
        metavar="FILE",
        default=None,
        help="write the feedback sound to a WAV file instead of playing it",
    )
    p.add_argument("--fps", type=_fps, default=60.0, help="display rate of the patient view (default 60)")
    p.add_argument(
        "--dashboard-fps",
        type=_fps,
        default=30.0,
        help="display rate of the dashboard's traces (default 30; 60 on a machine with cores to spare)",
    )
    p.add_argument(
        "--record",
        metavar="FILE",
        default=None,
        help="record the session to an XDF file (review it with --replay)",
    )
    p.add_argument(
        "--store",
        metavar="PATH|URL",
        default=None,
        help="session store for the patient list and the end-of-session summary "
        "(default: NMRE_STORE or nmre's data folder, used when a patient id is given)",
    )
    p.add_argument(
        "--override-readiness",
        metavar="REASON",
        default=None,
        help="open the signal-readiness gate at the start, saying why (recorded as readiness.override)",
    )
    p.add_argument("--large-text", action="store_true", help="larger type on the patient view")
    p.add_argument(
        "--view",
        choices=("session", "raw"),
        default="session",
        help="dashboard tab shown first (default session)",
    )
    p.add_argument(
        "--bumble",
        metavar="TRANSPORT",
        default=None,
        help="live sensors through a Bumble HCI transport instead of the OS Bluetooth stack, e.g. "
        "tcp-client:127.0.0.1:PORT of 'python -m nmre.sim.devices.server --body squat --port PORT'",
    )
    p.add_argument(
        "--wear",
        metavar="NAME=PLACE",
        action="append",
        default=[],
        help="live sensors: where a board is worn, SEGMENT[.SIDE][:MUSCLE,...] "
        "(e.g. nmre-1=thigh.right:vmo,vl); once per board. Without it a device picker scans.",
    )
    add_lsl_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from nmre.commands._lsl import lsl_outlet, lsl_source, lsl_studio_session
    from nmre.errors import ConfigError
    from nmre.gui.app import StudioOptions, build_sim_session, run_studio

    opts = StudioOptions(
        sim=args.sim,
        replay=args.replay,
        drill=args.drill or "squat",
        drill_given=args.drill is not None,
        seed=args.seed,
        reps=args.reps,
        seconds=args.seconds,
        screenshot=args.screenshot,
        schedule=args.schedule,
        patient=args.patient,
        sound=not args.no_sound,
        audio_device=args.audio_device,
        wav=args.wav,
        fps=args.fps,
        dashboard_fps=args.dashboard_fps,
        large_text=args.large_text,
        view=args.view,
        bumble=args.bumble,
        wear=tuple(args.wear),
        level=args.level,
        record=args.record,
        store=args.store,
        override_readiness=args.override_readiness,
    )
    if (args.sim or args.replay) and (args.wear or args.bumble):
        raise ConfigError(
            "--wear/--bumble: expected them for live sensors only, got them with "
            + ("--sim" if args.sim else "--replay")
        )
    session = None
    if args.lsl_in and (args.wear or args.bumble):
        raise ConfigError("--lsl-in: expected the LSL streams as the only sensors, got --wear/--bumble too")
    if args.lsl_in:  # LSL streams are the session's sensors (scale: --lsl-in, --lsl-out)
        if args.sim or args.replay:
            raise ConfigError(
                "--lsl-in: expected the LSL streams as the only sensors, got --sim or --replay too"
            )
        session = lsl_studio_session(opts.drill, lsl_source(args), args.seconds)
    elif args.lsl_out is not None and args.sim:
        until = None if args.seconds is None else args.seconds + 1.0  # as run_studio builds it
        session = build_sim_session(opts.drill, args.seed, args.reps, until, ble=True, level=opts.level)
    if session is not None and args.lsl_out is not None:
        session.sinks.append(lsl_outlet(args, session.clock))
    return run_studio(opts, session)
