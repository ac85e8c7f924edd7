"""The pictures a clinician looks at first, one PNG per rule (matplotlib, no display needed).

Left: measured against true value of the rule's quantity, the identity line, the
tolerance as lines (vertical: the true tolerance, horizontal: the one the rule
judged with), the margin as a shaded band around the true tolerance; each unit
coloured by its verdict. Personal envelopes (a factor of the patient's own
baseline) are drawn as the ratio to the baseline, true and measured.

Right: how often the rule corrected, against the true value's distance from the
tolerance (positive = outside), in bins, with the margin shaded: a good rule
is near 0 left of the margin, near 1 right of it.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nmre.eval.cases import Case
from nmre.eval.model import Observation, RuleView

__all__ = ["write_plots"]

_COLOURS = {
    "ok": "#2b8a3e",
    "below": "#c92a2a",
    "above": "#c92a2a",
    "other": "#862e9c",
    "unjudged": "#868e96",
    "missing": "#f08c00",
}
_LABELS = {
    "ok": "praised (ok)",
    "below": "corrected",
    "above": "corrected",
    "other": "other message",
    "unjudged": "not judged",
    "missing": "no verdict",
}


def _ratio(o: Observation, rule: RuleView) -> tuple[float, float]:
    """(true, measured) as multiples of the own baseline, for a personal envelope."""
    f = rule.tolerance.factor or 1.0
    tb = (o.true_hi or math.nan) / f
    mb = (o.hi or math.nan) / f
    return o.true_value / tb, (o.measured / mb if math.isfinite(mb) and mb > 0 else math.nan)


def _scatter(ax: object, rule: RuleView, obs: Sequence[Observation]) -> None:
    import matplotlib.axes

    assert isinstance(ax, matplotlib.axes.Axes)
    rel = rule.tolerance.relative
    xs, ys, cs = [], [], []
    for o in obs:
        if o.spurious:
            continue
        x, y = _ratio(o, rule) if rel else (o.true_value, o.measured)
        if not math.isfinite(x):
            continue
        if not math.isfinite(y):  # no measured value: drawn on the identity line, hollow
            y = x
        xs.append(x)
        ys.append(y)
        cs.append(o.verdict)
    xs_a, ys_a = np.array(xs), np.array(ys)
    beyond = 0
    if xs_a.size:
        # the axes span the judged units (and the tolerance); units not judged far outside them
        # (the windows around a fall) are counted in the title instead of squeezing the picture
        judged = np.array([c not in ("missing", "unjudged") for c in cs])
        ref = judged if judged.any() else np.ones_like(judged)
        edges_v = [e for e in (rule.tolerance.lo, rule.tolerance.hi, rule.tolerance.factor) if e is not None]
        lo = float(min(xs_a[ref].min(), ys_a[ref].min(), *edges_v))
        hi = float(max(xs_a[ref].max(), ys_a[ref].max(), *edges_v))
        pad = 0.08 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        inside = (xs_a >= lo) & (xs_a <= hi) & (ys_a >= lo) & (ys_a <= hi)
        beyond = int((~inside).sum())
        xs_a, ys_a = xs_a[inside], ys_a[inside]
        cs = [c for c, k in zip(cs, inside, strict=True) if k]
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.plot([lo, hi], [lo, hi], color="#adb5bd", lw=1, zorder=1)
    seen: set[str] = set()
    for v in ("ok", "below", "above", "other", "missing", "unjudged"):
        sel = [i for i, c in enumerate(cs) if c == v]
        if not sel:
            continue
        label = _LABELS[v] if _LABELS[v] not in seen else None
        seen.add(_LABELS[v])
        hollow = v in ("missing", "unjudged")
        ax.scatter(
            xs_a[sel],
            ys_a[sel],
            s=14,
            zorder=3,
            label=label,
            facecolors="none" if hollow else _COLOURS[v],
            edgecolors=_COLOURS[v],
            linewidths=0.8,
        )
    m = rule.margin.value
    if rel:
        edges = [(rule.tolerance.factor or 1.0, rule.tolerance.factor or 1.0)]
        m_rel = None
    else:
        edges = [(e, e) for e in (rule.tolerance.lo, rule.tolerance.hi) if e is not None]
        m_rel = m
    for k, (true_e, used_e) in enumerate(edges):
        first = k == 0
        ax.axvline(
            true_e,
            color="#1c7ed6",
            lw=1.2,
            zorder=2,
            label="tolerance (on the true value)" if first else None,
        )
        ax.axhline(
            used_e,
            color="#1c7ed6",
            lw=1.0,
            ls="--",
            zorder=2,
            label="tolerance the rule judged with" if first else None,
        )
        if m_rel:
            ax.axvspan(
                true_e - m_rel,
                true_e + m_rel,
                color="#1c7ed6",
                alpha=0.08,
                zorder=0,
                label=f"margin +/- {m:g} {rule.unit} (stated accuracy)" if first else None,
            )
    unit = rule.unit if not rel else "x own baseline"
    ax.set_xlabel(f"true {_words(rule.quantity)} ({unit})")
    ax.set_ylabel(f"measured {_words(rule.quantity)} ({unit})")
    what = f"{rule.family}s not judged lie" if beyond != 1 else f"{rule.family} not judged lies"
    more = f"\n{beyond} {what} beyond the axes" if beyond else ""
    ax.set_title(
        f"measured against true; tolerance {rule.tolerance.describe(rule.unit)}{more}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)


def _words(quantity: str) -> str:
    """A quantity's name as a clinician reads it (``knee_flexion_peak`` -> ``knee flexion peak``)."""
    return quantity.replace("_", " ")


