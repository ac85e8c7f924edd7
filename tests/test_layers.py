"""Layer rules, held as a test: which packages may import what.

- Only ``nmre.gui`` may import PySide6 or pyqtgraph.
- ``nmre.core`` and ``nmre.dsp`` import neither bleak, bumble nor Qt.
- Reference implementations used as test oracles (ahrs, imufusion, tslearn, neurokit2) never appear in src/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nmre"
QT = {"PySide6", "pyqtgraph", "shiboken6"}
BLE = {"bleak", "bumble"}
ORACLES = {"ahrs", "imufusion", "tslearn", "neurokit2"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_layer_rules(path: Path) -> None:
    rel = path.relative_to(SRC).parts
    got = imports_of(path)
    if rel[0] != "gui":
        assert not got & QT, f"{'/'.join(rel)} imports Qt ({got & QT}); only nmre.gui may"
    if rel[0] in ("core", "dsp"):
        assert not got & BLE, f"{'/'.join(rel)} imports {got & BLE}; core and dsp must not know about BLE"
    assert not got & ORACLES, f"{'/'.join(rel)} imports test oracle {got & ORACLES}; oracles are test-only"
