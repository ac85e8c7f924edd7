"""nmre.sim: a seeded, physically consistent simulator of one subject (body, IMUs, EMG).

The simulator is a real backend, not a mock: :class:`SimSource` implements
:class:`nmre.core.Source` and is what the demo and the tests run on.

>>> cfg = SquatConfig(reps=10, errors={2: ("shallow_squat",)})
>>> sim = simulate(cfg, seed=1)                       # doctest: +SKIP
>>> sim.truth.reps[2].peak_knee_flexion_deg            # doctest: +SKIP
"""

from nmre.sim.body import Anthropometry
from nmre.sim.config import ERROR_KINDS, SQUAT_ERRORS, STANCE_ERRORS, SquatConfig, StanceConfig
from nmre.sim.emg import EmgModel
from nmre.sim.imu import GRAVITY, ImuErrors
from nmre.sim.scenario import MUSCLES
from nmre.sim.simulation import EMG_STREAM, IMU_STREAMS, Simulation, simulate, squat_set
from nmre.sim.source import SimSource, SourceState
from nmre.sim.truth import GroundTruth, RepTruth, WindowTruth

__all__ = [
    "EMG_STREAM",
    "ERROR_KINDS",
    "GRAVITY",
    "IMU_STREAMS",
    "MUSCLES",
    "SQUAT_ERRORS",
    "STANCE_ERRORS",
    "Anthropometry",
    "EmgModel",
    "GroundTruth",
    "ImuErrors",
    "RepTruth",
    "SimSource",
    "Simulation",
    "SourceState",
    "SquatConfig",
    "StanceConfig",
    "WindowTruth",
    "simulate",
    "squat_set",
]
