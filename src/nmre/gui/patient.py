"""The patient view: large, simple, high-contrast pictures readable from three metres.

It draws a :class:`PatientScene` and nothing else (it computes no feedback). The
pictures:

* ``gauge``: one quantity (a joint angle, a muscle's activation) on a tall bar
  with its target zone; the pointer and the number turn bluish green inside the
  zone and orange outside, and a word says which ("In the zone", "Lower",
  "Higher"), so colour is never the only sign;
* ``balance``: a target of concentric rings; the dot is the centre-of-mass
  proxy (the sway acceleration, forward = up, the patient's left = left), with a
  short fading trail; the inner ring is the zone;
* ``los``: limits of stability: eight targets around the centre, the active one
  highlighted, the reached ones ticked;

with the rep and hold counters on top and one short message at a time at the
bottom. Overlays say "Paused", "Sensor lost: wait", "Get ready" or "Well done".

Sizes are in a 1920 x 1080 design space scaled to the window: the counters are
about 150 px high on a 1080-line screen (4 cm on a 24-inch monitor, comfortable
at three metres; a legibility rule of thumb is 1/200 of the distance as the
minimum, 1.5 cm). The large-text option scales type by 1.35.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from nmre.gui.theme import PatientTheme

__all__ = ["PatientScene", "PatientView"]

W, H = 1920.0, 1080.0


@dataclass
class PatientScene:
    """What the patient screen shows now."""

    mode: str = "idle"  # idle | gauge | balance | los
    title: str = ""
    # gauge
    value: float = math.nan
    lo: float | None = None
    hi: float | None = None
    range_lo: float = 0.0
    range_hi: float = 100.0
    unit: str = ""
    label: str = ""
    downward: bool = False  # values grow downwards (squat depth)
    #: The value the band judges (colour and word): the unit's peak so far, or NaN between units (the level
    #: is shown without a verdict); None: the value now.
    judged: float | None = None
    # balance / los: the dot in zone units (1 = the zone's edge), forward = +y, left = -x on screen
    dot: tuple[float, float] = (math.nan, math.nan)
    trail: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    zone: float | None = 1.0  # zone radius in the same units; None while it is being measured
    los_active: int | None = None
    los_reached: tuple[int, ...] = ()
    # counters and message
    reps: int | None = None
    reps_total: int | None = None
    count_label: str = "Rep"
    hold: float | None = None  # seconds held in the current hold
    hold_target: float | None = None
    message: str = ""
    tone: str = "info"  # good | correct | info
    overlay: str | None = None  # paused | lost | ready | done
    overlay_text: str = ""


class PatientView(QtWidgets.QWidget):
    """The patient's window. ``on_painted(t_end)`` is called after every frame (for the latency log)."""

    def __init__(self, theme: PatientTheme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme or PatientTheme()
        self.scene = PatientScene()
        self.on_painted: Callable[[], None] | None = None
        self.frames = 0
        self._look: tuple[object, ...] | None = None
        self._static: QtGui.QPixmap | None = None
        self._static_key: tuple[object, ...] | None = None
        self.setWindowTitle("nmre — patient")
        self.setMinimumSize(640, 360)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def set_scene(self, scene: PatientScene) -> bool:
        """Show ``scene``; returns False (and paints nothing) when it would look exactly as the one on screen."""
        key = _look(scene)
        if key == self._look and self.frames:
            self.scene = scene
            return False
        self._look = key
        self.scene = scene
        self.update()
        return True

    def set_large_text(self, on: bool) -> None:
        self.theme = PatientTheme(scale=1.35 if on else 1.0)
        self._look = None
        self.update()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        self._look = None
        super().resizeEvent(event)

    # -- painting -----------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        # what changes at most a few times a second (counters, label, scale, message: most of the type)
        # is drawn once into a pixmap; each frame copies it and draws the moving parts over it
        key = (
            self.width(),
            self.height(),
            self.devicePixelRatioF(),
            self.theme.scale,
            _static_look(self.scene),
        )
        if key != self._static_key or self._static is None:
            ratio = self.devicePixelRatioF()
            pix = QtGui.QPixmap(round(self.width() * ratio), round(self.height() * ratio))
            pix.setDevicePixelRatio(ratio)
            q = QtGui.QPainter(pix)
            try:
                q.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
                q.fillRect(
                    QtCore.QRectF(0, 0, self.width(), self.height()), QtGui.QColor(self.theme.background)
                )
                self._design_space(q)
                self._paint(q, static=True)
            finally:
                q.end()
            self._static, self._static_key = pix, key
        p = QtGui.QPainter(self)
        try:
            p.drawPixmap(0, 0, self._static)
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            self._design_space(p)
            self._paint(p, static=False)
        finally:
            p.end()
        self.frames += 1
        if self.on_painted is not None:
            self.on_painted()

    def _design_space(self, p: QtGui.QPainter) -> None:
        s = min(self.width() / W, self.height() / H)
        p.translate((self.width() - W * s) / 2, (self.height() - H * s) / 2)
        p.scale(s, s)

    def _font(self, px: float, bold: bool = True) -> QtGui.QFont:
        f = QtGui.QFont("DejaVu Sans")
        f.setPixelSize(max(8, round(px * self.theme.scale)))
        f.setBold(bold)
        return f

    def _paint(self, p: QtGui.QPainter, static: bool) -> None:
        """The static layer (``static``: counters, scale, message) or the moving parts drawn over it."""
        sc = self.scene
        top, bottom = 0.0, H
        if sc.reps is not None or sc.hold is not None or sc.title:
            if static:
                self._counters(p, sc)
            top = 230.0
        if sc.message or sc.mode != "idle":
            bottom = H - 200.0
        area = QtCore.QRectF(60, top, W - 120, bottom - top)
        if sc.mode == "gauge":
            self._gauge(p, sc, area, static)
        elif sc.mode in ("balance", "los"):
            self._target(p, sc, area, static)
        if sc.message and static:
            self._message(p, sc)
        if sc.overlay and not static:
            self._overlay(p, sc)

    def _counters(self, p: QtGui.QPainter, sc: PatientScene) -> None:
        t = self.theme
        p.setPen(QtGui.QColor(t.text))
        if sc.reps is not None:
            p.setFont(self._font(64, bold=False))
            p.setPen(QtGui.QColor(t.muted))
            p.drawText(
                QtCore.QRectF(80, 10, 800, 80),
                QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                sc.count_label,
            )
            p.setPen(QtGui.QColor(t.text))
            p.setFont(self._font(150))
            total = f" / {sc.reps_total}" if sc.reps_total else ""
            p.drawText(
                QtCore.QRectF(80, 70, 900, 160),
                QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                f"{sc.reps}{total}",
            )
        if sc.hold is not None:
            p.setFont(self._font(64, bold=False))
            p.setPen(QtGui.QColor(t.muted))
            right = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
            p.drawText(QtCore.QRectF(W - 880, 10, 800, 80), right, "Hold")
            done = sc.hold_target is not None and sc.hold >= sc.hold_target
            p.setPen(QtGui.QColor(t.good if done else t.text))
            p.setFont(self._font(150))
            target = f" / {sc.hold_target:.0f} s" if sc.hold_target else " s"
            p.drawText(QtCore.QRectF(W - 980, 70, 900, 160), right, f"{sc.hold:.0f}{target}")
        elif sc.title and sc.reps is None:
            p.setFont(self._font(90))
            p.drawText(QtCore.QRectF(0, 40, W, 160), QtCore.Qt.AlignmentFlag.AlignCenter, sc.title)

    def _gauge(self, p: QtGui.QPainter, sc: PatientScene, area: QtCore.QRectF, static: bool) -> None:
        t = self.theme
        bar = QtCore.QRectF(W / 2 - 330, area.top() + 20, 260, area.height() - 40)
        span = sc.range_hi - sc.range_lo or 1.0

        def y_of(v: float) -> float:
            x = min(1.0, max(0.0, (v - sc.range_lo) / span))
            return bar.top() + x * bar.height() if sc.downward else bar.bottom() - x * bar.height()

        if static:
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(QtGui.QColor(t.panel))
            p.drawRoundedRect(bar, 30, 30)
            if sc.label:
                p.setPen(QtGui.QColor(t.muted))
                p.setFont(self._font(56, bold=False))
                p.drawText(
                    QtCore.QRectF(60, area.top() + 20, bar.left() - 100, 200),
                    QtCore.Qt.AlignmentFlag.AlignRight
                    | QtCore.Qt.AlignmentFlag.AlignTop
                    | QtCore.Qt.TextFlag.TextWordWrap,
                    sc.label,
                )
            return
        judged = sc.value if sc.judged is None else sc.judged
        inside = _inside(judged, sc.lo, sc.hi)
        if sc.lo is not None or sc.hi is not None:
            lo = sc.lo if sc.lo is not None else sc.range_lo
            hi = sc.hi if sc.hi is not None else sc.range_hi
            y1, y2 = sorted((y_of(lo), y_of(hi)))
            zone = QtCore.QRectF(bar.left() - 40, y1, bar.width() + 80, max(8.0, y2 - y1))
            c = QtGui.QColor(t.zone)
            c.setAlpha(255 if inside else 150)
            p.setBrush(c)
            p.drawRoundedRect(zone, 16, 16)
            p.setPen(QtGui.QPen(QtGui.QColor(t.text), 6))
            p.drawLine(QtCore.QPointF(zone.left(), y1), QtCore.QPointF(zone.right(), y1))
            p.drawLine(QtCore.QPointF(zone.left(), y2), QtCore.QPointF(zone.right(), y2))
        if math.isfinite(sc.value):
            y = y_of(sc.value)
            colour = QtGui.QColor(t.good if inside else t.out if inside is False else t.text)
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(colour)
            # the level fills from the start of the scale to the value
            y0 = bar.top() if sc.downward else bar.bottom()
            fill = QtCore.QRectF(bar.left() + 50, min(y, y0), bar.width() - 100, abs(y - y0))
            p.drawRoundedRect(fill, 20, 20)
            # a large pointer on the right of the bar
            tri = QtGui.QPolygonF(
                [
                    QtCore.QPointF(bar.right() + 60, y),
                    QtCore.QPointF(bar.right() + 150, y - 55),
                    QtCore.QPointF(bar.right() + 150, y + 55),
                ]
            )
            p.drawPolygon(tri)
            p.setPen(colour)
            p.setFont(self._font(130))
            # the number and its word beside the pointer, kept above the message banner under the bar
            y = min(y, bar.bottom() - 135)
            text_rect = QtCore.QRectF(bar.right() + 180, y - 90, 700, 180)
            p.drawText(
                text_rect,
                QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                f"{round(sc.value) + 0:.0f}{_unit(sc.unit)}",
            )
            word = "In the zone" if inside else (_direction(sc, judged) if inside is False else "")
            if word:
                p.setFont(self._font(70))
                p.drawText(
                    QtCore.QRectF(bar.right() + 180, y + 70, 800, 100),
                    QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                    word,
                )

    def _target(self, p: QtGui.QPainter, sc: PatientScene, area: QtCore.QRectF, static: bool) -> None:
        t = self.theme
        c = area.center()
        outer = min(area.width(), area.height()) / 2 - 20
        zone = sc.zone
        # the picture's scale: the zone's edge at 45 % of the outer ring (so big errors still fit)
        unit = outer * 0.45
        if static:
            self._target_static(p, sc, c, outer)
            return
        dx, dy = sc.dot
        r = math.hypot(dx, dy) if math.isfinite(dx) and math.isfinite(dy) else math.nan
        inside = None if (zone is None or not math.isfinite(r)) else r <= zone
        if sc.mode == "los":  # no zone to stay in: the dot turns green on the target shown now
            inside = None
            if sc.los_active is not None and math.isfinite(r):
                a = math.radians(90 - 45 * sc.los_active)
                tx, ty = math.cos(a) * outer * 0.82 / unit, math.sin(a) * outer * 0.82 / unit
                inside = True if math.hypot(dx - tx, dy - ty) * unit <= 70 else None
        if zone is not None and sc.mode == "balance":
            zc = QtGui.QColor(t.zone)
            zc.setAlpha(110 if inside is not False else 60)
            p.setBrush(zc)
            p.setPen(QtGui.QPen(QtGui.QColor(t.zone if inside is not False else t.out), 10))
            p.drawEllipse(c, zone * unit, zone * unit)
        # the trail, fading, then the dot
        tr = sc.trail
        if tr.shape[1] > 1:  # a line in a few pieces, fainter the older (one call per piece, not per point)
            pts = [
                _clamp_point(c, x, y, unit, outer) for x, y in tr.T if math.isfinite(x) and math.isfinite(y)
            ]
            pieces = 6
            step = max(1, math.ceil(len(pts) / pieces))
            for k in range(0, len(pts) - 1, step):
                col = QtGui.QColor(t.dot)
                col.setAlpha(int(30 + 110 * (k + step) / len(pts)))
                pen = QtGui.QPen(col, 18)
                pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
                pen.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
                p.setPen(pen)
                p.drawPolyline(QtGui.QPolygonF(pts[k : k + step + 1]))
        if math.isfinite(r):
            pt = _clamp_point(c, dx, dy, unit, outer)
            p.setBrush(
                QtGui.QColor(
                    t.good if inside and sc.mode == "los" else t.dot if inside is not False else t.out
                )
            )
            p.setPen(QtGui.QPen(QtGui.QColor(t.background), 8))
            p.drawEllipse(pt, 48, 48)
        if sc.mode == "balance" and zone is not None and inside is not None:
            p.setPen(QtGui.QColor(t.good if inside else t.out))
            p.setFont(self._font(64))
            word = "Steady" if inside else "Back to the middle"
            p.drawText(
                QtCore.QRectF(c.x() + outer + 20, c.y() - 60, W - c.x() - outer - 40, 120),
                QtCore.Qt.AlignmentFlag.AlignLeft
                | QtCore.Qt.AlignmentFlag.AlignVCenter
                | QtCore.Qt.TextFlag.TextWordWrap,
                word,
            )

    def _target_static(self, p: QtGui.QPainter, sc: PatientScene, c: QtCore.QPointF, outer: float) -> None:
        """The rings and cross of the balance target, the limits-of-stability targets, "Measuring"."""
        t = self.theme
        p.setBrush(QtGui.QColor(t.panel))
        p.setPen(QtGui.QPen(QtGui.QColor(t.muted), 4))
        p.drawEllipse(c, outer, outer)
        p.setPen(QtGui.QPen(QtGui.QColor(t.muted), 3, QtCore.Qt.PenStyle.DashLine))
        p.drawLine(QtCore.QPointF(c.x() - outer, c.y()), QtCore.QPointF(c.x() + outer, c.y()))
        p.drawLine(QtCore.QPointF(c.x(), c.y() - outer), QtCore.QPointF(c.x(), c.y() + outer))
        if sc.mode == "los":
            for k in range(8):
                a = math.radians(90 - 45 * k)  # 0 = forward (up), clockwise
                pt = QtCore.QPointF(c.x() + math.cos(a) * outer * 0.82, c.y() - math.sin(a) * outer * 0.82)
                active = sc.los_active == k
                reached = k in sc.los_reached
                p.setBrush(QtGui.QColor(t.target if active else t.good if reached else t.panel))
                p.setPen(QtGui.QPen(QtGui.QColor(t.text if active else t.muted), 8 if active else 4))
                p.drawEllipse(pt, 70 if active else 52, 70 if active else 52)
                if reached:
                    p.setPen(QtGui.QPen(QtGui.QColor(t.text), 10))
                    p.drawLine(pt + QtCore.QPointF(-25, 0), pt + QtCore.QPointF(-5, 22))
                    p.drawLine(pt + QtCore.QPointF(-5, 22), pt + QtCore.QPointF(28, -22))
        if sc.mode == "balance" and sc.zone is None:
            p.setPen(QtGui.QColor(t.text))
            p.setFont(self._font(64))
            p.drawText(
                QtCore.QRectF(c.x() - 700, c.y() + outer * 0.5, 1400, 120),
                QtCore.Qt.AlignmentFlag.AlignCenter,
                "Measuring your balance",
            )

    def _message(self, p: QtGui.QPainter, sc: PatientScene) -> None:
        t = self.theme
        colour = {"good": t.good, "correct": t.out}.get(sc.tone, t.panel)
        box = QtCore.QRectF(120, H - 185, W - 240, 165)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(colour))
        p.drawRoundedRect(box, 40, 40)
        p.setPen(QtGui.QColor("#000000" if sc.tone in ("good", "correct") else t.text))
        p.setFont(self._fit(p, sc.message, box.width() - 80, 110))
        p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, sc.message)

    def _overlay(self, p: QtGui.QPainter, sc: PatientScene) -> None:
        t = self.theme
        veil = QtGui.QColor(t.background)
        veil.setAlpha(215)
        p.fillRect(QtCore.QRectF(0, 0, W, H), veil)
        words = {
            "paused": "Paused",
            "lost": "Sensor lost — please wait",
            "ready": "Get ready",
            "done": "Well done",
        }.get(sc.overlay or "", sc.overlay or "")
        colour = t.alert if sc.overlay == "lost" else t.text
        p.setPen(QtGui.QColor(colour))
        p.setFont(self._fit(p, words, W - 200, 170))
        p.drawText(QtCore.QRectF(0, H / 2 - 220, W, 260), QtCore.Qt.AlignmentFlag.AlignCenter, words)
        if sc.overlay_text:
            p.setPen(QtGui.QColor(t.text))
            p.setFont(self._fit(p, sc.overlay_text, W - 240, 80))
            p.drawText(
                QtCore.QRectF(100, H / 2 + 60, W - 200, 160),
                QtCore.Qt.AlignmentFlag.AlignCenter | QtCore.Qt.TextFlag.TextWordWrap,
                sc.overlay_text,
            )

    def _fit(self, p: QtGui.QPainter, text: str, width: float, px: float) -> QtGui.QFont:
        """The largest font up to ``px`` (times the text scale) in which ``text`` fits ``width``."""
        f = self._font(px)
        metrics = QtGui.QFontMetricsF(f)
        w = metrics.horizontalAdvance(text)
        if w > width:
            f.setPixelSize(max(8, int(f.pixelSize() * width / w)))
        return f


