import time

import numpy as np
import pytest

from nmre import Block, Channel, Event, RealClock, Source, StreamInfo, StreamKind
from nmre.engine import Engine, Node
from nmre.engine.nodes import ProcessorNode
from nmre.errors import ConfigError, StateError
from nmre.feedback.schedule import Bandwidth
from nmre.feedback.sinks import MemorySink
from nmre.rules import BandRule, Episodes, Messages


def RepBandRule(
    rid, stream, channel, *, lo=None, hi=None, reps_from, label, below="A little more", good="Good"
):
    """A per-rep band on one channel (the rule kind ``band`` of nmre.rules)."""
    return BandRule(
        rid,
        stream=stream,
        channel=channel,
        lo=lo,
        hi=hi,
        quantity="knee_flexion_peak",
        unit="deg",
        episodes=Episodes.reps(reps_from),
        messages=Messages(label=label, below=below, good=good),
    )


class ListSource(Source):
    """A scheduled test source: a fixed list of blocks served at their arrival times."""

    def __init__(self, info, blocks):
        self._info, self._blocks, self._i = info, blocks, 0

    @property
    def streams(self):
        return [self._info]

    def start(self, clock):
        self.started = True

    def poll(self, now):
        out = []
        while self._i < len(self._blocks) and self._blocks[self._i].arrival <= now:
            out.append(self._blocks[self._i])
            self._i += 1
        return out

    def next_arrival(self):
        return self._blocks[self._i].arrival if self._i < len(self._blocks) else None

    @property
    def finished(self):
        return self._i >= len(self._blocks)


def angle_source(peaks=(90.0, 50.0, 95.0), rate=100.0, block=5, latency=0.02):
    """A knee-angle-like stream: one half-sine rep per peak, 1 s rest between reps."""
    x_parts, t0 = [], 0.0
    for p in peaks:
        rest = np.zeros(int(rate))
        rep = p * np.sin(np.linspace(0, np.pi, int(2 * rate)))
        x_parts += [rest, rep]
    x = np.concatenate([*x_parts, np.zeros(int(rate))])
    t = np.arange(x.size) / rate + t0
    info = StreamInfo("angle", StreamKind.ANGLE, (Channel("flexion", "deg"),), rate)
    blocks = [
        Block(
            "angle",
            t[i : i + block],
            x[None, i : i + block].copy(),
            seq=i,
            arrival=t[min(i + block, x.size) - 1] + latency,
        )
        for i in range(0, x.size, block)
    ]
    return info, blocks


class Threshold(Node):
    """A minimal rep segmenter for engine tests: rep while the signal is above 10."""

    name = "reps"

    def __init__(self):
        self.inputs = ("angle",)
        self.reset()

    def bind(self, infos):
        return []

    def reset(self):
        self.active, self.n, self.ev = False, 0, []

    def push(self, block):
        for t, v in zip(block.times, block.values[0], strict=True):
            if not self.active and v > 10:
                self.active = True
                self.ev.append(Event(t, "rep.start", self.name, {"rep": self.n}))
            elif self.active and v < 5:
                self.active = False
                self.ev.append(Event(t, "rep.end", self.name, {"rep": self.n}))
                self.n += 1
        return []

    def pop_events(self):
        out, self.ev = self.ev, []
        return out


class Scale:
    def __init__(self, k):
        self.k = k

    def process(self, block):
        return Block(
            block.stream, block.times, block.values * self.k, block.seq, block.missing_before, block.arrival
        )

    def reset(self):
        pass

    def output_info(self, info):
        return info

    def pop_events(self):
        return []


def make_engine(schedule=None, clock=None, peaks=(90.0, 50.0, 95.0)):
    info, blocks = angle_source(peaks)
    sink = MemorySink(keep_blocks=True)
    rule = RepBandRule(
        "squat_depth",
        "angle",
        "flexion",
        lo=80,
        hi=110,
        reps_from="reps",
        label="peak knee flexion",
        below="Go a little deeper",
        good="Good depth",
    )
    nodes = [Threshold(), rule, ProcessorNode(Scale(2.0), "angle", "angle.x2")]
    return Engine([ListSource(info, blocks)], nodes, [sink], clock=clock, schedule=schedule), sink


