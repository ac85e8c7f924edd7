"""BleSource (own loop, own thread), the outbox hand-off and the manager's policies."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from bumble.link import LocalLink

from nmre.acquisition.ble import (
    BleConfig,
    BleSession,
    BleSource,
    DeviceSpec,
    Outbox,
    ReconnectPolicy,
    SessionState,
)
from nmre.acquisition.profiles.nmre_profile import NmreProfile
from nmre.core.clock import RealClock
from nmre.core.model import Block, StreamKind
from nmre.errors import ConfigError, DeviceError, StateError
from nmre.sim.devices.nmre_device import NmreDevice

from .conftest import bumble_config

pytestmark = pytest.mark.timeout(60)


def block(stream: str, n: int, arrival: float) -> Block:
    return Block(stream, np.arange(n, dtype=np.float64), np.zeros((1, n)), 0, 0, arrival)


def test_outbox_overflow_drops_oldest_and_says_so() -> None:
    box = Outbox(3)
    for i in range(5):
        box.put_block(block("s", 2, float(i)))
    assert box.dropped_blocks == 2 and box.dropped_samples == 4
    assert [b.arrival for b in box.poll()] == [2.0, 3.0, 4.0]
    (event,) = box.poll_events()
    assert event.kind == "source.overflow"


def test_outbox_poll_respects_arrival_time() -> None:
    box = Outbox(10)
    for t in (0.1, 0.2, 0.3):
        box.put_block(block("s", 1, t))
    assert [b.arrival for b in box.poll(0.2)] == [0.1, 0.2]
    assert box.pending() == 1


def test_reconnect_backoff_is_bounded_and_jittered() -> None:
    policy = ReconnectPolicy(initial=0.1, factor=2.0, max_delay=1.0, jitter=0.2)
    rng = random.Random(0)
    delays = [policy.delay(n, rng) for n in range(1, 12)]
    assert 0.08 <= delays[0] <= 0.12
    assert all(d <= 1.2 for d in delays)
    assert 0.8 <= delays[-1] <= 1.2
    assert len(set(delays)) == len(delays)
    # a device that has failed thousands of times (hours of retrying) still gets a bounded delay
    assert 0.8 <= policy.delay(5000, rng) <= 1.2


def test_manager_configuration_errors() -> None:
    link = LocalLink()
    config = BleConfig(backend="bumble", bumble_link=link)
    with pytest.raises(ConfigError, match="1 to 4 devices"):
        BleSession([DeviceSpec("nmre", name=f"n{i}") for i in range(5)], config, time_fn=lambda: 0.0)
    with pytest.raises(ConfigError, match="kind"):
        BleSession([DeviceSpec("fitbit", name="x")], config, time_fn=lambda: 0.0)
    with pytest.raises(ConfigError, match="address or a name"):
        DeviceSpec("nmre")
    with pytest.raises(ConfigError, match="exactly one"):
        BleConfig(backend="bumble")


def test_ble_source_streams_from_its_own_thread() -> None:
    link = LocalLink()
    devices = [NmreDevice("nmre-0", link=link), NmreDevice("nmre-1", link=link)]
    specs = [DeviceSpec("nmre", address=devices[0].address, label="left"), DeviceSpec("nmre", name="nmre-1")]
    source = BleSource(specs, bumble_config(link, devices), start_timeout=30)
    assert [s.id for s in source.streams] == ["left.emg", "left.imu", "nmre-1.emg", "nmre-1.imu"]
    assert source.streams[0].kind is StreamKind.EMG
    clock = RealClock()
    engine_wake = threading.Event()
    source.wake = engine_wake  # what nmre.engine does before start()
    with source:
        source.start(clock)
        with pytest.raises(StateError, match="running"):
            source.start(clock)
        got: dict[str, int] = {}
        while len(got) < 4 or min(got.values()) < 100:
            assert engine_wake.wait(10), "no data within 10 s"
            engine_wake.clear()
            for b in source.poll(clock.now()):
                assert b.arrival <= clock.now()
                got[b.stream] = got.get(b.stream, 0) + b.n_samples
        events = source.poll_events()
        info = source.device_info()
        assert info["left"]["mtu"] == 247 and info["left"]["battery"] == devices[0].battery
        devices[1].battery = 42
        assert source.read_battery("nmre-1") == 42
    assert source.state is SessionState.STOPPED
    assert sorted(e.source for e in events if e.kind == "device.connect") == ["left", "nmre-1"]
    assert source.errors == {}


class ExplodingProfile(NmreProfile):
    """A profile with a bug: decoding raises something that is not a ProtocolError."""

    def decode(self, char_uuid, data):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug in a decoder")


def test_errors_in_the_ble_thread_reach_the_caller() -> None:
    link = LocalLink()
    devices = [NmreDevice("nmre-0", link=link)]
    source = BleSource(
        [DeviceSpec("nmre", name="nmre-0")],
        bumble_config(link, devices),
        profiles={"nmre": ExplodingProfile},
        start_timeout=30,
    )
    source.start(RealClock())
    try:
        with pytest.raises(DeviceError, match="bug in a decoder"):
            for _ in range(100):
                assert source.wake.wait(10), "neither data nor an error within 10 s"
                source.wake.clear()
                source.poll(1e9)
    finally:
        with pytest.raises(DeviceError, match="bug in a decoder"):
            source.stop()


def test_a_missing_device_does_not_hold_back_the_others() -> None:
    link = LocalLink()
    devices = [NmreDevice("nmre-0", link=link)]
    specs = [DeviceSpec("nmre", name="nmre-0"), DeviceSpec("nmre", name="absent")]
    source = BleSource(specs, bumble_config(link, devices, connect_timeout=0.3), start_timeout=0.5)
    source.start(RealClock())
    try:
        events = source.poll_events()
        waiting = [e for e in events if e.kind == "device.waiting"]
        assert waiting and waiting[0].payload["devices"] == ["absent"]
        assert source.device_info()["nmre-0"]["status"] == "streaming"
        assert source.wake.wait(10)
    finally:
        source.stop()


def test_engine_runs_on_ble_source() -> None:
    """The engine polls BleSource like any live source and sees every sample and the connect events."""
    from nmre.engine import Engine

    link = LocalLink()
    devices = [NmreDevice("nmre-0", link=link)]
    source = BleSource([DeviceSpec("nmre", name="nmre-0")], bumble_config(link, devices))
    engine = Engine([source], clock=RealClock())
    stats = engine.run(until=0.5)
    assert stats.samples > 0
    assert any(e.kind == "device.connect" for e in engine.events)
    assert source.state is SessionState.STOPPED


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_radio_is_a_clear_error() -> None:
    from nmre.acquisition.ble import scan

    config = BleConfig(backend="bumble", bumble_transport=f"tcp-client:127.0.0.1:{_closed_port()}")
    # the transport that cannot be opened is named, with what was expected there and the operating
    # system's reason
    with pytest.raises(
        DeviceError,
        match=r"cannot open the Bumble transport 'tcp-client:127\.0\.0\.1:\d+' \(expected a Bluetooth "
        r"controller at tcp-client:HOST:PORT\): .*(refused|failed)",
    ):
        scan(0.1, config)
    source = BleSource([DeviceSpec("nmre", name="nmre-0")], config)
    with pytest.raises(DeviceError, match=r"cannot open the Bumble transport|Bluetooth is not available"):
        source.start(RealClock())
