"""The ``--lsl-in`` / ``--lsl-out`` / ``--lsl-scope`` options, shared by the commands that run sessions.

``--lsl-in SPEC`` (repeatable) takes an LSL stream as a source
(:class:`nmre.acquisition.lsl.LslSpec` syntax: ``name=Trigno,kind=emg,unit=uV,muscles=vmo.r+vl.r``);
``--lsl-out`` publishes the session's derived signals, events and cues as LSL
streams (an LSL server on this computer: only when asked); ``--lsl-scope``
says how far LSL discovery reaches (``machine`` by default).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_lsl_arguments", "lsl_outlet", "lsl_source"]


def _spec(text: str) -> Any:
    from nmre.acquisition.lsl import LslSpec
    from nmre.errors import ConfigError

    try:
        return LslSpec.parse(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_lsl_arguments(p: argparse.ArgumentParser, *, inputs: bool = True, outputs: bool = True) -> None:
    """Add the LSL options to a command's parser."""
    from nmre.acquisition.lsl import SCOPES
    from nmre.commands._args import positive_seconds

    if inputs:
        p.add_argument(
            "--lsl-in",
            dest="lsl_in",
            action="append",
            default=[],
            type=_spec,
            metavar="SPEC",
            help="take an LSL stream, repeatable: name=..|type=..|source_id=.. and optionally kind=emg|imu|acc|"
            "gyro|angle|marker, unit=uV, rate=HZ (irregular streams), placement=thigh.r, muscles=vmo.r+vl.r, "
            "id=STREAM, gap=SECONDS",
        )
        p.add_argument(
            "--lsl-timeout",
            type=positive_seconds,
            default=5.0,
            metavar="S",
            help="seconds to look for each --lsl-in stream",
        )
    if outputs:
        p.add_argument(
            "--lsl-out",
            nargs="?",
            const="nmre",
            default=None,
            metavar="NAME",
            help="publish derived signals, events and cues as LSL streams NAME.* (default nmre); opens an LSL "
            "server on this computer",
        )
        p.add_argument(
            "--lsl-wait",
            type=positive_seconds,
            default=None,
            metavar="S",
            help="with --lsl-out: wait up to S seconds for a consumer (LabRecorder) before the session starts",
        )
    p.add_argument(
        "--lsl-scope",
        choices=SCOPES,
        default="machine",
        help="how far LSL discovery reaches (default machine: this computer only)",
    )


def lsl_source(args: argparse.Namespace) -> Any:
    """An :class:`~nmre.acquisition.lsl.LslSource` for ``--lsl-in`` (``None`` without it); errors before the session."""
    if not getattr(args, "lsl_in", None):
        return None
    from nmre.acquisition.lsl import LslSource, configure

    configure(args.lsl_scope)
    return LslSource(args.lsl_in, resolve_timeout=args.lsl_timeout, scope=args.lsl_scope)


def lsl_outlet(args: argparse.Namespace, clock: Any) -> Any:
    """An :class:`~nmre.acquisition.lsl.LslOutlet` for ``--lsl-out`` (``None`` without it)."""
    if getattr(args, "lsl_out", None) is None:
        return None
    from nmre.acquisition.lsl import LslOutlet, configure

    configure(args.lsl_scope)
    wait = getattr(args, "lsl_wait", None) or 0.0
    return LslOutlet(clock=clock, name=args.lsl_out, scope=args.lsl_scope, wait=wait)


def lsl_studio_session(drill: str, source: Any, seconds: float | None) -> Any:
    """A studio :class:`~nmre.gui.app.Session` on LSL streams: the drill built for what the streams carry."""
    from nmre.core.clock import RealClock
    from nmre.drills import build_drill
    from nmre.gui.app import Session, presentation_for, sensor_spots

    built = build_drill(drill, source.streams)  # a missing sensor is one ConfigError naming it
    return Session(
        sources=[source],
        nodes=built.nodes,
        drill=drill,
        raw=list(source.streams),
        clock=RealClock(),
        presentation=presentation_for(drill, built.nodes, None, seconds if drill == "stance" else None),
        sensors=sensor_spots(drill, source.streams),
        until=None if seconds is None else seconds + 1.0,
        settings=dict(built.settings),
    )