def _q(v: float | None, step: float) -> object:
    """A value as far as the picture can show it (NaN and None stay what they are)."""
    if v is None or not math.isfinite(v):
        return None if v is None else "nan"
    return round(v / step)


def _look(sc: PatientScene) -> tuple[object, ...]:
    """What the picture shows, quantised to what can be seen: equal looks paint the same pixels.

    Numbers are shown to the unit (a gauge pointer moves ~4 px per unit of a 130-unit range on
    1080 lines); the balance dot and its trail move in 1/400 of the zone (under a pixel).
    """
    trail = (
        np.round(np.nan_to_num(sc.trail, nan=9e9) * 400).astype(np.int64).tobytes() if sc.trail.size else b""
    )
    return (
        sc.mode, sc.title, sc.label, sc.unit, sc.downward, sc.range_lo, sc.range_hi,
        _q(sc.value, 0.5), _q(sc.judged, 0.5), _q(sc.lo, 0.1), _q(sc.hi, 0.1),
        _q(sc.dot[0], 1 / 400), _q(sc.dot[1], 1 / 400), trail, _q(sc.zone, 1 / 400),
        sc.los_active, sc.los_reached, sc.reps, sc.reps_total, sc.count_label,
        _q(sc.hold, 1.0), sc.hold_target, sc.message, sc.tone, sc.overlay, sc.overlay_text,
    )  # fmt: skip


