"""Real recordings through the drills, against what a person counts on them (issue 9.5).

* The UCI lower-limb files (``../shared/data/uci-lower-limb``), imported through
  the public importer (:func:`nmre.sessions.importers.import_uci`) and replayed
  (:func:`nmre.sessions.replay.replay`) through the seated knee extension and the
  standing knee flexion drills: the reps the drill counts and the extreme knee
  angle of each rep, against the count and the angles a person read off the
  goniometer trace (:data:`UCI_BY_EYE`; how: ``docs/eval-uci.md``).
* The LibEMG Myo recording (``../shared/data/libemg-oracle``), imported
  (:func:`nmre.sessions.importers.import_myo`) and replayed through the EMG
  contraction drill: the contractions it counts against the one contraction a
  person sees (:data:`MYO_BY_EYE`). The 2.5 s recording is shorter than the
  drill's calibration (a rest baseline, then a reference contraction held 2.5 s),
  so the drill counts none and says why (:attr:`RealResult.not_judged`, from the
  steps' ``calibration.failed`` at the recording's end); the person's count stays
  unmatched (docs/eval-uci.md).

A recording whose drill is not in the library yet is reported as not run, with
the reason; it is never counted as passing.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MYO_BY_EYE",
    "UCI_BY_EYE",
    "ByEye",
    "RealResult",
    "data_dir",
    "real_recordings",
    "run_myo",
    "run_uci",
]

#: How far a drill's extreme angle of a rep may be from the one read by eye, deg: the reading itself is good
#: to about 1 deg, the 5N goniometer moves in 20 ms steps (50 Hz held), and a drill filters the angle.
ANGLE_AGREEMENT = 3.0


@dataclass(frozen=True, slots=True)
class ByEye:
    """What a person counted on one recording: reps (or contractions) and each one's extreme value."""

    file: str
    drill: str
    quantity: str
    count: int
    extremes: tuple[float, ...]
    unit: str = "deg"
    note: str = ""
    spans: tuple[tuple[float, float], ...] = ()  # the panel of each rep, chosen by eye between the reps, s


#: docs/eval-uci.md, "Counts": counted on the goniometer trace, extremes read off 2-deg grids.
UCI_BY_EYE: tuple[ByEye, ...] = (
    ByEye("5Nsen", "knee_extension_seated", "knee_flexion_min", 4, (1.0, 2.0, 2.0, 2.0),
          spans=((0.0, 3.5), (3.5, 6.6), (6.6, 9.4), (9.4, 13.5))),
    ByEye("3Asen", "knee_extension_seated", "knee_flexion_min", 4, (11.0, 10.0, 10.0, 10.0),
          spans=((0.0, 9.5), (9.5, 20.0), (20.0, 30.0), (30.0, 39.0))),
    ByEye("5Npie", "knee_flexion_standing", "knee_flexion_peak", 5, (121.0, 119.0, 113.0, 112.0, 116.0),
          spans=((0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 11.8), (11.8, 15.3))),
    ByEye("3Apie", "knee_flexion_standing", "knee_flexion_peak", 3, (92.0, 98.0, 98.0),
          spans=((0.0, 7.5), (7.5, 12.5), (12.5, 22.2))),
)  # fmt: skip

#: docs/eval-uci.md, "LibEMG Myo recording": one contraction, clearest on channel 5, from about 0.97 s.
MYO_BY_EYE = ByEye(
    "emg_data_myo", "emg_contraction", "contraction", 1, (0.97,), "s",
    "one burst from about 0.97 s to 1.45 s (channel 5, RMS 44 against 3 counts at rest); weaker activity "
    "stays on to the end of the 2.5 s recording (RMS 17)",
)  # fmt: skip


@dataclass
class RealResult:
    """One recording through its drill, against the person's count."""

    file: str
    drill: str
    by_eye: ByEye
    ran: bool
    reason: str = ""  # why it did not run, or what went wrong
    count: int | None = None
    values: list[float] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)  # ok / corrected / unjudged
    #: Why the drill judged nothing, when its calibration was not done by the recording's end (the steps'
    #: ``calibration.failed`` reasons), else empty.
    not_judged: list[str] = field(default_factory=list)

    @property
    def count_ok(self) -> bool | None:
        return None if not self.ran else self.count == self.by_eye.count

    @property
    def worst(self) -> float | None:
        """Largest difference between the drill's value and the person's, per unit (same count only)."""
        if not self.ran or len(self.values) != len(self.by_eye.extremes) or self.by_eye.unit != "deg":
            return None
        return max((abs(a - b) for a, b in zip(self.values, self.by_eye.extremes, strict=True)), default=0.0)

    @property
    def ok(self) -> bool | None:
        if not self.ran:
            return None
        w = self.worst
        return bool(self.count_ok) and (w is None or w <= ANGLE_AGREEMENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "drill": self.drill,
            "ran": self.ran,
            "reason": self.reason,
            "by_eye": {
                "count": self.by_eye.count,
                "extremes": list(self.by_eye.extremes),
                "unit": self.by_eye.unit,
            },
            "count": self.count,
            "values": [round(v, 2) for v in self.values],
            "worst_difference": None if self.worst is None else round(self.worst, 2),
            "agreement_limit": ANGLE_AGREEMENT if self.by_eye.unit == "deg" else None,
            "verdicts": self.verdicts,
            "not_judged": list(self.not_judged),
            "count_ok": self.count_ok,
            "ok": self.ok,
        }


