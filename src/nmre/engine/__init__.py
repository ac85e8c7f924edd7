"""The engine that wires sources → nodes → rules → feedback schedule → sinks on one clock."""

from nmre.engine.engine import Engine, EngineState, EngineStats
from nmre.engine.nodes import Node, ProcessorNode

__all__ = ["Engine", "EngineState", "EngineStats", "Node", "ProcessorNode"]
