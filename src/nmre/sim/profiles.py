"""Smooth time profiles the movements are made of: minimum-jerk phases, bursts, postural sway.

Movement phases use minimum-jerk profiles (Flash & Hogan, J Neurosci 5:1688,
1985), so velocities and accelerations are continuous. Postural sway is a sum of
sinusoids with random phases spread over 0.1–1.5 Hz, displacement amplitude
falling as 1/f, scaled to a target horizontal acceleration RMS of the pelvis
(e.g. Mancini et al., J NeuroEng Rehabil 9:59, 2012). Every profile is a pure
function of time, so any stretch of a session can be generated on its own.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["PELVIS_HEIGHT", "Sway", "burst", "min_jerk", "pre_activity", "ramp_window"]

F64 = NDArray[np.float64]

#: Height of the pelvis sensor above the ankles in standing, m (scales sway angles to accelerations).
PELVIS_HEIGHT = 0.95
_SWAY_BANDS = 20  # sinusoids per sway direction


def min_jerk(tau: F64) -> F64:
    """Minimum-jerk position profile 0 → 1 for normalised time ``tau`` (clipped to [0, 1])."""
    x = np.clip(tau, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def ramp_window(t: F64, start: float, end: float, ramp: float) -> F64:
    """Smooth 0 → 1 → 0 window over [start, end] with minimum-jerk ramps of ``ramp`` s."""
    r = min(ramp, 0.5 * (end - start))
    return min_jerk((t - start) / r) * (1.0 - min_jerk((t - (end - r)) / r))


def burst(
    t: F64, onset: F64 | float, offset: F64 | float, level: F64 | float, rise: float, fall: float
) -> F64:
    """A muscle burst (activation, fraction of maximal): onset, plateau, release.

    From ``onset`` the activation rises to ``level`` in ``rise`` s (minimum jerk);
    from ``offset`` it falls back to 0 in ``fall`` s. The *onset* of the burst is
    ``onset``: where the steep rise starts.
    """
    return np.asarray(level) * min_jerk((t - onset) / rise) * (1.0 - min_jerk((t - offset) / fall))


def pre_activity(
    t: F64, onset: F64 | float, offset: F64 | float, fall: float, level: float, lead: float
) -> F64:
    """Low-level pre-activity: ``level`` reached over the ``lead`` s before a burst ``onset``, held, then released with it."""
    if level <= 0.0 or lead <= 0.0:
        return np.zeros_like(t)
    return level * min_jerk((t - (np.asarray(onset) - lead)) / lead) * (1.0 - min_jerk((t - offset) / fall))


class Sway:
    """Band-limited postural sway angles (rad) about the ankles: a seeded sum of sinusoids.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the frequencies and phases.
    acc_rms : float
        Horizontal RMS of the pelvis' linear acceleration at amplitude factor 1, m/s^2.
    ml_share : float
        Share of the horizontal variance that is medio-lateral.
    """

    def __init__(self, rng: np.random.Generator, acc_rms: float, ml_share: float = 0.55) -> None:
        edges = np.geomspace(0.1, 1.5, _SWAY_BANDS + 1)
        # one frequency per log band, two directions (AP, ML)
        self.freq = edges[:-1] * (edges[1:] / edges[:-1]) ** rng.uniform(0.0, 1.0, (2, _SWAY_BANDS))
        self.phase = rng.uniform(0.0, 2 * np.pi, (2, _SWAY_BANDS))
        amp = 1.0 / self.freq  # displacement ~ 1/f
        omega2 = (2 * np.pi * self.freq) ** 2
        per_axis = np.sqrt(0.5 * np.sum((amp * omega2) ** 2, axis=1))  # acc RMS per unit scale, m/s^2 per m
        share = np.array([1.0 - ml_share, ml_share])  # AP, ML share of the horizontal variance
        self.amp = amp * (acc_rms * np.sqrt(share) / per_axis)[:, None] / PELVIS_HEIGHT

    def angles(self, t: F64) -> F64:
        """Sway angles (2, n): AP (about y, forward positive) and ML (about x), radians."""
        arg = 2 * np.pi * self.freq[:, :, None] * t[None, None, :] + self.phase[:, :, None]
        return np.einsum("db,dbn->dn", self.amp, np.sin(arg))
