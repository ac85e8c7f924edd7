"""Colours and type for both screens: the Okabe–Ito palette (safe for the common colour-vision deficiencies).

Okabe & Ito 2008, "Color Universal Design": eight colours distinguishable with
protanopia, deuteranopia and tritanopia. Meaning never rests on colour alone:
every in/out state also changes a shape or a word.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OKABE_ITO", "THERAPIST", "PatientTheme"]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",  # bluish green
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}


@dataclass(frozen=True)
class PatientTheme:
    """The patient screen: dark background, white type, zone in bluish green, out of zone in orange."""

    background: str = "#101418"
    panel: str = "#1E252C"
    text: str = "#FFFFFF"
    muted: str = "#9AA5B1"
    zone: str = OKABE_ITO["green"]
    good: str = OKABE_ITO["green"]
    out: str = OKABE_ITO["orange"]
    alert: str = OKABE_ITO["vermillion"]
    dot: str = OKABE_ITO["yellow"]
    target: str = OKABE_ITO["sky"]
    scale: float = 1.0  # the large-text option multiplies type sizes

    def large(self) -> PatientTheme:
        return PatientTheme(scale=1.35)


#: Therapist screen colours (light background for long use; traces in palette order).
THERAPIST = {
    "background": "#FFFFFF",
    "text": "#1A1A1A",
    "band": (0, 158, 115, 50),  # bluish green, translucent target band
    "band_edge": OKABE_ITO["green"],
    "traces": [
        OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky", "black", "yellow")
    ],
    "error": OKABE_ITO["vermillion"],
    "good": OKABE_ITO["green"],
    "unjudged": "#7F7F7F",
    "marker": OKABE_ITO["blue"],
    "warn": OKABE_ITO["orange"],
}
