"""bleak's public API over the Bumble backend against emulated peripherals (no Bluetooth hardware)."""

from __future__ import annotations

import asyncio
from collections import Counter
from itertools import pairwise

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from nmre.acquisition.ble import BleConfig, scan_async
from nmre.acquisition.bumble_backend import BumbleCentral, BumbleClientBackend, BumbleScannerBackend
from nmre.acquisition.profiles.nmre_profile import CONTROL_POINT_UUID, INFO_UUID, SERVICE_UUID
from nmre.errors import ConfigError, StateError
from nmre.sim.devices import emulated_fleet
from nmre.sim.devices.base import AttRefusal, CharSpec, EmulatedDevice, FaultPlan, LinkTiming, ServiceSpec
from nmre.sim.devices.nmre_device import NmreDevice

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio, pytest.mark.looptime(noop_cycles=3)]

SVC = "6a1e0001-5e5b-4b4e-8f7e-2f1d3c4b5a69"
DATA = "6a1e0002-5e5b-4b4e-8f7e-2f1d3c4b5a69"
CMD = "6a1e0003-5e5b-4b4e-8f7e-2f1d3c4b5a69"
STATUS = "6a1e0004-5e5b-4b4e-8f7e-2f1d3c4b5a69"


class Probe(EmulatedDevice):
    """A test peripheral: CMD ``n`` queues ``n`` data packets; ``0xFF`` is refused with ATT 0x80."""

    kind = "probe"

    def __init__(self, name: str = "probe", **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.writes: list[bytes] = []

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SVC,
                (
                    CharSpec(DATA, "notify"),
                    CharSpec(CMD, "write,write_without_response", on_write=self._on_cmd),
                    CharSpec(STATUS, "read,indicate", b"idle"),
                ),
            )
        ]

    def _on_cmd(self, data: bytes) -> None:
        if data == b"\xff":
            raise AttRefusal(0x80, "refused on purpose")
        self.writes.append(data)
        for i in range(data[0]):
            self.send(DATA, bytes([i]) * 100, samples=1, seq=i)
        self.spawn(self.indicate(STATUS, b"busy"))


def bumble(central: BumbleCentral) -> dict[str, object]:
    return {"backend": BumbleClientBackend, "bumble_central": central}


async def test_scan_finds_every_family_with_its_kind(link) -> None:
    fleet = emulated_fleet(link)
    results = await scan_async(1.0, BleConfig(backend="bumble", bumble_link=link, emulated=fleet))
    by_address = {r.address: r for r in results}
    assert len(results) == len(fleet)
    for device in fleet:
        assert by_address[device.address].kind == device.kind
        assert by_address[device.address].rssi < 0
    nmre = [r for r in results if r.kind == "nmre"]
    assert {r.name for r in nmre} == {"nmre-L", "nmre-R"}
    assert all(SERVICE_UUID in r.service_uuids for r in nmre)


async def test_scanner_filters_on_service_uuid(link) -> None:
    async with NmreDevice("nmre-A", link=link), Probe(link=link), BumbleCentral(link=link) as central:
        seen = await BleakScanner.discover(
            timeout=0.5, service_uuids=[SVC], backend=BumbleScannerBackend, bumble_central=central
        )
    assert [d.name for d in seen] == ["probe"]


async def test_client_round_trip_through_public_bleak_api(link) -> None:
    disconnects: list[BleakClient] = []
    async with (
        Probe(link=link, timing=LinkTiming(interval=0.0075)) as probe,
        BumbleCentral(link=link) as central,
    ):
        device = await BleakScanner.find_device_by_name(
            "probe", timeout=2.0, backend=BumbleScannerBackend, bumble_central=central
        )
        assert device is not None
        async with BleakClient(device, disconnected_callback=disconnects.append, **bumble(central)) as client:
            assert client.backend_id == "BumbleClientBackend"
            assert client.mtu_size == 247  # requested on connect, like an OS stack
            uuids = {s.uuid for s in client.services}
            assert {SVC, "0000180f-0000-1000-8000-00805f9b34fb"} <= uuids
            props = client.services.get_characteristic(CMD).properties
            assert set(props) == {"write", "write-without-response"}
            assert client.services.get_characteristic(DATA).max_write_without_response_size == 244
            assert await client.read_gatt_char(STATUS) == b"idle"
            assert await client.read_gatt_char("2a19") == bytes([probe.battery])

            data: list[bytes] = []
            indications: list[bytes] = []
            await client.start_notify(DATA, lambda _c, b: data.append(bytes(b)))
            await client.start_notify(STATUS, lambda _c, b: indications.append(bytes(b)))
            await client.write_gatt_char(CMD, b"\x05", response=True)
            await client.write_gatt_char(CMD, b"\x03", response=False)
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(CMD, b"\xff", response=True)
            assert refused.value.args[0] == 0x80
            await asyncio.sleep(0.2)
            assert probe.writes == [b"\x05", b"\x03"]
            assert [len(d) for d in data] == [100] * 8  # 244-byte MTU: nothing truncated
            assert indications == [b"busy", b"busy"]

            await client.stop_notify(DATA)
            await client.write_gatt_char(CMD, b"\x02", response=True)
            await asyncio.sleep(0.2)
            assert len(data) == 8
        assert not client.is_connected
    assert disconnects == []  # a disconnect we asked for is not reported as unsolicited


