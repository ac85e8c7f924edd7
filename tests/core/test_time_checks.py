"""Valid time (issue 8, point 3): blocks, sources and time-based processors reject time that is not
finite or goes back, with a named error or event (Block used to accept NaN, decreasing and string
times; JointAngle given backwards times returned NaN silently)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.core.test_engine import ListSource

from nmre import Block, Channel, StreamInfo, StreamKind
from nmre.dsp import JointAngle, Rectifier
from nmre.engine import Engine
from nmre.engine.nodes import ProcessorNode
from nmre.errors import TimeError
from nmre.feedback.sinks import MemorySink


@pytest.mark.parametrize(
    ("times", "needle"),
    [
        (np.array([0.0, np.nan, 0.2]), "finite time"),
        (np.array([0.0, np.inf, 0.2]), "finite time"),
        (np.array([0.0, 0.2, 0.1]), "must not decrease"),
        (np.array(["0.0", "0.1", "0.2"]), "numbers"),
        (np.array([0, 1, 2], dtype=object), "numbers"),
    ],
)
def test_block_rejects_times_that_are_not_finite_increasing_numbers(times, needle):
    with pytest.raises(TimeError, match=needle):
        Block("s", times, np.zeros((1, 3)))


def test_joint_angle_given_times_that_go_back_says_so():
    q = np.vstack([np.ones(5), np.zeros((3, 5))])
    ja = JointAngle("p", "d")
    ja.process(Block("p", np.arange(5) / 100.0, q))
    ja.process(Block("d", np.arange(5) / 100.0, q))
    with pytest.raises(TimeError, match="must not go back"):
        ja.process(Block("d", np.arange(5) / 100.0, q))  # the same times again
    with pytest.raises(TimeError, match="must not go back"):
        ja.process(Block("p", np.arange(5) / 100.0 - 0.01, q))


def test_a_source_block_that_goes_back_is_left_out_with_a_time_error_event():
    info = StreamInfo("x", StreamKind.EMG, (Channel("a", "mV"),), 100.0)
    t = np.arange(30) / 100.0
    blocks = [
        Block("x", t[0:10], np.ones((1, 10)), 0, arrival=0.1),
        Block("x", t[5:15], np.full((1, 10), 2.0), 5, arrival=0.2),  # starts before the previous block's end
        Block("x", t[10:20], np.full((1, 10), 3.0), 10, arrival=0.3),
    ]
    got = []

    class Keep(Rectifier):
        def process(self, block):
            got.append(block.values.copy())
            return super().process(block)

    sink = MemorySink()
    Engine([ListSource(info, blocks)], [ProcessorNode(Keep(1), "x", "y")], [sink]).run()
    errors = [e for e in sink.events if e.kind == "stream.time_error"]
    assert (
        len(errors) == 1 and errors[0].payload["first"] == t[5] and errors[0].payload["previous_last"] == t[9]
    )
    assert "time must not go back" in errors[0].therapist_message
    assert [v[0, 0] for v in got] == [1.0, 3.0]  # the block that went back never reached a node
