"""The studio benchmark's sensors: 4 emulated nmre boards in their own process (8 EMG channels, 4 IMUs).

``python benchmarks/_studio_devices.py`` prints one JSON line (port and, per
board, its name and where it is worn in ``nmre studio --wear`` notation) and
serves until its stdin closes. The simulated body squats (seed 1) wearing an
IMU on the pelvis, trunk, right thigh and right shank; the right-thigh board
carries the right leg's EMG (VMO, VL, BF, Gmed), the pelvis board a left leg's
(another simulated subject, seed 2), 2 kHz each: 16 000 EMG samples/s and
400 IMU samples/s over the air, as a clinic's full kit would send.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bumble.link import LocalLink

from nmre.demo import DEFAULT_SQUAT_ERRORS
from nmre.sim import SquatConfig, simulate
from nmre.sim.devices.nmre_device import NmreDevice, signal_from_arrays
from nmre.sim.devices.server import serve_devices

REPS = 40


def boards(link: LocalLink) -> list[tuple[NmreDevice, str]]:
    right = simulate(SquatConfig(reps=REPS, errors=dict(DEFAULT_SQUAT_ERRORS)), seed=1)
    left = simulate(SquatConfig(reps=REPS), seed=2)
    muscles = [c.name for c in right.streams[[s.id for s in right.streams].index("emg.r")].channels]
    plan = [  # (IMU stream, EMG arrays or None, wear)
        ("imu.thigh.r", right.data["emg.r"], "thigh.right:" + ",".join(muscles)),
        ("imu.pelvis", left.data["emg.r"], "pelvis:" + ",".join(f"{m}.left" for m in muscles)),
        ("imu.trunk", None, "trunk"),
        ("imu.shank.r", None, "shank.right"),
    ]
    out = []
    for i, (imu, emg, wear) in enumerate(plan):
        board = NmreDevice(
            f"nmre-{i}",
            link=link,
            emg_channels=0 if emg is None else len(muscles),
            emg_rate=2000,
            imu_rate=100,
            signal=signal_from_arrays(emg, right.data[imu]),
        )
        out.append((board, wear))
    return out


async def _main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # EOF: the benchmark is done
        loop.call_soon_threadsafe(stop.set)

    loop.run_in_executor(None, watch_stdin)
    link = LocalLink()
    await serve_devices(port, boards(link), link, stop)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    asyncio.run(_main(ap.parse_args().port))
