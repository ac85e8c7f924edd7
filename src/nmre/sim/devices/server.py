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

and runs until it receives SIGTERM/SIGINT or its stdin is closed. Only one
host may be attached at a time.

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

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent went away
        loop.call_soon_threadsafe(stop.set)

    if not sys.stdin.isatty():
        loop.run_in_executor(None, watch_stdin)
    if body is None:
        await serve(port, kinds, stop)
    else:
        link = LocalLink()
        await serve_devices(port, body_devices(body[0], link, seed=body[1], reps=body[2]), link, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nmre.sim.devices.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--devices",
        default="nmre,nmre",
        help=f"comma-separated kinds from {', '.join(FAMILIES)} (default nmre,nmre)",
    )
    parser.add_argument(
        "--body",
        choices=("squat", "stance"),
        default=None,
        help="nmre boards worn by the simulated body doing this drill (instead of --devices)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed for --body (default 1)")
    parser.add_argument("--reps", type=int, default=10, help="squat reps for --body (default 10)")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.devices.split(",") if k.strip()]
    body = (args.body, args.seed, args.reps) if args.body else None
    asyncio.run(_main(args.port, kinds, body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
