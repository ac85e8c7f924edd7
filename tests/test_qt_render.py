"""The pinned Qt stack renders a plot offscreen (PySide6 6.12.0 + pyqtgraph 0.14.0 aborted at the first paint here).

nmre's GUI is not built yet; this test keeps the pins in pyproject honest until it is.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_a_pyqtgraph_plot_renders_pixels_offscreen():
    pg = pytest.importorskip("pyqtgraph")
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    w = pg.PlotWidget()
    w.resize(320, 200)
    w.setBackground("w")
    t = np.linspace(0, 2, 400)
    w.plot(t, 90 * np.sin(np.pi * t) ** 2, pen=pg.mkPen("b", width=3))
    w.show()
    app.processEvents()
    img = w.grab().toImage()
    assert (img.width(), img.height()) == (320, 200)
    ptr = img.constBits()
    pixels = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(
        img.height(), img.bytesPerLine()
    )
    blue = pixels.reshape(img.height(), -1, 4)[:, : img.width()]
    # ARGB32 little-endian: B, G, R, A; the curve leaves strongly blue pixels on white
    assert int(((blue[..., 0] > 200) & (blue[..., 2] < 80)).sum()) > 100
    w.close()
