"""GUI-thread CPU per dashboard frame: nmre's TracePanel vs the same plots with pyqtgraph's defaults.

``python benchmarks/_studio_frames.py FRAMES`` (offscreen) prints one JSON line
``{"nmre": s, "peer": s}``: median GUI-thread CPU time per frame (new data set on
every curve, then a synchronous repaint). Data: the simulated squat's EMG (4
channels at 2 kHz, twice: 8 channels) and its 4 IMUs' accelerometers, the last
10 s, moving on by 1/60 s per frame. nmre draws it as the studio does (min/max
decimation to the plot's width, time relative to now on a fixed axis, no axis
grid, 1 px pens); the peer is pyqtgraph as its scrolling examples use it (every
sample, a scrolling time axis, grids, 1.5 px pens, autorange).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from nmre.gui.dashboard import TracePanel
from nmre.gui.model import decimate
from nmre.sim import SquatConfig, simulate

WINDOW = 10.0
SIZE = (840, 900)


def _data() -> list[tuple[np.ndarray, np.ndarray, float]]:
    sim = simulate(SquatConfig(reps=12), seed=1)
    emg_t, emg_v = sim.data["emg.r"]
    out = [(emg_t, emg_v + 1.0 * np.arange(emg_v.shape[0])[:, None], 2000.0)] * 2
    for sid in ("imu.pelvis", "imu.trunk", "imu.thigh.r", "imu.shank.r"):
        t, v = sim.data[sid]
        out.append((t, v[:3], 100.0))
    return out


def _nmre(data: list[tuple[np.ndarray, np.ndarray, float]]) -> tuple[QtWidgets.QWidget, object]:
    panel = TracePanel()
    for i, (_, v, rate) in enumerate(data):
        emg = rate > 1000
        names = [f"ch{k}" for k in range(v.shape[0])]
        panel.add_plot(
            f"p{i}",
            f"plot {i}",
            "mV" if emg else "m/s²",
            names,
            3 if emg else 2,
            (-1, 4) if emg else (-20, 20),
        )
    panel.set_span(WINDOW)
    panel.widget.resize(*SIZE)

    def frame(now: float) -> None:
        width = max(200, panel.widget.width())
        for i, (t, v, rate) in enumerate(data):
            j = int(now * rate)
            k = max(0, j - int(WINDOW * rate))
            tt, vv = decimate(t[k:j], v[:, k:j], 2 * width)
            x = tt - now
            for c in range(v.shape[0]):
                panel.curves[(f"p{i}", c)].setData(x, vv[c], skipFiniteCheck=True)
        panel.widget.repaint()

    return panel.widget, frame


def _peer(data: list[tuple[np.ndarray, np.ndarray, float]]) -> tuple[QtWidgets.QWidget, object]:
    win = pg.GraphicsLayoutWidget()
    curves: list[list[pg.PlotDataItem]] = []
    first = None
    for i, (_, v, _rate) in enumerate(data):
        plot = win.addPlot(row=i, col=0)
        plot.showGrid(x=True, y=True, alpha=0.2)
        curves.append([plot.plot(pen=pg.mkPen(pg.intColor(c), width=1.5)) for c in range(v.shape[0])])
        if first is None:
            first = plot
        else:
            plot.setXLink(first)
    win.resize(*SIZE)

    def frame(now: float) -> None:
        for i, (t, v, rate) in enumerate(data):
            j = int(now * rate)
            k = max(0, j - int(WINDOW * rate))
            for c in range(v.shape[0]):
                curves[i][c].setData(t[k:j], v[c, k:j])
        first.setXRange(now - WINDOW, now, padding=0)
        win.repaint()

    return win, frame


def main() -> None:
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    data = _data()
    out = {}
    for name, make in (("nmre", _nmre), ("peer", _peer)):
        widget, frame = make(data)
        widget.show()
        app.processEvents()
        now = 12.0
        for _ in range(10):  # warm up
            now += 1 / 60
            frame(now)
        times = []
        for _ in range(frames):
            now += 1 / 60
            c0 = time.thread_time()
            frame(now)
            app.processEvents()
            times.append(time.thread_time() - c0)
        out[name] = statistics.median(times)
        widget.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
