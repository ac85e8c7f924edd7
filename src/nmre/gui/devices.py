"""The device picker: scan for sensor boards, say where each is worn, connect.

The scan runs in a worker thread (bleak on its own event loop, through the OS
Bluetooth stack or a Bumble transport); the dialog polls for its result on a
timer, so the window never freezes and no Qt call leaves the main thread. What
the therapist picks becomes :class:`~nmre.gui.live.Wear` s, the same notation
as ``nmre studio --wear``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore, QtWidgets

from nmre.errors import NmreError
from nmre.gui.live import Wear, parse_wears

__all__ = ["DevicePicker"]

SCAN_SECONDS = 4.0
_NOT_USED = "not used"


def _slots(spots: Sequence[Any]) -> list[tuple[str, str]]:
    """(label, wear place) of the drill's IMU sensors (:class:`~nmre.gui.body.SensorSpot` s)."""
    out: list[tuple[str, str]] = []
    for spot in spots:
        if spot.kind != "imu" or spot.segment is None:
            continue
        side = spot.side
        place = spot.segment + ("" if side in (None, "midline") else f".{side}")
        label = f"{(side + ' ') if side not in (None, 'midline') else ''}{spot.segment} — {spot.purpose}"
        out.append((label + ("" if spot.status != "optional" else " (optional)"), place))
    return out


class DevicePicker(QtWidgets.QDialog):
    """Scan, assign each board a place on the body (and its EMG channels' muscles), connect."""

    def __init__(self, drill: str, config: Any, spots: Sequence[Any]) -> None:
        super().__init__()
        self.setWindowTitle(f"nmre studio — sensors for {drill}")
        self.resize(900, 420)
        self.config = config
        self.wears: list[Wear] = []
        self._slots = _slots(spots)
        self._emg_default = ",".join(s.muscle for s in spots if s.kind == "emg" and s.muscle)
        self._result: list[Any] | BaseException | None = None
        self._thread: threading.Thread | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(
            QtWidgets.QLabel(
                "Scan, then say where each board is strapped. EMG muscles are the board's channels in order "
                f"(e.g. {self._emg_default or 'vmo,vl'}); leave empty for an IMU-only board."
            )
        )
        self.table = QtWidgets.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["board", "kind", "signal", "worn on", "EMG muscles"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.message = QtWidgets.QLabel("Press Scan to look for sensor boards.")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        buttons = QtWidgets.QHBoxLayout()
        self.scan_button = QtWidgets.QPushButton("Scan")
        self.connect_button = QtWidgets.QPushButton("Connect")
        self.connect_button.setEnabled(False)
        cancel = QtWidgets.QPushButton("Cancel")
        for b in (self.scan_button, self.connect_button, cancel):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.scan_button.clicked.connect(self.scan)
        self.connect_button.clicked.connect(self.connect_devices)
        cancel.clicked.connect(self.reject)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)

    # -- scanning (worker thread) ------------------------------------------------------
    def scan(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        from nmre.acquisition.ble import scan

        self._result = None
        self.scan_button.setEnabled(False)
        self.message.setText(f"Scanning for {SCAN_SECONDS:g} s …")

        def work() -> None:
            try:
                self._result = scan(SCAN_SECONDS, self.config)
            except Exception as error:  # shown in the dialog, one line
                self._result = error

        self._thread = threading.Thread(target=work, name="nmre-scan", daemon=True)
        self._thread.start()
        self._timer.start()

    def _poll(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._timer.stop()
        self.scan_button.setEnabled(True)
        result = self._result
        if isinstance(result, BaseException):
            self.message.setText(f"Scan failed: {result}")
            return
        self.show_results(result or [])

    def show_results(self, results: Sequence[Any]) -> None:
        """Fill the table with scan results (only boards of a supported kind can be used)."""
        usable = [r for r in results if r.kind == "nmre"]
        self.table.setRowCount(len(usable))
        for row, r in enumerate(usable):
            for col, text in enumerate((r.name or r.address, r.kind, f"{r.rssi} dBm")):
                item = QtWidgets.QTableWidgetItem(text)
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, col, item)
            combo = QtWidgets.QComboBox()
            combo.addItem(_NOT_USED, "")
            for label, place in self._slots:
                combo.addItem(label, place)
            if row < len(self._slots):
                combo.setCurrentIndex(row + 1)
            self.table.setCellWidget(row, 3, combo)
            self.table.setCellWidget(row, 4, QtWidgets.QLineEdit())
        others = len(results) - len(usable)
        self.message.setText(
            f"{len(usable)} nmre board(s) found"
            + (f"; {others} other device(s) ignored" if others else "")
            + ("." if usable else " — is the board on and near? Scan again.")
        )
        self.connect_button.setEnabled(bool(usable))

    # -- connecting ---------------------------------------------------------------------
    def wear_texts(self) -> list[str]:
        out = []
        for row in range(self.table.rowCount()):
            combo = self.table.cellWidget(row, 3)
            place = combo.currentData() if isinstance(combo, QtWidgets.QComboBox) else ""
            if not place:
                continue
            item = self.table.item(row, 0)
            if item is None:
                continue
            name = item.text()
            edit = self.table.cellWidget(row, 4)
            muscles = edit.text().strip().replace(" ", "") if isinstance(edit, QtWidgets.QLineEdit) else ""
            out.append(f"{name}={place}" + (f":{muscles}" if muscles else ""))
        return out

    def connect_devices(self) -> None:
        try:
            self.wears = parse_wears(self.wear_texts())
        except NmreError as error:
            self.message.setText(str(error))
            return
        self.accept()
