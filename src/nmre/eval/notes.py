"""Why a target is missed, where the cause is known: printed under the table next to the miss.

These are findings about detectors (reported to their owners in
/work/coord/notes/eval-findings.md), not excuses: a miss stays a miss until the
detector is fixed. Keyed by (drill, rule, target); ``*`` matches any.
"""

from __future__ import annotations

__all__ = ["MISS_NOTES", "miss_note"]

MISS_NOTES: dict[tuple[str, str, str], str] = {
    ("squat", "knee_valgus", "*"): (
        "a sensor strapped rotated about the segment's long axis leaks knee flexion into the "
        "frontal plane (~sin(rotation) x flexion); the neutral-pose calibration corrects tilt only; "
        "the functional long-axis calibration of issue 7.6 is what removes it"
    ),
    ("stance", "sway", "wrong"): (
        "when the first windows are not judged (loss), the sway rule takes its baseline from later windows "
        "(here an episode of excessive sway), so its envelope is too wide and excessive sway is praised"
    ),
}


def miss_note(drill: str, rule: str, target: str) -> str | None:
    """The known cause of a miss, if one is written down."""
    for key in ((drill, rule, target), (drill, rule, "*"), (drill, "*", target)):
        if key in MISS_NOTES:
            return MISS_NOTES[key]
    return None