def _static_look(sc: PatientScene) -> tuple[object, ...]:
    """What the static layer shows (counters, label, scale, targets, message)."""
    return (
        sc.mode, sc.title, sc.label, sc.range_lo, sc.range_hi, sc.downward, sc.zone is None,
        sc.los_active, sc.los_reached, sc.reps, sc.reps_total, sc.count_label,
        None if sc.hold is None else f"{sc.hold:.0f}", sc.hold_target, sc.message, sc.tone,
    )  # fmt: skip


def _inside(v: float, lo: float | None, hi: float | None) -> bool | None:
    if not math.isfinite(v) or (lo is None and hi is None):
        return None
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _direction(sc: PatientScene, value: float) -> str:
    """Which way to go, in words (never colour alone): down the gauge or up it, named by the gauge's label."""
    below = sc.lo is not None and value < sc.lo
    if sc.downward:
        return "Lower" if below else "Not so low"
    what = sc.label.strip().lower()
    if what and len(what) <= 16:  # "More knee bend" / "Less trunk lean"
        return f"{'More' if below else 'Less'} {what}"
    return "Higher" if below else "Not so high"


def _unit(u: str) -> str:
    return "°" if u == "deg" else (" %" if u == "%" else (f" {u}" if u else ""))


def _clamp_point(c: QtCore.QPointF, x: float, y: float, unit: float, outer: float) -> QtCore.QPointF:
    px, py = x * unit, -y * unit
    r = math.hypot(px, py)
    if r > outer:
        px, py = px * outer / r, py * outer / r
    return QtCore.QPointF(c.x() + px, c.y() + py)