def data_dir() -> Path:
    """``../shared/data`` beside the project (or ``$NMRE_DATA``)."""
    env = os.environ.get("NMRE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def _missing_drill(name: str) -> str | None:
    """Why a recording of drill ``name`` cannot be replayed yet (the drill, or the importers), or None."""
    import importlib.util

    from nmre.drills import list_drills

    if name not in list_drills():
        return f"drill {name!r} is not in the library yet (issue 7)"
    if importlib.util.find_spec("nmre.sessions.importers") is None:
        return "the recording importers (nmre.sessions.importers, issue 10) are not on main yet"
    return None


def _verdicts(events: Sequence[Any]) -> dict[str, int]:
    from nmre.core import kinds

    out = {"ok": 0, "corrected": 0, "unjudged": 0}
    for e in events:
        if kinds.is_outcome(e.kind) and "ok" in e.payload:
            out["ok" if e.payload["ok"] else "corrected"] += 1
        elif kinds.is_unjudged(e.kind):
            out["unjudged"] += 1
    return out


def _not_done(events: Sequence[Any]) -> list[str]:
    """The calibration steps that were not done by the recording's end, each with why (its reason)."""
    from nmre.core import kinds

    return [
        f"{e.payload.get('step', e.source)}: {e.payload.get('reason', '')}"
        for e in events
        if e.kind == kinds.CALIBRATION_FAILED
    ]


def run_uci(eye: ByEye, folder: Path | None = None) -> RealResult:
    """Import one UCI file, replay it through its drill and compare with the person's count."""
    path = (folder or data_dir()) / "uci-lower-limb" / f"{eye.file}.txt"
    why = _missing_drill(eye.drill)
    if why is None and not path.exists():
        why = f"recording not found: {path}"
    if why is not None:
        return RealResult(eye.file, eye.drill, eye, False, why)
    from nmre.sessions.importers import import_uci
    from nmre.sessions.replay import replay

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{eye.file}.xdf"
        import_uci(path, out)
        res = replay(out, {"drill": eye.drill})
    reps = [e for e in res.events if e.kind == "rep.end"]
    by_rep: dict[Any, float] = {}
    for e in res.events:
        p = e.payload
        if e.kind.startswith("rule.") and p.get("quantity") == eye.quantity and "rep" in p:
            v = p.get("value")
            if isinstance(v, (int, float)) and math.isfinite(v):
                by_rep.setdefault(p["rep"], float(v))
    values = [by_rep[k] for k in sorted(by_rep)]
    return RealResult(
        eye.file, eye.drill, eye, True, "", len(reps), values, _verdicts(res.events), _not_done(res.events)
    )


def run_myo(folder: Path | None = None) -> RealResult:
    """Import the LibEMG Myo CSV and replay it through the contraction drill."""
    eye = MYO_BY_EYE
    path = (folder or data_dir()) / "libemg-oracle" / f"{eye.file}.csv"
    why = _missing_drill(eye.drill)
    if why is None and not path.exists():
        why = f"recording not found: {path}"
    if why is not None:
        return RealResult(eye.file, eye.drill, eye, False, why)
    from nmre.sessions.importers import import_myo
    from nmre.sessions.replay import replay

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "myo.xdf"
        import_myo(path, out)
        res = replay(out, {"drill": eye.drill})
    holds = [e for e in res.events if e.kind in ("hold.end", "rep.end")]
    starts = [float(e.payload.get("start", e.time)) for e in holds]
    return RealResult(
        eye.file, eye.drill, eye, True, "", len(holds), starts, _verdicts(res.events), _not_done(res.events)
    )


def real_recordings(folder: Path | None = None) -> list[RealResult]:
    """Every real recording of issue 9.5 through its drill."""
    out = [run_uci(e, folder) for e in UCI_BY_EYE]
    out.append(run_myo(folder))
    return out