async def test_peripheral_disconnect_fires_disconnected_callback(link) -> None:
    fired = asyncio.Event()
    async with Probe(link=link) as probe, BumbleCentral(link=link) as central:
        client = BleakClient(probe.address, disconnected_callback=lambda _c: fired.set(), **bumble(central))
        await client.connect()
        assert client.is_connected
        await probe.disconnect(0x13)
        await asyncio.wait_for(fired.wait(), 2.0)
        assert not client.is_connected
        await client.disconnect()  # harmless after the remote side left


async def test_connection_event_scheduler_paces_bursts(link) -> None:
    timing = LinkTiming(interval=0.02, max_packets=3)
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    async with (
        Probe(link=link, timing=timing) as probe,
        BumbleCentral(link=link) as central,
        BleakClient(probe.address, **bumble(central)) as client,
    ):
        await client.start_notify(DATA, lambda _c, _b: arrivals.append(loop.time()))
        await client.write_gatt_char(CMD, b"\x0c", response=True)
        await asyncio.sleep(0.5)
    assert len(arrivals) == 12
    bursts = Counter(round(t / 0.02) for t in arrivals)
    assert sorted(bursts.values()) == [3, 3, 3, 3]  # at most K per connection event
    events = sorted(bursts)
    assert [b - a for a, b in pairwise(events)] == [1, 1, 1]  # one event per interval


async def test_stall_holds_packets_then_releases_them(link) -> None:
    faults = FaultPlan(stalls=((0.0, 1.0),))
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    async with (
        Probe(link=link, faults=faults) as probe,
        BumbleCentral(link=link) as central,
        BleakClient(probe.address, **bumble(central)) as client,
    ):
        await client.start_notify(DATA, lambda _c, _b: arrivals.append(loop.time() - probe.start_time))
        await client.write_gatt_char(CMD, b"\x04", response=True)
        await asyncio.sleep(1.5)
    assert len(arrivals) == 4
    assert min(arrivals) >= 1.0
    assert probe.faults.of("stall")


async def test_configuration_errors_are_named() -> None:
    with pytest.raises(ConfigError, match="connection interval"):
        LinkTiming(interval=0.005)
    with pytest.raises(ConfigError, match="probability"):
        FaultPlan(drop=1.5)
    with pytest.raises(ConfigError, match="HCI_Disconnect reason"):
        FaultPlan(disconnects=((1.0, 0x08),))
    with pytest.raises(ConfigError, match="exactly one"):
        BumbleCentral()
    with pytest.raises(ConfigError, match="backend"):
        BleConfig(backend="bluez")


async def test_lifecycle_errors_name_the_state(link) -> None:
    probe = Probe(link=link)
    with pytest.raises(StateError, match="created"):
        await probe.stop()
    await probe.start()
    with pytest.raises(StateError, match="advertising"):
        await probe.start()
    await probe.stop()
    central = BumbleCentral(link=link)
    with pytest.raises(StateError, match="not open"):
        _ = central.device


async def test_nmre_board_info_and_control_point_over_bleak(link) -> None:
    replies: list[bytes] = []
    async with (
        NmreDevice("nmre-A", link=link) as board,
        BumbleCentral(link=link) as central,
        BleakClient(board.address, **bumble(central)) as client,
    ):
        info = await client.read_gatt_char(INFO_UUID)
        assert len(info) == 24 and info[0] == 1
        await client.start_notify(CONTROL_POINT_UUID, lambda _c, b: replies.append(bytes(b)))
        await client.write_gatt_char(CONTROL_POINT_UUID, bytes.fromhex("02 e8 03 c8 00 0f"), response=True)
        await client.write_gatt_char(CONTROL_POINT_UUID, b"\x09", response=True)
        with pytest.raises(BleakGATTProtocolError):
            await client.write_gatt_char(CONTROL_POINT_UUID, b"", response=True)
        await asyncio.sleep(0.1)
    assert replies == [bytes.fromhex("80 02 00"), bytes.fromhex("80 09 01")]
    assert (board.emg_rate, board.imu_rate) == (1000, 200)


async def test_scan_cli_parser_and_table(link) -> None:
    import argparse

    from nmre.commands.scan import add_parser, format_results

    parser = argparse.ArgumentParser(prog="nmre")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scan", "--timeout", "2.5", "--sim"])
    assert (args.command, args.timeout, args.sim) == ("scan", 2.5, True)
    fleet = emulated_fleet(link)
    results = await scan_async(0.5, BleConfig(backend="bumble", bumble_link=link, emulated=fleet))
    table = format_results(results).splitlines()
    assert table[0].split() == ["KIND", "NAME", "ADDRESS", "RSSI"]
    assert len(table) == 1 + len(fleet)
    assert any(line.startswith("nmre") and "nmre-L" in line for line in table)
    assert format_results([]) == "no BLE devices found"
