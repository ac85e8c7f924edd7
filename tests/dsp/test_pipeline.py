"""Pipeline: a chain of processors is itself a processor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmre.core.interfaces import Processor
from nmre.core.model import Block, Channel, StreamInfo, StreamKind
from nmre.dsp.emg import LinearEnvelope, OnsetDetector
from nmre.dsp.filters import SosFilter
from nmre.dsp.guard import Guard
from nmre.dsp.pipeline import Pipeline
from nmre.errors import ConfigError

FS = 1000.0


def _stages() -> list[Processor]:
    return [
        Guard(2, full_scale=8.0),
        SosFilter.bandpass(20, 450, FS, 2),
        LinearEnvelope(2, FS, cutoff=20.0),
        OnsetDetector(2, FS, baseline=(0.05, 0.02)),
    ]


def _signal(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2000)) * (0.05 + (np.arange(2000) % 800 > 400))
    x[0, 50:55] = np.nan
    x[1, 900] = 9.0
    return x


def test_pipeline_equals_stages_called_in_turn() -> None:
    x = _signal(0)
    b = Block("s", np.arange(2000) / FS, x)
    manual = _stages()
    y = b
    for s in manual:
        y = s.process(y)
    pipe = Pipeline(_stages())
    out = pipe.process(b)
    assert np.array_equal(out.values, y.values) and np.array_equal(out.times, b.times)
    want = [e.to_dict() for s in manual for e in s.pop_events()]
    got = [e.to_dict() for e in pipe.pop_events()]
    assert got == want and {e["kind"] for e in got} == {"signal.bad", "emg.onset", "emg.offset"}
    assert pipe.pop_events() == []


def test_reset_resets_every_stage() -> None:
    b = Block("s", np.arange(2000) / FS, _signal(1))
    pipe = Pipeline(_stages())
    first = pipe.process(b).values
    pipe.process(b)
    pipe.reset()
    assert np.array_equal(pipe.process(b).values, first)


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(0, 120), max_size=25), seed=st.integers(0, 1000))
def test_streaming_equals_batch(feed, sizes: list[int], seed: int) -> None:  # type: ignore[no-untyped-def]
    x = _signal(seed)
    pipe = Pipeline(_stages())
    whole = pipe.process(Block("s", np.arange(2000) / FS, x)).values
    onsets = [e.time for e in pipe.pop_events() if e.kind.startswith("emg.")]
    pipe.reset()
    parts = feed(pipe, x, sizes)
    assert np.array_equal(np.concatenate([p.values for p in parts], axis=1), whole)
    assert [e.time for e in pipe.pop_events() if e.kind.startswith("emg.")] == onsets


def test_output_info_chains_and_empty_pipeline_passes_through() -> None:
    info = StreamInfo("emg", StreamKind.EMG, (Channel("a", "mV"), Channel("b", "mV")), FS)
    out = Pipeline([SosFilter.bandpass(20, 450, FS, 2), LinearEnvelope(2, FS)]).output_info(info)
    assert out.kind is StreamKind.ENVELOPE and out.id == "emg.envelope"
    b = Block("s", np.arange(3) / FS, np.ones((1, 3)))
    empty = Pipeline([])
    assert empty.process(b) is b and empty.output_info(info) is info and len(empty) == 0
    assert repr(Pipeline(_stages())) == "Pipeline([Guard, SosFilter, LinearEnvelope, OnsetDetector])"


def test_non_processor_stage_rejected() -> None:
    with pytest.raises(ConfigError, match="expected a Processor at pipeline stage 1"):
        Pipeline([Guard(1), lambda b: b])  # type: ignore[list-item]
