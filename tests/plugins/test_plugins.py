"""Plugin discovery: what each group accepts, and broken plugins reported instead of stopping nmre."""

from __future__ import annotations

import struct
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

from nmre.acquisition.profiles import device_plugins, profile_classes
from nmre.errors import ProtocolError
from nmre.plugins import DEVICES, DRILLS, RULES, discover, drill_paths

EXAMPLE = "tests.plugins.example.nmre_example_plugin"


def ep(name: str, value: str, group: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=group)


def test_a_device_plugin_is_a_profile_keyed_by_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    good = ep("acme_gonio", f"{EXAMPLE}.gonio:AcmeGonioProfile", DEVICES)
    monkeypatch.setattr(
        "nmre.plugins.importlib.metadata.entry_points", lambda group: [good] if group == DEVICES else []
    )
    classes = profile_classes()
    assert {"nmre", "myo", "polar", "movesense"} <= set(classes)
    cls = classes["acme_gonio"]
    assert cls.__name__ == "AcmeGonioProfile"
    assert "acme_gonio" not in profile_classes(plugins=False)
    profile = cls({"side": "left"})
    (info,) = profile.streams("ACME-G1").values()
    assert info.id == "angle.knee.l" and info.placement is not None and info.placement.segment == "knee"
    packet = struct.pack("<H3h", 65534, 1234, -50, 0)
    (decoded,) = profile.decode("data", packet)
    np.testing.assert_allclose(decoded.values, [[12.34, -0.5, 0.0]])
    assert decoded.seq == 65534
    (after_wrap,) = profile.decode("data", struct.pack("<Hh", 1, 0))
    assert after_wrap.seq == 65537  # the 16-bit counter is unwrapped
    with pytest.raises(ProtocolError, match="expected 2 \\+ 2n bytes"):
        profile.decode("data", b"\x00\x00\x01")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ghost", "no_such_module.anywhere:Thing", "failed to load: ModuleNotFoundError"),
        ("stats", "statistics:mean", "expected a DeviceProfile subclass"),
        (
            "gonio",
            f"{EXAMPLE}.gonio:AcmeGonioProfile",
            "expected its kind to be the entry-point name 'gonio'",
        ),
        ("myo", "nmre.acquisition.profiles.myo:MyoProfile", "kind 'myo' is one nmre ships"),
    ],
)
def test_device_plugins_that_are_not_usable_are_reported_and_left_out(
    name: str, value: str, message: str
) -> None:
    found = device_plugins(entry_points=[ep(name, value, DEVICES)])
    assert found.plugins == ()
    (problem,) = found.problems
    assert message in problem.message
    assert str(problem).startswith(f"plugin {name!r} (nmre.devices, from an unknown distribution, {value}): ")


def test_two_plugins_with_one_name_keep_the_first_and_report_the_second() -> None:
    found = discover(
        RULES, entry_points=[ep("x", "statistics:mean", RULES), ep("x", "statistics:median", RULES)]
    )
    assert [p.target for p in found.plugins] == ["statistics:mean"]
    assert "already taken" in found.problems[0].message


def test_drill_plugins_offer_files_folders_or_packages(tmp_path: Path) -> None:
    folder = tmp_path / "drills"
    folder.mkdir()
    (folder / "b.toml").write_text("")
    (folder / "a.toml").write_text("")
    (folder / "notes.txt").write_text("")
    single = tmp_path / "one.toml"
    single.write_text("")
    import types

    module = types.ModuleType("fake_drills")
    module.FOLDER = str(folder)  # type: ignore[attr-defined]
    module.ONE = single  # type: ignore[attr-defined]
    module.BOTH = lambda: [single, folder]  # type: ignore[attr-defined]
    module.BAD = str(tmp_path / "missing.toml")  # type: ignore[attr-defined]
    module.WRONG = 42  # type: ignore[attr-defined]
    import sys

    sys.modules["fake_drills"] = module
    try:
        eps = [ep(n, f"fake_drills:{n.upper()}", DRILLS) for n in ("folder", "one", "both", "bad", "wrong")]
        found, problems = drill_paths(entry_points=eps)
    finally:
        del sys.modules["fake_drills"]
    by_plugin: dict[str, list[str]] = {}
    for plugin, path in found:
        by_plugin.setdefault(plugin.name, []).append(path.name)
    assert by_plugin == {
        "folder": ["a.toml", "b.toml"],
        "one": ["one.toml"],
        "both": ["one.toml", "a.toml", "b.toml"],
    }
    messages = {p.name: p.message for p in problems}
    assert "missing.toml is not a drill file" in messages["bad"]
    assert "expected a package, a path" in messages["wrong"]


def test_an_unknown_group_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"expected one of nmre\.devices"):
        discover("nmre.sounds")