def _agreement(ax: object, rule: RuleView, obs: Sequence[Observation]) -> None:
    import matplotlib.axes

    assert isinstance(ax, matplotlib.axes.Axes)
    pts = [(o.distance, o.flagged) for o in obs if o.judged and not o.spurious and math.isfinite(o.distance)]
    m = rule.margin.value
    if pts:
        d = np.array([p[0] for p in pts])
        f = np.array([p[1] for p in pts], dtype=float)
        span = max(float(np.abs(d).max()), 3 * m, 1e-9)
        edges = np.linspace(-span, span, 25)
        centres, rates, counts = [], [], []
        for a, b in itertools.pairwise(edges):
            sel = (d >= a) & (d < b)
            if sel.any():
                centres.append(0.5 * (a + b))
                rates.append(f[sel].mean())
                counts.append(int(sel.sum()))
        ax.plot(centres, rates, "o-", color="#c92a2a", ms=3, lw=1)
        for c, r, n in zip(centres, rates, counts, strict=True):
            ax.annotate(str(n), (c, r), fontsize=6, textcoords="offset points", xytext=(0, 4), ha="center")
    ax.axvline(0.0, color="#1c7ed6", lw=1.2, label="tolerance edge")
    if m > 0:
        ax.axvspan(-m, m, color="#1c7ed6", alpha=0.08, label=f"margin +/- {m:g} {rule.unit}")
    ax.set_ylim(-0.05, 1.15)
    ax.text(0.02, 0.55, "inside the tolerance:\nshould be praised (0)", transform=ax.transAxes, fontsize=7)
    ax.text(0.98, 0.45, "outside:\nshould be corrected (1)", transform=ax.transAxes, fontsize=7, ha="right")
    ax.set_xlabel(f"true distance outside the tolerance ({rule.unit}; negative = inside)")
    ax.set_ylabel("fraction of units corrected")
    ax.set_title(
        "corrections against the true distance from the tolerance\n(number above a point: units in its bin)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)


def write_plots(
    folder: str | os.PathLike[str],
    rules: Mapping[str, Sequence[RuleView]],
    observations: Sequence[tuple[Case, Observation]],
    group: str = "target",
) -> list[Path]:
    """One PNG per rule (observations of ``group``) into ``folder``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for drill, rs in rules.items():
        for rule in rs:
            obs = [
                o for c, o in observations if c.drill == drill and c.group == group and o.rule == rule.rule
            ]
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
            if rule.continuous:
                _event_panel(a1, a2, rule, obs)
            else:
                _scatter(a1, rule, obs)
                _agreement(a2, rule, obs)
            if not any(o.judged for o in obs):  # an empty picture says why, not just blank axes
                for ax in (a1, a2):
                    ax.text(
                        0.5,
                        0.3,
                        f"no {rule.family} of this rule was judged against a true value\n"
                        "(see the table: no true value, not detected, or not judged)",
                        transform=ax.transAxes,
                        ha="center",
                        va="center",
                        fontsize=9,
                        color="#862e9c",
                        bbox={"facecolor": "white", "edgecolor": "#862e9c", "alpha": 0.95},
                    )
            fig.suptitle(
                f"{drill} / {rule.rule}  ({group} group, both kits: "
                f"{len([o for o in obs if not o.spurious])} {'event' if rule.continuous else rule.family}s)"
            )
            fig.tight_layout()
            path = out / f"{drill}__{rule.rule}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            files.append(path)
    return files


def _event_panel(a1: object, a2: object, rule: RuleView, obs: Sequence[Observation]) -> None:
    """A continuous rule: detection time error and latency per true event."""
    import matplotlib.axes
    import matplotlib.ticker

    assert isinstance(a1, matplotlib.axes.Axes) and isinstance(a2, matplotlib.axes.Axes)
    hit = [o for o in obs if not o.spurious and o.verdict != "missing"]
    miss = [o for o in obs if not o.spurious and o.verdict == "missing"]
    false = [o for o in obs if o.spurious]
    a1.bar(
        ["detected", "missed", "false alarms"],
        [len(hit), len(miss), len(false)],
        color=["#2b8a3e", "#f08c00", "#c92a2a"],
    )
    a1.set_title(f"true {_words(rule.quantity)} events: detected, missed; false alarms", fontsize=9)
    a1.set_ylabel("events (count)")
    a1.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    lat = [o.latency * 1e3 for o in hit if math.isfinite(o.latency)]
    top = max(200.0, *lat) if lat else 200.0
    if lat:
        a2.hist(lat, bins=np.arange(min(0.0, *lat) // 10 * 10, top + 10.0, 10.0), color="#495057")
    a2.axvline(100.0, color="#1c7ed6", lw=1.2, ls="--", label="100 ms target (median)")
    a2.set_xlabel("detection latency after the true event (ms)")
    a2.set_ylabel("events (count)")
    a2.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    a2.set_title(f"detection latency ({len(lat)} detected events)", fontsize=9)
    a2.legend(fontsize=7)