def test_engine_runs_a_rule_end_to_end_and_releases_cues():
    eng, sink = make_engine()
    stats = eng.run()
    outcomes = [e for e in sink.events if e.kind == "rule.squat_depth"]
    assert [e.payload["ok"] for e in outcomes] == [True, False, True]
    assert outcomes[1].patient_message == "Go a little deeper"
    assert outcomes[1].payload["value"] == pytest.approx(50.0, abs=0.1)
    cues = [e for e in sink.events if e.kind == "feedback.cue"]
    assert [c.patient_message for c in cues] == ["Good depth", "Go a little deeper", "Good depth"]
    # every event is stamped with when it was detected, never before it happened
    assert all(e.detected_at >= e.time for e in sink.events)
    assert stats.blocks == len(angle_source()[1]) and stats.samples == 1000
    assert stats.detection.n == len(sink.events) and stats.transport.max == pytest.approx(0.02)
    # detection latency: every event here is decided on the block that holds the sample it names, so its
    # latency is that block's arrival minus the sample's time (the source's own figures: a wrong sign or a
    # clamp to 0 fails)
    _, source_blocks = angle_source()
    oracle = [next(b.arrival for b in source_blocks if e.time in b.times) - e.time for e in sink.events]
    assert min(oracle) >= 0.02  # the transport latency at least
    assert stats.detection.total == pytest.approx(sum(oracle))
    assert stats.detection.max == pytest.approx(max(oracle))
    assert stats.detection.percentile(50) >= 0.02
    # derived stream emitted and recorded
    x2 = [b for b in sink.blocks if b.stream == "angle.x2"]
    assert np.concatenate([b.values[0] for b in x2]).max() == pytest.approx(2 * 95.0, rel=1e-3)
    assert eng.feedback.signals["peak knee flexion"].lo == 80


def test_bandwidth_schedule_is_silent_inside_the_tolerance():
    eng, sink = make_engine(schedule=Bandwidth())
    eng.run()
    assert [c.patient_message for c in sink.events if c.kind == "feedback.cue"] == ["Go a little deeper"]


def test_virtual_runs_are_deterministic():
    outs = []
    for _ in range(2):
        eng, sink = make_engine()
        eng.run()
        outs.append("\n".join(e.to_json() for e in sink.events))
    assert outs[0] == outs[1] and outs[0]


def test_run_until_stops_early_and_engine_cannot_run_twice():
    eng, sink = make_engine()
    eng.run(until=3.5)  # inside the first rep's end
    assert eng.clock.now() == 3.5
    assert [e.kind for e in sink.events if e.kind.startswith("rule.")] == ["rule.squat_depth"]
    with pytest.raises(StateError, match="'stopped'"):
        eng.run()


def test_real_clock_paces_to_wall_time():
    info, blocks = angle_source(peaks=())  # 1 s of rest; serve only the first 0.2 s
    blocks = [b for b in blocks if b.arrival <= 0.2]
    t0 = time.perf_counter()  # before the clock exists: its session time starts when it is made or run
    eng = Engine([ListSource(info, blocks)], clock=RealClock())
    eng.run()
    assert time.perf_counter() - t0 >= blocks[-1].arrival - 1e-3  # cannot finish before the data arrived


def test_wiring_errors_name_the_problem():
    info, blocks = angle_source()
    with pytest.raises(ConfigError, match="known streams are: angle"):
        Engine([ListSource(info, blocks)], [ProcessorNode(Scale(1), "nope", "out")])
    with pytest.raises(ConfigError, match="produced twice"):
        Engine([ListSource(info, blocks), ListSource(info, blocks)])
    with pytest.raises(ConfigError, match="channel of 'angle'"):
        RepBandRule("d", "angle", "bogus", lo=1, reps_from="reps", label="x").bind({"angle": info})
    with pytest.raises(ConfigError, match="lo <= hi"):
        RepBandRule("d", "angle", "flexion", lo=5, hi=1, reps_from="reps", label="x")
    with pytest.raises(ConfigError, match="at least one source"):
        Engine([])


class Fussy:
    """Refuses every block whose first value is negative, like a processor given bad input."""

    def process(self, block):
        from nmre.errors import InputError

        if block.values[0, 0] < 0:
            raise InputError("expected non-negative values, got a negative one")
        return block

    def reset(self):
        pass

    def output_info(self, info):
        return info

    def pop_events(self):
        return []


def test_a_node_refusing_bad_input_is_reported_and_the_session_goes_on():
    info, blocks = angle_source(peaks=(90.0,))
    bad = [
        Block(b.stream, b.times, -np.ones_like(b.values), b.seq, 0, b.arrival) if 20 <= i < 40 else b
        for i, b in enumerate(blocks)
    ]
    sink = MemorySink(keep_blocks=True)
    eng = Engine([ListSource(info, bad)], [ProcessorNode(Fussy(), "angle", "out")], [sink])
    eng.run()
    errors = [e for e in sink.events if e.kind == "engine.node_error"]
    assert len(errors) == 1 and errors[0].payload["count"] == 1  # 20 refusals within 1 s: one event
    assert "expected non-negative values" in errors[0].therapist_message
    out = [b for b in sink.blocks if b.stream == "out"]
    assert len(out) == len(blocks) - 20  # every other block still processed


def test_json_lines_sink_writes_a_file_the_engine_opens_and_closes(tmp_path):
    import json

    from nmre.feedback.sinks import JsonLinesSink

    info, blocks = angle_source(peaks=(50.0,))
    path = tmp_path / "events.jsonl"
    rule = RepBandRule("squat_depth", "angle", "flexion", lo=80, reps_from="reps", label="depth")
    sink = JsonLinesSink(path)
    Engine([ListSource(info, blocks)], [Threshold(), rule], [sink]).run()
    assert sink.out is None  # closed by the engine at the end of the session
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["rep.start", "rep.end", "rule.squat_depth", "feedback.cue"]  # causes before effects


