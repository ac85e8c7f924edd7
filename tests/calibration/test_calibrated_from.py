"""CalibratedFrom: a processor takes the neutral pose's calibration from the pose's sample time, in any blocks."""

from __future__ import annotations

import numpy as np
import pytest

from nmre.calibration import CalibratedFrom, StepState
from nmre.core.model import Block
from nmre.engine.nodes import Node


class _Offset(Node):
    """Gives each input sample's value plus its current calibration (0 until calibrated)."""

    def __init__(self) -> None:
        self.inputs, self.name, self.offset = ("s",), "offset", 0.0

    def bind(self, infos):  # type: ignore[no-untyped-def]
        return []

    def push(self, block: Block) -> list[Block]:
        return [Block("out", block.times, block.values + self.offset)]


class _Step:
    """A stand-in for the neutral-pose step: finished once told so."""

    def __init__(self) -> None:
        self.state = StepState.WAITING

    @property
    def finished(self) -> bool:
        return self.state is not StepState.WAITING


class _Cal(dict):  # type: ignore[type-arg]
    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at


def _run(block_seconds: float, fail: bool = False) -> np.ndarray:
    inner = _Offset()
    node = CalibratedFrom(inner, lambda cal: setattr(inner, "offset", 100.0))
    node.step = _Step()
    fs, at, n = 100.0, 1.3, 400
    t = np.arange(n) / fs
    k = round(block_seconds * fs)
    out = []
    for j in range(0, n, k):
        out += node.push(Block("s", t[j : j + k], np.zeros((1, t[j : j + k].shape[0]))))
        if node.step.state is StepState.WAITING and t[min(j + k, n) - 1] >= at:
            # the step finishes while this block is processed (after the node saw it), at sample time `at`
            node.step.state = StepState.FAILED if fail else StepState.DONE
            if not fail:
                node.calibrate(_Cal(at))
    node.finish(t[-1])
    assert node.route() is inner  # once through, the engine pushes to the node itself
    times = np.concatenate([b.times for b in out])
    assert np.array_equal(times, t)  # every sample once, in order
    return np.concatenate([b.values[0] for b in out])


@pytest.mark.parametrize("block_seconds", [0.02, 0.1, 0.77, 3.0])
def test_the_calibration_starts_after_the_pose_time_in_any_blocks(block_seconds: float) -> None:
    v = _run(block_seconds)
    t = np.arange(400) / 100.0
    assert np.array_equal(v, np.where(t > 1.3, 100.0, 0.0))


def test_a_failed_step_lets_the_held_samples_go_on_as_they_were() -> None:
    assert not _run(0.5, fail=True).any()


def test_without_a_step_nothing_is_held() -> None:
    inner = _Offset()
    node = CalibratedFrom(inner, lambda cal: None)
    assert node.route() is inner
    assert node.push(Block("s", np.array([0.0]), np.zeros((1, 1))))[0].times.tolist() == [0.0]
