"""The setup guide's body picture: where each sensor of the chosen drill goes, and which are missing.

A front view (the patient facing the therapist: the patient's right is on the
left of the picture, marked R). Each required sensor is a numbered dot at its
segment or muscle: filled blue with a tick when a stream of that kind and
placement is there, an orange ring with a cross when it is missing, grey and
dashed when optional and absent. The list under the picture says the same in
words (what, where, for what).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from nmre.gui.theme import OKABE_ITO

__all__ = ["BodyMap", "SensorSpot", "spot_position"]


@dataclass(frozen=True)
class SensorSpot:
    """One sensor of a drill: kind, segment or muscle, side, status (present | missing | optional), what for."""

    kind: str
    segment: str | None
    muscle: str | None
    side: str | None
    status: str
    purpose: str = ""
    placement: str = ""  # where exactly it goes, in words (the drill file's ``where``)

    @property
    def where(self) -> str:
        side = {"right": "right ", "left": "left ", "midline": ""}.get(self.side or "", "")
        place = self.muscle.upper() if self.muscle else (self.segment or "?")
        return f"{side}{place}"


# positions in a 200 x 400 figure space, for the patient's RIGHT side (mirrored for the left);
# the patient's right is on the picture's left
_SEGMENT = {
    "trunk": (100, 110, False),
    "pelvis": (100, 185, False),
    "thigh": (82, 245, True),
    "knee": (82, 285, True),
    "shank": (80, 325, True),
    "foot": (78, 385, True),
    "upper_arm": (52, 130, True),
    "forearm": (40, 185, True),
    "scapula": (72, 88, True),
}
_MUSCLE = {
    "vmo": (92, 270, True),
    "vl": (70, 255, True),
    "rf": (82, 232, True),
    "bf": (78, 250, True),
    "st": (88, 250, True),
    "gmed": (66, 190, True),
    "ut": (74, 72, True),
    "lt": (86, 118, True),
    "sa": (68, 140, True),
    "ad": (58, 98, True),
}


def spot_position(spot: SensorSpot) -> tuple[float, float]:
    """Where a sensor goes in the 200 x 400 figure space."""
    table = _MUSCLE if spot.muscle else _SEGMENT
    key = spot.muscle if spot.muscle else (spot.segment or "trunk")
    x, y, sided = table.get(key, (100, 200, False))
    if sided and spot.side == "left":
        x = 200 - x
    return float(x), float(y)


class BodyMap(QtWidgets.QWidget):
    """Paints the figure and the drill's sensors (:meth:`set_spots`)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.spots: list[SensorSpot] = []
        self.title = ""
        self.setMinimumSize(220, 330)

    def set_spots(self, spots: Sequence[SensorSpot], title: str = "") -> None:
        self.spots, self.title = list(spots), title
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        try:
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            p.fillRect(self.rect(), QtGui.QColor("#FFFFFF"))
            s = min(self.width() / 200.0, (self.height() - 10) / 410.0)
            p.translate((self.width() - 200 * s) / 2, 5)
            p.scale(s, s)
            self._figure(p)
            for i, spot in enumerate(self.spots, 1):
                self._spot(p, i, spot)
        finally:
            p.end()

    def _figure(self, p: QtGui.QPainter) -> None:
        p.setPen(QtGui.QPen(QtGui.QColor("#9AA5B1"), 3))
        p.setBrush(QtGui.QColor("#EEF1F4"))
        p.drawEllipse(QtCore.QPointF(100, 30), 20, 24)  # head
        body = QtGui.QPainterPath()
        body.addRoundedRect(QtCore.QRectF(66, 60, 68, 140), 18, 18)  # trunk and pelvis
        p.drawPath(body)
        for x in (82, 118):
            p.drawRoundedRect(QtCore.QRectF(x - 14, 195, 28, 100), 12, 12)  # thighs
            p.drawRoundedRect(QtCore.QRectF(x - 12, 290, 24, 90), 10, 10)  # shanks
            p.drawRoundedRect(QtCore.QRectF(x - 16 + (-6 if x < 100 else 6), 378, 32, 16), 6, 6)  # feet
        for x, d in ((52, -1), (148, 1)):
            p.drawRoundedRect(QtCore.QRectF(x - 11, 70, 22, 85), 10, 10)  # upper arms
            p.drawRoundedRect(QtCore.QRectF(x - 10 + 6 * d, 150, 20, 75), 9, 9)  # forearms
        p.setPen(QtGui.QColor("#5A6570"))
        f = QtGui.QFont("DejaVu Sans")
        f.setPixelSize(16)
        f.setBold(True)
        p.setFont(f)
        p.drawText(QtCore.QRectF(0, 0, 40, 30), QtCore.Qt.AlignmentFlag.AlignCenter, "R")
        p.drawText(QtCore.QRectF(160, 0, 40, 30), QtCore.Qt.AlignmentFlag.AlignCenter, "L")

    def _spot(self, p: QtGui.QPainter, i: int, spot: SensorSpot) -> None:
        x, y = spot_position(spot)
        c = QtCore.QPointF(x, y)
        r = 9.0 if spot.kind == "emg" else 11.0
        if spot.status == "present":
            p.setPen(QtGui.QPen(QtGui.QColor("#FFFFFF"), 2))
            p.setBrush(QtGui.QColor(OKABE_ITO["blue"]))
            if spot.kind == "emg":
                p.drawEllipse(c, r, r)
            else:
                p.drawRoundedRect(QtCore.QRectF(x - r, y - r * 0.75, 2 * r, 1.5 * r), 3, 3)
            p.setPen(QtGui.QPen(QtGui.QColor("#FFFFFF"), 2.5))
            p.drawLine(c + QtCore.QPointF(-4, 0), c + QtCore.QPointF(-1, 4))
            p.drawLine(c + QtCore.QPointF(-1, 4), c + QtCore.QPointF(5, -4))
        elif spot.status == "missing":
            p.setPen(QtGui.QPen(QtGui.QColor(OKABE_ITO["vermillion"]), 3.5))
            p.setBrush(QtGui.QColor("#FFFFFF"))
            p.drawEllipse(c, r, r)
            p.drawLine(c + QtCore.QPointF(-5, -5), c + QtCore.QPointF(5, 5))
            p.drawLine(c + QtCore.QPointF(-5, 5), c + QtCore.QPointF(5, -5))
        else:
            p.setPen(QtGui.QPen(QtGui.QColor("#7F7F7F"), 2, QtCore.Qt.PenStyle.DashLine))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            p.drawEllipse(c, r, r)
        f = QtGui.QFont("DejaVu Sans")
        f.setPixelSize(13)
        f.setBold(True)
        p.setFont(f)
        p.setPen(QtGui.QColor("#1A1A1A"))
        left = x < 100 or (x == 100 and i % 2)
        box = QtCore.QRectF(x - r - 22, y - 9, 18, 18) if left else QtCore.QRectF(x + r + 4, y - 9, 18, 18)
        p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, str(i))
