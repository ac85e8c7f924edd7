"""Redraw the panels a person read the UCI knee-angle counts from (docs/eval-uci.md).

    PYTHONPATH=src python scripts/uci-panels.py DIR

One PNG per recording: each rep in its own panel (the spans chosen by eye,
``nmre.eval.real.UCI_BY_EYE``), the goniometer angle on a 2 deg minor grid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nmre.eval.real import UCI_BY_EYE, data_dir


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for eye in UCI_BY_EYE:
        angle = np.loadtxt(data_dir() / "uci-lower-limb" / f"{eye.file}.txt", skiprows=7)[:, 4]
        t = np.arange(angle.shape[0]) / 1000.0
        fig, axes = plt.subplots(1, len(eye.spans), figsize=(3.2 * len(eye.spans), 3.2))
        for ax, (a, b) in zip(np.atleast_1d(axes), eye.spans, strict=True):
            sel = (t >= a) & (t < b)
            ax.plot(t[sel], angle[sel], lw=1)
            ax.set_title(f"{a:g}-{b:g} s", fontsize=9)
            ax.minorticks_on()
            ax.yaxis.set_minor_locator(matplotlib.ticker.MultipleLocator(2))
            ax.grid(which="major", alpha=0.6)
            ax.grid(which="minor", alpha=0.2)
        fig.suptitle(f"{eye.file} knee angle (deg), minor grid 2 deg", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / f"uci-{eye.file}-angle.png", dpi=90)
        plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: uci-panels.py DIR (expected one folder to write the PNGs into)")
    main(Path(sys.argv[1]))
