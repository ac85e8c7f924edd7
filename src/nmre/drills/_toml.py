"""Reading TOML tables field by field, with errors that name the file, the table, the field and what was expected."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from nmre.errors import ConfigError
from nmre.rules.base import REQUIRED, Param

__all__ = ["Table", "fail"]


def fail(file: str, table: str, field: str | None, what: str, got: Any = REQUIRED) -> ConfigError:
    """A ConfigError ``<file>: [<table>] <field>: expected <what>, got <got>``."""
    where = f"[{table}]" if table else "(top level)"
    msg = f"{file}: {where}" + (f" {field}" if field else "") + f": expected {what}"
    if got is not REQUIRED:
        msg += f", got {got!r}"
    return ConfigError(msg)


class Table:
    """One TOML table being read: tracks which fields were used, so unknown ones are reported."""

    def __init__(self, data: Any, file: str, name: str) -> None:
        if not isinstance(data, Mapping):
            raise fail(file, name, None, "a table", data)
        self.data: Mapping[str, Any] = data
        self.file, self.name = file, name
        self._used: set[str] = set()

    def fail(self, field: str | None, what: str, got: Any = REQUIRED) -> ConfigError:
        return fail(self.file, self.name, field, what, got)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        self._used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.fail(key, "this field (it is required)", REQUIRED)
            return default
        return self.data[key]

    def text(self, key: str, default: Any = REQUIRED, choices: Iterable[str] | None = None) -> Any:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return v
        opts = tuple(choices) if choices is not None else None
        if not isinstance(v, str) or not v.strip():
            raise self.fail(key, "a non-empty text" if not opts else "one of " + ", ".join(opts), v)
        if opts is not None and v not in opts:
            raise self.fail(key, "one of " + ", ".join(opts), v)
        return v

    def texts(self, key: str, default: Any = REQUIRED) -> Any:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return v
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise self.fail(key, "a list of texts", v)
        return tuple(v)

    def boolean(self, key: str, default: Any = REQUIRED) -> Any:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return v
        if not isinstance(v, bool):
            raise self.fail(key, "true or false", v)
        return v

    def number(
        self,
        key: str,
        default: Any = REQUIRED,
        lo: float | None = None,
        lo_open: bool = False,
        unit: str = "",
    ) -> Any:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return v
        return check_number(self, key, v, lo, lo_open, unit)

    def integer(self, key: str, default: Any = REQUIRED, lo: int | None = None) -> Any:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return v
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
            raise self.fail(key, "a whole number" + (f" >= {lo}" if lo is not None else ""), v)
        return v

    def table(self, key: str, default: Any = REQUIRED) -> Table | None:
        v = self.raw(key, default)
        if v is default and key not in self.data:
            return None
        return Table(v, self.file, f"{self.name}.{key}" if self.name else key)

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[key]]``); none if absent."""
        v = self.raw(key, [])
        if isinstance(v, Mapping):
            v = [v]
        if not isinstance(v, list):
            raise self.fail(key, "an array of tables ([[" + key + "]])", v)
        base = f"{self.name}.{key}" if self.name else key
        return [Table(x, self.file, f"{base}[{i}]") for i, x in enumerate(v)]

    def done(self, allowed_extra: Iterable[str] = ()) -> None:
        """Raise for any field that was not read (an unknown field), naming the fields this table takes."""
        extra = set(allowed_extra)
        unknown = [k for k in self.data if k not in self._used and k not in extra]
        if unknown:
            known = sorted(self._used | extra)
            raise self.fail(
                unknown[0], "a known field" + (f" ({', '.join(known)})" if known else ""), "an unknown field"
            )


def check_number(t: Table, key: str, v: Any, lo: float | None, lo_open: bool, unit: str) -> float:
    u = f" {unit}" if unit and unit != "1" else ""
    bound = "" if lo is None else f" {'>' if lo_open else '>='} {lo:g}{u}"
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise t.fail(key, f"a finite number{bound}" + (f" in {unit}" if unit and not bound else ""), v)
    f = float(v)
    if lo is not None and (f <= lo if lo_open else f < lo):
        raise t.fail(key, f"a number{bound} (it cannot be {'negative' if lo == 0 else 'that low'})", v)
    return f


def read_param(t: Table, key: str, p: Param, tolerance_unit: str) -> Any:
    """Read field ``key`` of ``t`` as declared by ``p`` (default when absent)."""
    unit = tolerance_unit if p.unit == "<tolerance>" else (p.unit or "")
    if p.type == "number":
        if not t.has(key):
            t.raw(key, p.default)
            return p.default
        return t.number(key, p.default, p.lo, p.lo_open, unit)
    if p.type == "int":
        return t.integer(key, p.default, None if p.lo is None else int(p.lo))
    if p.type == "bool":
        return t.boolean(key, p.default)
    if p.type == "texts":
        return t.texts(key, p.default)
    if p.type == "choice":
        return t.text(key, p.default, p.choices)
    return t.text(key, p.default)
