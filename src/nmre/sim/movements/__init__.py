"""Every movement the simulator performs: ``MOVEMENTS`` maps a movement name to its configuration class."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nmre.errors import ConfigError, expected
from nmre.sim.config import MovementConfig
from nmre.sim.movements.arm import PnfConfig, PnfMovement, ScaptionConfig, ScaptionMovement
from nmre.sim.movements.base import Movement
from nmre.sim.movements.contraction import ContractionConfig, ContractionMovement
from nmre.sim.movements.los import LosConfig, LosMovement
from nmre.sim.movements.lunge import LungeConfig, LungeMovement
from nmre.sim.movements.single_joint import (
    HipAbductionConfig,
    HipAbductionMovement,
    KneeExtensionConfig,
    KneeExtensionMovement,
    KneeFlexionConfig,
    KneeFlexionMovement,
)
from nmre.sim.movements.squat import SquatConfig, SquatMovement
from nmre.sim.movements.stance import (
    QuietStanceConfig,
    SingleLegStanceConfig,
    StanceMovement,
    TandemStanceConfig,
)
from nmre.sim.movements.transfer import SitToStandConfig, SitToStandMovement

__all__ = ["MOVEMENTS", "Movement", "movement_class"]

_MOVEMENT_OF: dict[type[MovementConfig], type[Movement]] = {
    SquatConfig: SquatMovement,
    KneeExtensionConfig: KneeExtensionMovement,
    KneeFlexionConfig: KneeFlexionMovement,
    HipAbductionConfig: HipAbductionMovement,
    SitToStandConfig: SitToStandMovement,
    ContractionConfig: ContractionMovement,
    LungeConfig: LungeMovement,
    ScaptionConfig: ScaptionMovement,
    PnfConfig: PnfMovement,
    LosConfig: LosMovement,
    QuietStanceConfig: StanceMovement,
    TandemStanceConfig: StanceMovement,
    SingleLegStanceConfig: StanceMovement,
}

#: Movement name → configuration class.
MOVEMENTS: Mapping[str, type[MovementConfig]] = MappingProxyType({c.movement: c for c in _MOVEMENT_OF})


def movement_class(config: MovementConfig) -> type[Movement]:
    """The :class:`Movement` that performs ``config``."""
    for cls in type(config).__mro__:
        got = _MOVEMENT_OF.get(cls)  # type: ignore[arg-type]
        if got is not None:
            return got
    raise ConfigError(
        "simulate: " + expected("a configuration of " + ", ".join(MOVEMENTS), type(config).__name__)
    )