def test_every_sink_is_closed_and_sources_stopped_even_when_one_fails():
    from nmre.feedback.sinks import MemorySink as Mem

    class Closes(Mem):
        closed = False

        def close(self):
            self.closed = True

    class Breaks(Mem):
        def close(self):
            raise OSError("disk full")

    info, blocks = angle_source(peaks=(50.0,))
    src = ListSource(info, blocks)
    stopped = []
    src.stop = lambda: stopped.append(True)
    first, last = Closes(), Closes()
    with pytest.raises(OSError, match="disk full"):
        Engine([src], [], [first, Breaks(), last]).run()
    assert first.closed and last.closed and stopped == [True]


def test_an_error_in_the_session_is_reported_not_masked_by_shutdown():
    info, blocks = angle_source(peaks=(50.0,))

    class Bug:
        def process(self, block):
            raise ZeroDivisionError("a bug, not bad input")

        def reset(self):
            pass

        def output_info(self, info):
            return info

        def pop_events(self):
            return []

    with pytest.raises(ZeroDivisionError):  # bugs propagate; only NmreError is bad input
        Engine([ListSource(info, blocks)], [ProcessorNode(Bug(), "angle", "out")], [MemorySink()]).run()


class Once(Node):
    """Counts the blocks it is pushed; after the first rep it is done (``route`` None) and says so."""

    name = "once"

    def __init__(self):
        self.inputs = ("angle",)
        self.pushed, self.done, self.ev = 0, False, []

    def bind(self, infos):
        return []

    def push(self, block):
        self.pushed += 1
        return []

    def on_event(self, event):
        if event.kind == "rep.end" and not self.done:
            self.done = True
            self.ev.append(Event(event.time, "once.done", self.name, {}))

    def pop_events(self):
        out, self.ev = self.ev, []
        return out

    def route(self):
        return None if self.done and not self.ev else self


class Forward(Node):
    """A wrapper that forwards to ``node`` and, once ``open`` (after the first rep.start), routes to it."""

    def __init__(self, node):
        self.node, self.inputs, self.name, self.open, self.calls = node, node.inputs, node.name, False, 0

    def bind(self, infos):
        return self.node.bind(infos)

    def push(self, block):
        self.calls += 1
        return self.node.push(block)

    def on_event(self, event):
        self.open = self.open or event.kind == "rep.start"
        self.node.on_event(event)

    def pop_events(self):
        return self.node.pop_events()

    def route(self):
        return self.node.route() if self.open else self


class OncePlain(Once):
    route = Node.route


class ForwardPlain(Forward):
    route = Node.route


def test_a_node_routed_away_gets_no_more_blocks_and_the_events_stay_the_same():
    def run(routed):
        info, blocks = angle_source()
        once = Once() if routed else OncePlain()
        wrapped = (Forward if routed else ForwardPlain)(Threshold())
        engine = Engine([ListSource(info, blocks)], [once, wrapped])
        engine.run()
        return engine, once, wrapped, len(blocks)

    engine, once, wrapped, n = run(True)
    plain, once0, wrapped0, _ = run(False)
    assert [e.to_json() for e in engine.events] == [e.to_json() for e in plain.events]
    assert [e.kind for e in engine.events].count("once.done") == 1
    assert once0.pushed == n and 0 < once.pushed < n  # no block after the first rep's end
    assert wrapped0.calls == n and 0 < wrapped.calls < n  # the wrapper skipped once open


class Listens(Node):
    """Records the kinds of the events it is handed; takes only ``kinds`` (all when None)."""

    inputs = ()

    def __init__(self, name, kinds=None):
        self.name, self.kinds, self.seen = name, kinds, []

    def bind(self, infos):
        return []

    def push(self, block):
        return []

    def on_event(self, event):
        self.seen.append(event.kind)

    def takes_event(self, kind):
        return True if self.kinds is None else kind in self.kinds


def test_an_event_goes_only_to_the_nodes_that_take_its_kind():
    info, blocks = angle_source()
    picky, every = Listens("picky", {"rep.end"}), Listens("every")
    rule = RepBandRule("depth", "angle", "flexion", lo=80, hi=110, reps_from="reps", label="depth")
    engine = Engine([ListSource(info, blocks)], [Threshold(), rule, picky, every])
    engine.run()
    kinds = [e.kind for e in engine.events]
    assert kinds.count("rep.end") == 3 and "rule.depth" in kinds
    assert every.seen == kinds  # the default: every event, in order
    assert picky.seen == ["rep.end"] * 3
    assert (
        rule.takes_event("rep.start") and rule.takes_event("rep.end") and not rule.takes_event("rule.depth")
    )
    assert not Threshold().takes_event("rep.end")  # no on_event of its own: takes none
