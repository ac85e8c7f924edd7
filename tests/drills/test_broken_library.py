"""A broken drill file in the library or in a plugin's folder: listed with its reason, refused by name, the rest run.

Drills are discovered in the package's library folder (``nmre.drills.library_path``) and in what
``nmre.drills`` entry points offer (``nmre.plugins.drill_paths``). The library folder is pointed at a
temporary one holding copies of two shipped drills and two broken files; a plugin entry point offers a
temporary folder with one good and one broken file. The CLI is run in-process (``nmre.cli.main``, what the
``nmre`` command runs), so the monkeypatched discovery applies.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import nmre.drills
from nmre.cli import main
from nmre.drills import broken_drills, library_path, list_drills, load_drill
from nmre.errors import ConfigError
from nmre.plugins import DRILLS

SHIPPED = library_path()


@pytest.fixture
def library(tmp_path, monkeypatch):
    lib = tmp_path / "library"
    lib.mkdir()
    for name in ("squat", "quiet_stance"):
        (lib / f"{name}.toml").write_text((SHIPPED / f"{name}.toml").read_text())
    (lib / "syntax_error.toml").write_text('schema = 1\nname = "syntax_error"\ntitle = "unterminated\n')
    text = (SHIPPED / "squat.toml").read_text().replace('name = "squat"', 'name = "odd_kind"')
    (lib / "odd_kind.toml").write_text(text.replace('kind = "limit"', 'kind = "no_such_kind"', 1))

    plug = tmp_path / "acme"
    plug.mkdir()
    text = (SHIPPED / "tandem_stance.toml").read_text()
    (plug / "acme_tandem.toml").write_text(text.replace('name = "tandem_stance"', 'name = "acme_tandem"'))
    (plug / "acme_broken.toml").write_text(text.replace("schema = 1", "schema = 1\nschema = 2"))
    module = types.ModuleType("acme_drills")
    module.FOLDER = str(plug)
    monkeypatch.setitem(sys.modules, "acme_drills", module)
    entry = EntryPoint(name="acme", value="acme_drills:FOLDER", group=DRILLS)
    real = importlib.metadata.entry_points

    def entry_points(**kw):  # our drill plugin; everything else as installed
        return [entry] if kw.get("group") == DRILLS else real(**kw)

    monkeypatch.setattr("nmre.plugins.importlib.metadata.entry_points", entry_points)
    monkeypatch.setattr(nmre.drills, "library_path", lambda: lib)
    nmre.drills._library.cache_clear()
    yield lib, plug
    nmre.drills._library.cache_clear()


def cli(capsys, *args):
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_broken_files_are_listed_with_their_reason_and_the_others_load(library):
    lib, plug = library
    assert sorted(list_drills()) == ["acme_tandem", "quiet_stance", "squat"]
    broken = {b.name: b for b in broken_drills()}
    assert set(broken) == {"syntax_error", "odd_kind", "acme_broken"}
    assert "expected valid TOML" in broken["syntax_error"].reason
    assert "no_such_kind" in broken["odd_kind"].reason and broken["odd_kind"].path == lib / "odd_kind.toml"
    assert (
        broken["acme_broken"].plugin is not None and broken["acme_broken"].path == plug / "acme_broken.toml"
    )
    assert all("\n" not in b.reason for b in broken.values())
    assert load_drill("squat").name == "squat" and load_drill("acme_tandem").name == "acme_tandem"


def test_nmre_drills_lists_every_drill_and_each_broken_one_in_one_line(library, capsys):
    status, out, err = cli(capsys, "drills")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == [*list_drills(), "acme_broken", "odd_kind", "syntax_error"]
    rows = {ln.split()[0]: ln for ln in lines}
    assert rows["odd_kind"].split()[1] == "BROKEN" and "no_such_kind" in rows["odd_kind"]
    assert "expected valid TOML" in rows["syntax_error"] and "plugin acme" in rows["acme_broken"]
    assert rows["squat"].split()[1] == "multi_joint"


@pytest.mark.parametrize("name", ["syntax_error", "odd_kind", "acme_broken"])
@pytest.mark.parametrize("command", [("demo", "--drill"), ("drills", "show")])
def test_naming_a_broken_drill_is_refused_in_one_line_with_exit_2(library, capsys, name, command):
    status, out, err = cli(capsys, *command, name)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"drill {name!r}" in err and "cannot be loaded" in err
    with pytest.raises(ConfigError, match="cannot be loaded"):
        load_drill(name)


def test_a_good_drill_still_runs_beside_broken_ones(library, capsys):
    status, out, err = cli(capsys, "drills", "show", "squat")
    assert status == 0 and "tolerance 75-115 deg" in out
    status, out, err = cli(capsys, "demo", "--drill", "squat", "--reps", "1", "--inject", "1:shallow_squat")
    assert status == 0, err


def test_the_shipped_library_has_no_broken_file():
    nmre.drills._library.cache_clear()
    assert broken_drills() == [], broken_drills()
    assert Path(load_drill("squat").path).parent == SHIPPED
