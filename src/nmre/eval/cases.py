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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["GROUPS", "SUITES", "Case", "case_rng", "suite_cases"]

#: Condition groups in table order.
GROUPS: tuple[str, ...] = ("target", "noise_x2", "mains", "motion", "loss_10", "dropout")

#: Subjects of the full suite that also run every stress group (all of them run the target group). One: the
#: full suite of every drill of the library then runs in under 15 minutes on 2 cores (docs/eval.md, "Cost").
STRESS_SUBJECTS = 1

#: The (kit, loss) pairs of the target group the quick suite runs (errors and clean each).
_QUICK_TARGET = (("full", 0.0), ("minimal", 0.02))
#: More (kit, loss) pairs of the target group the quick suite runs for a drill whose error labels its two quick
#: sessions leave without a unit outside the margin. shoulder_scaption: six labels over the nine errored reps of a
#: session, one label per rep, severities across each tolerance; the two sessions of subject 101 drew no rep outside
#: the margin for insufficient_elevation, ut_dominance and trunk_compensation (coverage 0), its full-kit 2 % loss
#: session draws one of each (true values of the full suite's case, docs/eval.md "Regression guard").
_QUICK_EXTRA: dict[str, tuple[tuple[str, float], ...]] = {"shoulder_scaption": (("full", 0.02),)}

#: Subjects (simulator seeds) per suite. The quick suite's are among the full suite's.
SUITES: dict[str, tuple[int, ...]] = {
    "quick": (101,),
    "full": (101, 102, 103, 104),
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


def _drill_cases(drill: str, seeds: Sequence[int], emg_kits: Sequence[str], quick: bool) -> list[Case]:
    """The cases of one drill; ``emg_kits``: the kits in which a rule of the drill reads EMG."""
    out: list[Case] = []
    quick_target = _QUICK_TARGET + _QUICK_EXTRA.get(drill, ())
    stressed = seeds[:STRESS_SUBJECTS]
    for seed in seeds:
        for kit in ("full", "minimal"):
            for loss in (0.0, 0.02):
                if quick and (kit, loss) not in quick_target:
                    continue
                out.append(Case(drill, "target", seed, kit, loss=loss))
                out.append(Case(drill, "target", seed, kit, loss=loss, clean=True))
        if seed not in stressed:
            continue
        if not quick:  # each condition with errors and clean (false alarms at every combination), each kit
            for kit in ("full", "minimal"):
                for clean in (False, True):
                    out.append(Case(drill, "noise_x2", seed, kit, noise=2.0, clean=clean))
            for kit in emg_kits:
                for clean in (False, True):
                    out.append(Case(drill, "mains", seed, kit, mains=True, clean=clean))
                    out.append(Case(drill, "motion", seed, kit, motion=True, clean=clean))
        for kit in ("full",) if quick else ("full", "minimal"):
            out.append(Case(drill, "loss_10", seed, kit, loss=0.10))
            out.append(Case(drill, "dropout", seed, kit, dropout=True))
            if not quick:
                out.append(Case(drill, "loss_10", seed, kit, loss=0.10, clean=True))
                out.append(Case(drill, "dropout", seed, kit, dropout=True, clean=True))
    return out


def suite_cases(
    suite: str, drills: Sequence[str], emg_kits: Mapping[str, bool | Sequence[str]] | None = None
) -> list[Case]:
    """Every case of ``suite`` (``"quick"`` or ``"full"``) for ``drills``, numbered in a fixed order.

    ``emg_kits``: per drill, the kits in which its rules read EMG (``True``: the full kit only);
    mains hum and electrode motion artefacts are conditions of those kits.
    """
    if suite not in SUITES:
        raise ValueError(f"suite: expected one of {', '.join(SUITES)}, got {suite!r}")
    emg_kits = emg_kits or {}
    cases: list[Case] = []
    for d in drills:
        kits = emg_kits.get(d, ())
        kits = ("full",) if kits is True else () if kits is False else tuple(kits)
        cases += _drill_cases(d, SUITES[suite], kits, suite == "quick")
    return [replace(c, index=i) for i, c in enumerate(cases)]
