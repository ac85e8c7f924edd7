"""Emulated BLE sensors in a separate process, reachable over a local-socket HCI transport.

::

    python -m nmre.sim.devices.server --port 9100 [--devices nmre,nmre,myo]

The process builds an in-process Bumble air (``LocalLink``) with the emulated
devices on it and one more controller whose host side is a TCP server on
``127.0.0.1:PORT``. Any Bumble host reaches that controller with the
transport moniker ``tcp-client:127.0.0.1:PORT``; for nmre that is
``BleConfig(backend="bumble", bumble_transport="tcp-client:127.0.0.1:PORT")``.
From there the devices look like devices on a radio: scan, connect, GATT.

When ready the process prints one JSON line to stdout::

    {"port": 9100, "devices": [{"name": "nmre-0", "address": "...", "kind": "nmre"}, ...]}

and runs until it receives SIGTERM/SIGINT or its stdin is closed. Only one
host may be attached at a time, once: start a new process for a new host.
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

__all__ = ["build_devices", "main", "serve"]

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


async def serve(port: int, kinds: Sequence[str], stop: asyncio.Event) -> None:
    """Run devices of ``kinds`` behind a TCP HCI controller on 127.0.0.1:``port`` until ``stop`` is set."""
    link = LocalLink()
    devices = build_devices(kinds, link)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    transport = await open_tcp_server_transport_with_socket(sock)
    bridge = Controller("nmre-server", host_source=transport.source, host_sink=transport.sink, link=link)
    enable_data_length_extension(bridge)
    try:
        for device in devices:
            await device.start()
        ready = {
            "port": sock.getsockname()[1],
            "devices": [{"name": d.name, "address": d.address, "kind": d.kind} for d in devices],
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        for device in devices:
            with contextlib.suppress(Exception):
                await device.stop()
        await transport.close()


async def _main(port: int, kinds: Sequence[str]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent went away
        loop.call_soon_threadsafe(stop.set)

    if not sys.stdin.isatty():
        loop.run_in_executor(None, watch_stdin)
    await serve(port, kinds, stop)


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
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.devices.split(",") if k.strip()]
    asyncio.run(_main(args.port, kinds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
