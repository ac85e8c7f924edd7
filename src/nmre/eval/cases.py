"""The suite's cases: fixed and seeded, a function of nothing but the suite's name.

A case is one simulated session of one drill under one set of conditions. The
full suite crosses, per drill, several simulated subjects (seeds) with the
conditions of issue 9.2; every case's own numbers (which reps carry which
error, and how severe) are drawn from a generator keyed by the case's name, so
a case means the same session in every run, and the quick suite is a subset of
the full one (the same cases, fewer of them).

Groups (the rows of the table, :data:`GROUPS`):

``target``
    default noise, full and minimal kits, 0 and 2 % packet loss, sessions with
    errors and clean ones; the targets of issue 9.4 are held here.
``noise_x2``
    sensor noise at twice the default.
``mains``, ``motion``
    50 Hz mains hum / electrode motion artefacts on the EMG (drills with EMG only).
``loss_10``
    10 % packet loss.
``dropout``
    one sensor drops out for 2 s in the middle of a unit.

Strap rotation up to 15 degrees is part of every case (each sensor of each
subject is strapped on rotated, drawn from the seed).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GROUPS", "SUITES", "Case", "case_rng", "suite_cases"]

#: Condition groups in table order.
GROUPS: tuple[str, ...] = ("target", "noise_x2", "mains", "motion", "loss_10", "dropout")

#: Subjects of the full suite that also run every stress group (all of them run the target group).
STRESS_SUBJECTS = 3

#: Subjects (simulator seeds) per suite. The quick suite's are among the full suite's.
SUITES: dict[str, tuple[int, ...]] = {
    "quick": (101,),
    "full": (101, 102, 103, 104, 105, 106),
}


@dataclass(frozen=True, slots=True)
class Case:
    """One session of the suite.

    ``seed`` is the subject (the simulator's seed); ``noise`` scales the sensor noise
    (1 = default); ``loss`` is the packet-loss probability; ``dropout`` makes one
    sensor drop out for 2 s; ``mains``/``motion`` add mains hum / electrode motion
    artefacts; ``clean`` sessions have no injected error.
    """

    drill: str
    group: str
    seed: int
    kit: str = "full"
    noise: float = 1.0
    loss: float = 0.0
    dropout: bool = False
    mains: bool = False
    motion: bool = False
    clean: bool = False
    index: int = field(default=-1, compare=False)

    @property
    def name(self) -> str:
        parts = [self.drill, self.group, self.kit, f"seed{self.seed}", f"loss{round(self.loss * 100):d}"]
        if self.clean:
            parts.append("clean")
        return "/".join(parts)


def case_rng(case: Case, purpose: str) -> np.random.Generator:
    """A generator for ``purpose`` in ``case``: the same numbers in every run and process."""
    key = zlib.crc32(f"{case.name}|{purpose}".encode())
    return np.random.default_rng(np.random.SeedSequence([case.seed, key]))


def _drill_cases(drill: str, seeds: Sequence[int], has_emg: bool, quick: bool) -> list[Case]:
    out: list[Case] = []
    stressed = seeds[:STRESS_SUBJECTS]
    for seed in seeds:
        for kit in ("full", "minimal"):
            for loss in (0.0, 0.02):
                out.append(Case(drill, "target", seed, kit, loss=loss))
                if not quick or (kit, loss) in (("full", 0.0), ("minimal", 0.02)):
                    out.append(Case(drill, "target", seed, kit, loss=loss, clean=True))
        if seed not in stressed:
            continue
        if not quick:
            for kit in ("full", "minimal"):
                out.append(Case(drill, "noise_x2", seed, kit, noise=2.0))
            out.append(Case(drill, "noise_x2", seed, "full", noise=2.0, clean=True))
            if has_emg:
                out.append(Case(drill, "mains", seed, "full", mains=True))
                out.append(Case(drill, "mains", seed, "full", mains=True, clean=True))
                out.append(Case(drill, "motion", seed, "full", motion=True))
                out.append(Case(drill, "motion", seed, "full", motion=True, clean=True))
        for kit in ("full",) if quick else ("full", "minimal"):
            out.append(Case(drill, "loss_10", seed, kit, loss=0.10))
            out.append(Case(drill, "dropout", seed, kit, dropout=True))
            if not quick:  # clean sessions at every combination: false alarms under bad data too
                out.append(Case(drill, "loss_10", seed, kit, loss=0.10, clean=True))
                out.append(Case(drill, "dropout", seed, kit, dropout=True, clean=True))
    return out


def suite_cases(suite: str, drills: Sequence[str], has_emg: dict[str, bool] | None = None) -> list[Case]:
    """Every case of ``suite`` (``"quick"`` or ``"full"``) for ``drills``, numbered in a fixed order."""
    if suite not in SUITES:
        raise ValueError(f"suite: expected one of {', '.join(SUITES)}, got {suite!r}")
    has_emg = has_emg or {}
    cases: list[Case] = []
    for d in drills:
        cases += _drill_cases(d, SUITES[suite], has_emg.get(d, False), suite == "quick")
    from dataclasses import replace

    return [replace(c, index=i) for i, c in enumerate(cases)]
