"""Emulated BLE sensors in a separate process, reachable over a local-socket HCI transport.

::

    python -m nmre.sim.devices.server --port 9100 [--devices nmre,nmre,myo]
    python -m nmre.sim.devices.server --port 9100 --body squat [--seed 1 --reps 10]

The process builds an in-process Bumble air (``LocalLink``) with the emulated
devices on it and one more controller whose host side is a TCP server on
``127.0.0.1:PORT``. Any Bumble host reaches that controller with the
transport moniker ``tcp-client:127.0.0.1:PORT``; for nmre that is
``BleConfig(backend="bumble", bumble_transport="tcp-client:127.0.0.1:PORT")``.
From there the devices look like devices on a radio: scan, connect, GATT.

When ready the process prints one JSON line to stdout::

    {"port": 9100, "devices": [{"name": "nmre-0", "address": "...", "kind": "nmre"}, ...]}

and runs until it receives SIGTERM or SIGINT, whatever its stdin is (a
terminal, a pipe, ``/dev/null``, closed): end of file on stdin does not stop it,
so ``python -m nmre.sim.devices.server ... &`` in a script keeps serving. Only
one host may be attached at a time. A bad option or a port that cannot be
bound is one line on stderr and exit status 2.

With ``--body DRILL`` the devices are nmre boards worn by the simulated body
doing that drill (as ``nmre studio --sim`` has them in-process), and each
device in the ready line also says where it is worn, in the notation of
``nmre studio --wear`` (``"wear": "thigh.right:vmo,vl,bf,gmed"``): what a
therapist who strapped the boards on would know.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from nmre.errors import ConfigError, expected
from nmre.sim.devices.base import EmulatedDevice, enable_data_length_extension

__all__ = ["body_devices", "build_devices", "main", "serve", "serve_devices"]

FAMILIES = ("nmre", "myo", "polar", "movesense")


def build_devices(kinds: Sequence[str], link: LocalLink) -> list[EmulatedDevice]:
    """Emulated devices of the given kinds on ``link``; nmre boards are named nmre-0, nmre-1 ..."""
    out: list[EmulatedDevice] = []
    count = dict.fromkeys(FAMILIES, 0)
    for kind in kinds:
        if kind not in FAMILIES:
            raise ConfigError(expected(f"a device kind in {FAMILIES}", kind))
        i = count[kind]
        count[kind] += 1
        if kind == "nmre":
            from nmre.sim.devices.nmre_device import NmreDevice

            out.append(NmreDevice(f"nmre-{i}", link=link))
        elif kind == "myo":
            from nmre.sim.devices.myo import MyoDevice

            out.append(MyoDevice(f"Myo-sim{i}", link=link))
        elif kind == "polar":
            from nmre.sim.devices.polar import PolarDevice

            out.append(PolarDevice(f"Polar H10 0A1B2C{i:02X}", link=link))
        else:
            from nmre.sim.devices.movesense import MovesenseDevice

            out.append(MovesenseDevice(f"Movesense 00000000000{i}", link=link))
    return out


def body_devices(
    drill: str, link: LocalLink, *, seed: int = 1, reps: int = 10
) -> list[tuple[EmulatedDevice, str]]:
    """nmre boards worn by the simulated body doing ``drill``, each with where it is worn (``--wear`` notation)."""
    from nmre.sim import SquatConfig, StanceConfig, simulate
    from nmre.sim.devices.nmre_device import simulated_boards

    # a subject without injected errors (the simulator's own variability comes with the seed)
    if drill == "squat":
        cfg: object = SquatConfig(reps=reps)
    elif drill in ("stance", "single_leg_stance"):
        cfg = StanceConfig(duration=40.0)
    else:
        raise ConfigError("--body: " + expected("a simulated drill: squat or stance", drill))
    sim = simulate(cfg, seed=seed)  # type: ignore[arg-type]
    boards, specs = simulated_boards(sim, link)
    out: list[tuple[EmulatedDevice, str]] = []
    for board, spec in zip(boards, specs, strict=True):
        infos = spec.config["stream_infos"]
        p = infos["imu"].placement
        wear = str(p.segment) + (
            f".{p.side.value}" if p.side is not None and p.side.value != "midline" else ""
        )
        if "emg" in infos:
            wear += ":" + ",".join(c.name for c in infos["emg"].channels)
        out.append((board, wear))
    return out


async def serve(port: int, kinds: Sequence[str], stop: asyncio.Event) -> None:
    """Run devices of ``kinds`` behind a TCP HCI controller on 127.0.0.1:``port`` until ``stop`` is set."""
    link = LocalLink()
    await serve_devices(port, [(d, None) for d in build_devices(kinds, link)], link, stop)


async def serve_devices(
    port: int, devices: Sequence[tuple[EmulatedDevice, str | None]], link: LocalLink, stop: asyncio.Event
) -> None:
    """Run ``devices`` (on ``link``, each with where it is worn or ``None``) behind a TCP HCI controller."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    transport = await open_tcp_server_transport_with_socket(sock)
    bridge = Controller("nmre-server", host_source=transport.source, host_sink=transport.sink, link=link)
    enable_data_length_extension(bridge)
    try:
        for device, _ in devices:
            await device.start()
        ready = {
            "port": sock.getsockname()[1],
            "devices": [
                {"name": d.name, "address": d.address, "kind": d.kind, **({"wear": w} if w else {})}
                for d, w in devices
            ],
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        for device, _ in devices:
            with contextlib.suppress(Exception):
                await device.stop()
        await transport.close()


async def _main(port: int, kinds: Sequence[str], body: tuple[str, int, int] | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # stdin is not read: nothing may keep the loop from stopping on a signal, and end of
    # file (a script's '&', '</dev/null') is not a request to stop
    if body is None:
        await serve(port, kinds, stop)
    else:
        link = LocalLink()
        await serve_devices(port, body_devices(body[0], link, seed=body[1], reps=body[2]), link, stop)


def _kinds(text: str) -> list[str]:
    """``--devices``: comma-separated device kinds, at least one, each known."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds:
        raise argparse.ArgumentTypeError(
            expected(f"comma-separated device kinds from {', '.join(FAMILIES)}", text)
        )
    bad = [k for k in kinds if k not in FAMILIES]
    if bad:
        raise argparse.ArgumentTypeError(expected(f"device kinds from {', '.join(FAMILIES)}", bad[0]))
    return kinds


def _port(text: str) -> int:
    """``--port``: a TCP port 0..65535 (0: any free port)."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(expected("a TCP port 0..65535 (0: any free port)", text))
    return v


def _reps(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not 1 <= v <= 1000:
        raise argparse.ArgumentTypeError(expected("a whole number of reps 1..1000", text))
    return v


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(expected("a whole number", text)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m nmre.sim.devices.server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--devices",
        type=_kinds,
        default=["nmre", "nmre"],
        help=f"comma-separated kinds from {', '.join(FAMILIES)} (default nmre,nmre)",
    )
    parser.add_argument(
        "--body",
        choices=("squat", "stance"),
        default=None,
        help="nmre boards worn by the simulated body doing this drill (instead of --devices)",
    )
    parser.add_argument("--seed", type=_seed, default=1, help="simulator seed for --body (default 1)")
    parser.add_argument("--reps", type=_reps, default=10, help="squat reps for --body (default 10)")
    args = parser.parse_args(argv)
    body = (args.body, args.seed, args.reps) if args.body else None
    try:
        asyncio.run(_main(args.port, args.devices, body))
    except OSError as exc:  # the port is taken or not ours to bind
        print(
            f"{parser.prog}: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    except ConfigError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
