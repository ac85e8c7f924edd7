"""The therapist's window: devices, setup guide, calibration, traces with target bands, counters, controls.

Widgets only: the controller (:mod:`nmre.gui.app`) fills them from the session
model on its timers. Every control has a keyboard shortcut (see :data:`SHORTCUTS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from nmre.gui.body import BodyMap
from nmre.gui.theme import THERAPIST

__all__ = ["SHORTCUTS", "SHORTCUT_HELP", "Dashboard", "TracePanel"]

#: Control → key sequence (shown in the buttons' tooltips and the help).
SHORTCUTS = {
    "start": "F5",
    "pause": "Space",
    "stop": "Ctrl+.",
    "marker": "M",
    "feedback": "F",
    "mute": "Ctrl+M",
    "volume_up": "Ctrl+Up",
    "volume_down": "Ctrl+Down",
    "large_text": "Ctrl+L",
    "patient": "Ctrl+P",
    "drill": "Ctrl+D",
    "level": "Ctrl+E",
    "schedule": "Ctrl+K",
    "targets": "Ctrl+T",
    "override": "Ctrl+R",
    "use_level": "Ctrl+N",
    "help": "F1",
}

#: What each shortcut does, for the help (F1).
SHORTCUT_HELP = {
    "start": "start the session (after Stop: the next session, with the drill and level chosen)",
    "pause": "pause or resume the feedback",
    "stop": "stop the session (the summary is saved)",
    "marker": "put a marker on the timeline",
    "feedback": "feedback now (a self-controlled schedule answers)",
    "mute": "mute the sound",
    "volume_up": "volume up",
    "volume_down": "volume down",
    "large_text": "large text on the patient view",
    "patient": "the patient id",
    "drill": "choose the drill (for the next session)",
    "level": "choose the level (for the next session)",
    "schedule": "choose the feedback schedule (applies now)",
    "targets": "edit the targets and tolerances (Tab moves between them; applies to the next rep)",
    "override": "override the readiness gate (with a reason)",
    "use_level": "take the progression suggestion's level for the next session",
    "help": "this list",
}

pg.setConfigOptions(antialias=False, background="w", foreground="k")


class _PaintTimedLayout(pg.GraphicsLayoutWidget):  # type: ignore[misc]  # pyqtgraph has no types
    """A plot layout that reports when each frame has been painted."""

    painted: Callable[[], None] | None = None

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        super().paintEvent(event)
        if self.painted is not None:
            self.painted()


class _TraceCurve(pg.PlotCurveItem):  # type: ignore[misc]  # pyqtgraph has no types
    """A curve whose bounding box is its plot's visible range: pyqtgraph measures the data (NaN-aware
    min and max, and the pen's pixel padding) four times per frame for every curve, a third of a frame.

    The plots never auto-range from their curves (fixed ranges, or :meth:`TracePanel.rescale` from the
    data itself) and clip their curves, so the visible range is all Qt needs to know what to repaint.
    """

    _box: QtCore.QRectF | None = None

    def boundingRect(self) -> QtCore.QRectF:
        if self._box is None:
            vb = self.getViewBox()
            if vb is None:
                return QtCore.QRectF()
            r = vb.viewRect()
            self._box = r.adjusted(-0.02 * r.width(), -0.02 * r.height(), 0.02 * r.width(), 0.02 * r.height())
        return self._box

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
        self._box = None
        super().viewRangeChanged()


class TracePanel:
    """Stacked plots sharing the time axis in one layout (a tab of the dashboard)."""

    def __init__(self) -> None:
        self.widget = _PaintTimedLayout()
        self.widget.setMinimumSize(600, 400)
        self.widget.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, int], pg.PlotCurveItem] = {}
        self.bands: dict[str, pg.LinearRegionItem | pg.InfiniteLine] = {}
        self.lines: dict[str, list[pg.InfiniteLine]] = {}
        self.timeline: pg.PlotItem | None = None
        self._scatter: dict[str, pg.ScatterPlotItem] = {}
        self._markers: list[pg.InfiniteLine] = []
        self._first: pg.PlotItem | None = None
        self.span = 10.0

    def add_plot(
        self,
        key: str,
        title: str,
        unit: str,
        channels: Sequence[str],
        height: int = 2,
        y_range: tuple[float, float] | None = None,
    ) -> pg.PlotItem:
        row = len(self.plots) + (1 if self.timeline is not None else 0)
        plot = self.widget.addPlot(row=row, col=0)
        # a fixed scale (or one the slow timer rescales): the axis is not redrawn every frame
        plot.enableAutoRange(axis="y", enable=False)
        plot.fixed_y = y_range is not None
        if y_range is not None:
            plot.setYRange(*y_range, padding=0.02)
        plot.setTitle(title, size="10pt")
        plot.setLabel("left", unit)
        plot.getAxis("left").enableAutoSIPrefix(False)  # "m/s²", not "m/s² (x0.001)": the values as measured
        # no axis grid: an axis with a grid spans the plot and is repainted (slowly) with every new sample
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        if len(channels) > 1:
            plot.addLegend(offset=(-5, 5), labelTextSize="8pt", colCount=min(4, len(channels)))
        for i, ch in enumerate(channels):
            colour = THERAPIST["traces"][i % len(THERAPIST["traces"])]
            # a bare curve item (no PlotDataItem layer: the controller decimates and clips itself);
            # a 1 px cosmetic pen takes Qt's fast line path
            curve = _TraceCurve(pen=pg.mkPen(colour, width=1), name=ch, skipFiniteCheck=True)
            plot.addItem(curve)
            self.curves[(key, i)] = curve
        self.widget.ci.layout.setRowStretchFactor(row, height)
        if self._first is None:
            self._first = plot
        else:
            plot.setXLink(self._first)
        self.plots[key] = plot
        self._bottom_axis_only_last()
        return plot

    def _bottom_axis_only_last(self) -> None:
        """One time axis, under the last plot (the others share it)."""
        items = [*self.plots.values()] + ([self.timeline] if self.timeline is not None else [])
        rows = sorted(items, key=lambda p: self.widget.ci.items[p][0][0] if p in self.widget.ci.items else 0)
        for p in rows:
            p.showAxis("bottom", p is rows[-1])

    def set_band(self, key: str, lo: float | None, hi: float | None) -> None:
        """Draw the target band (or a limit line for a one-sided band) on plot ``key``."""
        plot = self.plots[key]
        for item in self.lines.pop(key, []):
            plot.removeItem(item)
        old = self.bands.pop(key, None)
        if old is not None:
            plot.removeItem(old)
        edge = pg.mkPen(THERAPIST["band_edge"], width=2, style=QtCore.Qt.PenStyle.DashLine)
        if lo is not None and hi is not None:
            band = pg.LinearRegionItem(
                (lo, hi),
                orientation="horizontal",
                movable=False,
                brush=pg.mkBrush(THERAPIST["band"]),
                pen=edge,
            )
            band.setZValue(-10)
            plot.addItem(band)
            self.bands[key] = band
        elif lo is not None or hi is not None:
            line = pg.InfiniteLine(lo if lo is not None else hi, angle=0, pen=edge)
            plot.addItem(line)
            self.bands[key] = line

    def add_timeline(self) -> None:
        plot = self.widget.addPlot(row=len(self.plots), col=0)
        plot.setTitle("Timeline: errors (▲), not judged (■), markers (|)", size="10pt")
        plot.setYRange(-0.5, 1.5)
        plot.getAxis("left").setTicks([[(1, "errors"), (0, "not judged")]])
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        self.widget.ci.layout.setRowStretchFactor(len(self.plots), 1)
        if self._first is not None:
            plot.setXLink(self._first)
        else:
            self._first = plot
        for name, symbol, colour, y in (
            ("error", "t1", THERAPIST["error"], 1),
            ("unjudged", "s", THERAPIST["unjudged"], 0),
        ):
            sc = pg.ScatterPlotItem(
                symbol=symbol, size=14, brush=pg.mkBrush(colour), pen=pg.mkPen("k", width=0.5)
            )
            sc.setData([], [])
            sc.y_level = y
            plot.addItem(sc)
            self._scatter[name] = sc
        self.timeline = plot
        self._bottom_axis_only_last()

    def set_timeline(self, entries: Sequence[tuple[float, str, str]], now: float) -> None:
        """Errors, unjudged reps and markers at their time relative to ``now`` (the axis is "s before now")."""
        if self.timeline is None:
            return
        lo = now - self.span - 1.0
        recent = [(t - now, kind, text) for t, kind, text in entries if t >= lo]
        for name, sc in self._scatter.items():
            xs = [x for x, kind, _ in recent if kind == name]
            sc.setData(xs, [sc.y_level] * len(xs))
        marks = [(x, text) for x, kind, text in recent if kind == "marker"]
        while len(self._markers) < len(marks):
            line = pg.InfiniteLine(
                angle=90,
                pen=pg.mkPen(THERAPIST["marker"], width=2),
                label="",
                labelOpts={"position": 0.85, "color": THERAPIST["marker"]},
            )
            self.timeline.addItem(line)
            self._markers.append(line)
        for i, line in enumerate(self._markers):
            if i < len(marks):
                x, text = marks[i]
                line.setValue(x)
                line.label.setFormat(text)
                line.show()
            else:
                line.hide()

    def rescale(self) -> None:
        """Fit each plot without a fixed scale to its data, when the data left the range or use less than half of it."""
        edges: dict[int, list[float]] = {}  # the target bands shown on each plot stay in view
        for key, band in self.bands.items():
            values = band.getRegion() if isinstance(band, pg.LinearRegionItem) else (band.value(),)
            edges.setdefault(id(self.plots[key]), []).extend(float(v) for v in values)
        seen: set[int] = set()
        for key, plot in self.plots.items():
            if getattr(plot, "fixed_y", True) or id(plot) in seen:
                continue
            seen.add(id(plot))
            lo, hi = np.inf, -np.inf
            for v in edges.get(id(plot), ()):
                lo, hi = min(lo, v), max(hi, v)
            for (k, _), curve in self.curves.items():
                if k != key:
                    continue
                _, y = curve.getData()
                if y is not None and y.size:
                    finite = y[np.isfinite(y)]
                    if finite.size:
                        lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            if not np.isfinite(lo) or not np.isfinite(hi):
                continue
            if hi - lo < 1e-9:
                lo, hi = lo - 1.0, hi + 1.0
            (r0, r1) = plot.viewRange()[1]
            span = r1 - r0
            if lo < r0 or hi > r1 or (hi - lo) < 0.5 * span:
                pad = 0.08 * (hi - lo)
                plot.setYRange(lo - pad, hi + pad, padding=0)

    def set_span(self, seconds: float) -> None:
        """Show the last ``seconds``: x is time relative to now, fixed, so no axis is redrawn as time runs."""
        self.span = float(seconds)
        if self._first is not None:
            self._first.setXRange(-self.span, 0.0, padding=0)
        last = self.timeline or (list(self.plots.values())[-1] if self.plots else None)
        if last is not None:
            last.setLabel("bottom", "seconds before now")


def _group(title: str, inner: QtWidgets.QWidget | QtWidgets.QLayout) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    lay = QtWidgets.QVBoxLayout(box)
    lay.setContentsMargins(6, 6, 6, 6)
    if isinstance(inner, QtWidgets.QLayout):
        lay.addLayout(inner)
    else:
        lay.addWidget(inner)
    return box


class Dashboard(QtWidgets.QMainWindow):
    """The therapist's main window."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("nmre studio — therapist")
        self.resize(1600, 1000)
        font = self.font()
        font.setPointSize(10)
        self.setFont(font)
        self.actions_by_name: dict[str, QtGui.QAction] = {}

        # -- toolbar: who, what, controls --------------------------------------------
        bar = QtWidgets.QToolBar("session")
        bar.setMovable(False)
        bar.setIconSize(QtCore.QSize(16, 16))
        self.addToolBar(bar)
        self.patient = QtWidgets.QComboBox()
        self.patient.setEditable(True)
        self.patient.setMinimumWidth(130)
        self.patient.setToolTip("Pseudonymous patient id (letters, digits, - and _), never a name")
        edit = self.patient.lineEdit()
        if edit is not None:
            edit.setPlaceholderText("patient id")
        self.drill = QtWidgets.QComboBox()
        self.level = QtWidgets.QComboBox()
        self.schedule = QtWidgets.QComboBox()
        for label, w in (
            ("Patient", self.patient),
            ("Drill", self.drill),
            ("Level", self.level),
            ("Schedule", self.schedule),
        ):
            bar.addWidget(QtWidgets.QLabel(f" {label} "))
            bar.addWidget(w)
        bar.addSeparator()
        for name, text in (
            ("start", "Start"),
            ("pause", "Pause"),
            ("stop", "Stop"),
            ("marker", "Marker"),
            ("feedback", "Feedback now"),
        ):
            act = QtGui.QAction(text, self)
            act.setShortcut(QtGui.QKeySequence(SHORTCUTS[name]))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
            act.setToolTip(f"{text} ({SHORTCUTS[name]})")
            bar.addAction(act)
            self.actions_by_name[name] = act
        self.actions_by_name["pause"].setCheckable(True)
        bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Volume "))
        self.volume = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(70)
        self.volume.setFixedWidth(100)
        bar.addWidget(self.volume)
        for name, text in (("mute", "Mute"), ("large_text", "Large text")):
            act = QtGui.QAction(text, self)
            act.setCheckable(True)
            act.setShortcut(QtGui.QKeySequence(SHORTCUTS[name]))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
            act.setToolTip(f"{text} ({SHORTCUTS[name]})")
            bar.addAction(act)
            self.actions_by_name[name] = act
        for name, step in (("volume_up", 10), ("volume_down", -10)):
            act = QtGui.QAction(name, self)
            act.setShortcut(QtGui.QKeySequence(SHORTCUTS[name]))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
            act.triggered.connect(lambda _=False, s=step: self.volume.setValue(self.volume.value() + s))
            self.addAction(act)
            self.actions_by_name[name] = act

        # -- left: devices, setup guide, calibration -----------------------------------
        self.devices = QtWidgets.QTableWidget(0, 7)
        self.devices.setHorizontalHeaderLabels(["sensor", "state", "batt.", "signal", "loss", "lat.", "rec."])
        for col, tip in (
            (3, "signal quality: bad while the samples are saturated, flat or not finite"),
            (4, "samples lost in transport"),
            (5, "transport latency: arrival minus the block's last sample time"),
            (6, "reconnects"),
        ):
            head = self.devices.horizontalHeaderItem(col)
            if head is not None:
                head.setToolTip(tip)
        self.devices.verticalHeader().setVisible(False)
        self.devices.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.devices.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.devices.setWordWrap(False)
        self.devices.setMinimumHeight(178)  # five sensors without scrolling
        self.scan = QtWidgets.QPushButton("Scan for sensors")
        dev_box = QtWidgets.QVBoxLayout()
        dev_box.addWidget(self.devices)
        dev_box.addWidget(self.scan)
        self.body = BodyMap()
        self.setup_list = QtWidgets.QLabel()
        self.setup_list.setWordWrap(True)
        self.setup_list.setTextFormat(QtCore.Qt.TextFormat.RichText)
        setup_box = QtWidgets.QVBoxLayout()
        setup_box.addWidget(self.body, 1)
        setup_box.addWidget(self.setup_list)
        self.calibration = QtWidgets.QListWidget()
        self.calibration.setWordWrap(True)
        self.calibration.setMinimumHeight(90)
        self.override = QtWidgets.QPushButton("Override readiness gate")
        self.override.setEnabled(False)
        cal_box = QtWidgets.QVBoxLayout()
        cal_box.addWidget(self.calibration)
        cal_box.addWidget(self.override)
        left = QtWidgets.QWidget()
        left_lay = QtWidgets.QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(_group("Devices", dev_box), 2)
        left_lay.addWidget(_group("Setup guide", setup_box), 4)
        left_lay.addWidget(_group("Calibration", cal_box), 2)
        left.setFixedWidth(440)

        # -- centre: traces in two tabs (only the visible one is redrawn) -----------------
        self.traces = TracePanel()
        self.raw_traces = TracePanel()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.traces.widget, "Session")
        self.tabs.addTab(self.raw_traces.widget, "Raw signals")

        # -- right: counters, metrics, targets, warnings, latency -------------------------
        self.counters = QtWidgets.QLabel()
        self.counters.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.counters.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.counters.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum
        )  # never squeezed: the progression text below gives way
        self.progression = QtWidgets.QLabel()
        self.progression.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.progression.setWordWrap(True)
        self.progression.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.use_level = QtWidgets.QPushButton("Use the suggested level next")
        self.use_level.setToolTip(
            f"Set the level picker to the progression suggestion's level ({SHORTCUTS['use_level']}); "
            "it applies to the next session"
        )
        self.use_level.setEnabled(False)
        counts_box = QtWidgets.QVBoxLayout()
        counts_box.setSpacing(2)
        counts_box.addWidget(self.counters)
        counts_box.addWidget(self.progression, 1)
        counts_box.addWidget(self.use_level)
        self.metrics = QtWidgets.QTableWidget(0, 3)
        self.metrics.setHorizontalHeaderLabels(["last judged", "value", "target"])
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        mh = self.metrics.horizontalHeader()
        mh.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        mh.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.targets_form = QtWidgets.QFormLayout()
        self.targets_form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.targets_form.setRowWrapPolicy(
            QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows
        )  # boxes never clipped
        self.warnings = QtWidgets.QListWidget()
        self.warnings.setWordWrap(True)
        self.latency = QtWidgets.QLabel()
        self.latency.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.latency.setWordWrap(True)
        right = QtWidgets.QWidget()
        right_lay = QtWidgets.QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.addWidget(_group("Counts and progression", counts_box), 3)
        right_lay.addWidget(_group("Metrics", self.metrics), 3)
        right_lay.addWidget(_group("Targets and tolerances", self.targets_form), 2)
        right_lay.addWidget(_group("Data quality and warnings", self.warnings), 3)
        right_lay.addWidget(_group("Latency and load", self.latency), 1)
        right.setFixedWidth(380)

        central = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(left)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(right)
        self.setCentralWidget(central)
        self.status = QtWidgets.QLabel()
        self.statusBar().addWidget(self.status, 1)
        self.next_session = (
            QtWidgets.QLabel()
        )  # what Start will do when the pickers chose another drill/level
        self.next_session.setStyleSheet("color: #A04000; font-weight: bold")
        self.statusBar().addPermanentWidget(self.next_session)
        self.sound_status = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.sound_status)
        self.target_editors: dict[
            str, tuple[QtWidgets.QDoubleSpinBox | None, QtWidgets.QDoubleSpinBox | None]
        ] = {}
        self._focus_shortcuts()

    def _focus_shortcuts(self) -> None:
        """Keys that take the therapist to a control: patient, drill, level, schedule, targets, override, help."""

        def popup(combo: QtWidgets.QComboBox) -> Callable[[], None]:
            def go() -> None:
                if combo.isEnabled():
                    combo.setFocus()
                    combo.showPopup()

            return go

        def first_target() -> None:
            boxes = [b for pair in self.target_editors.values() for b in pair if b is not None]
            if boxes:
                boxes[0].setFocus()
                boxes[0].selectAll()

        def patient() -> None:
            self.patient.setFocus()
            edit = self.patient.lineEdit()
            if edit is not None:
                edit.selectAll()

        def override() -> None:
            if self.override.isEnabled():
                self.override.click()

        def use_level() -> None:
            if self.use_level.isEnabled():
                self.use_level.click()

        for name, go in (
            ("patient", patient),
            ("drill", popup(self.drill)),
            ("level", popup(self.level)),
            ("schedule", popup(self.schedule)),
            ("targets", first_target),
            ("override", override),
            ("use_level", use_level),
            ("help", self.show_help),
        ):
            act = QtGui.QAction(name, self)
            act.setShortcut(QtGui.QKeySequence(SHORTCUTS[name]))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
            act.triggered.connect(go)
            self.addAction(act)
            self.actions_by_name[name] = act
        for name, w in (
            ("patient", self.patient),
            ("drill", self.drill),
            ("level", self.level),
            ("schedule", self.schedule),
        ):
            w.setToolTip(f"{w.toolTip() + ' ' if w.toolTip() else ''}({SHORTCUTS[name]})".strip())
        self.override.setToolTip(f"Open the readiness gate with a reason ({SHORTCUTS['override']})")

    def help_text(self) -> str:
        """Every keyboard shortcut and what it does."""
        return "\n".join(f"{SHORTCUTS[k]:>10}   {v}" for k, v in SHORTCUT_HELP.items())

    def show_help(self) -> None:
        QtWidgets.QMessageBox.information(self, "nmre studio — keyboard shortcuts", self.help_text())

    def add_target_editor(
        self,
        name: str,
        label: str,
        unit: str,
        lo: float | None,
        hi: float | None,
        apply: Callable[[str, float | None, float | None], Any],
    ) -> None:
        """A row of spin boxes for one rule's band; editing it calls ``apply(name, lo, hi)``."""
        row = QtWidgets.QHBoxLayout()
        boxes: list[QtWidgets.QDoubleSpinBox | None] = []
        for v in (lo, hi):
            if v is None:
                boxes.append(None)
                continue
            box = QtWidgets.QDoubleSpinBox()
            box.setRange(-10000.0, 10000.0)
            box.setDecimals(1 if abs(v) >= 1 else 3)
            box.setSingleStep(1.0 if abs(v) >= 10 else 0.1 if abs(v) >= 1 else 0.005)
            box.setValue(v)
            box.setSuffix(f" {unit}" if unit and unit not in ("1", "count") else "")
            box.setKeyboardTracking(False)
            row.addWidget(box)
            boxes.append(box)
        lo_box, hi_box = boxes
        if lo_box is None and hi_box is None:  # a band the rule sets itself (the patient's own envelope)
            note = QtWidgets.QLabel("set from the patient's own baseline")
            note.setStyleSheet("color: #555555")
            row.addWidget(note)
        if lo_box is not None:
            lo_box.setPrefix("min ")
        if hi_box is not None:
            hi_box.setPrefix("max ")

        def changed() -> None:
            apply(name, lo_box.value() if lo_box else None, hi_box.value() if hi_box else None)

        for b in boxes:
            if b is not None:
                b.valueChanged.connect(changed)
        self.targets_form.addRow(label, row)
        self.target_editors[name] = (lo_box, hi_box)
