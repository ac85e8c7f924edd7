"""nmre.sim: a seeded, physically consistent simulator of one subject (body, IMUs, EMG).

The simulator is a real backend, not a mock: :class:`SimSource` implements
:class:`nmre.core.Source` and is what the demo and the tests run on.

>>> cfg = SquatConfig(reps=10, errors={2: {"shallow_squat": 58.0}, 5: ("knee_valgus",)})
>>> sim = simulate(cfg, seed=1, kit="minimal")                 # doctest: +SKIP
>>> sim.truth.reps[2].quantities["knee_flexion_peak"]          # doctest: +SKIP
58.0

``MOVEMENTS`` maps every movement name to its configuration class; the names of
true quantities and error labels are in :mod:`nmre.sim.catalogue`; what each
quantity means exactly is in ``docs/simulator.md``.
"""

from nmre.sim.body import Anthropometry
from nmre.sim.catalogue import ERRORS, QUANTITIES, ErrorSpec, Quantity
from nmre.sim.config import MovementConfig, TimedError
from nmre.sim.emg import EmgModel
from nmre.sim.imu import GRAVITY, ImuErrors
from nmre.sim.kit import KIT_NAMES, Sensor
from nmre.sim.movements import MOVEMENTS
from nmre.sim.movements.squat import SQUAT_ERRORS, SquatConfig
from nmre.sim.movements.stance import (
    CONDITIONS,
    STANCE_ERRORS,
    QuietStanceConfig,
    SingleLegStanceConfig,
    TandemStanceConfig,
)
from nmre.sim.simulation import EMG_STREAM, IMU_STREAMS, Simulation, simulate, squat_set
from nmre.sim.source import SimSource, SourceState
from nmre.sim.subject import Subject
from nmre.sim.truth import Episode, GroundTruth, RepTruth, TruthRecord, WindowTruth

#: The first stance configuration's name (single-leg stance on the right leg).
StanceConfig = SingleLegStanceConfig
#: The squat's leg muscles, in the row order of the first squat kit's EMG stream.
MUSCLES: tuple[str, ...] = ("vmo", "vl", "bf", "gmed")
#: Every error label the simulator knows.
ERROR_KINDS: tuple[str, ...] = tuple(ERRORS)

__all__ = [
    "CONDITIONS",
    "EMG_STREAM",
    "ERRORS",
    "ERROR_KINDS",
    "GRAVITY",
    "IMU_STREAMS",
    "KIT_NAMES",
    "MOVEMENTS",
    "MUSCLES",
    "QUANTITIES",
    "SQUAT_ERRORS",
    "STANCE_ERRORS",
    "Anthropometry",
    "EmgModel",
    "Episode",
    "ErrorSpec",
    "GroundTruth",
    "ImuErrors",
    "MovementConfig",
    "Quantity",
    "QuietStanceConfig",
    "RepTruth",
    "Sensor",
    "SimSource",
    "Simulation",
    "SingleLegStanceConfig",
    "SourceState",
    "SquatConfig",
    "StanceConfig",
    "Subject",
    "TandemStanceConfig",
    "TimedError",
    "TruthRecord",
    "WindowTruth",
    "simulate",
    "squat_set",
]
