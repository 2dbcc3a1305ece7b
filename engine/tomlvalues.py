"""Checks of values read from TOML: the right type, a known key, a tensor literal of a sane size.

Every check raises ScenarioError naming the table and key; the loader adds the file and line. The
scenario loader, the [data] reader and every later table ([train] options, breakpoints) share them.
"""
from __future__ import annotations

import math

import numpy as np

from . import limits
from .errors import ScenarioError
from .tomltext import did_you_mean, show

FLOAT_MAX = 1.7976931348623157e308
_MISSING = object()


def type_name(v) -> str:
    """How a TOML value's type reads in a message: 'a string', 'a table', 'true/false'."""
    return {bool: "true/false", str: "a string", dict: "a table", list: "a list", int: "a whole number",
            float: "a number"}.get(type(v), type(v).__name__)


def only(spec: dict, table: str, allowed: tuple[str, ...], key: str | None = None) -> None:
    """Refuse any key of spec that is not allowed, with a did-you-mean."""
    for k in spec:
        if k not in allowed:
            where = f" in {key}" if key else ""
            raise ScenarioError(f"unknown key {k!r}{where}{did_you_mean(k, allowed)} "
                                f"(allowed: {', '.join(allowed)})", table=table, key=key or k)


def get(spec: dict, table: str, name: str, kind: type, default=_MISSING, key: str | None = None):
    """spec[name] checked against kind (float accepts whole numbers); a clear error otherwise."""
    if name not in spec:
        if default is _MISSING or default is None:
            raise ScenarioError(f"the key {name!r} is missing", table=table, key=key or name)
        return default
    v = spec[name]
    ok = isinstance(v, kind) and not isinstance(v, bool)
    if kind is bool:
        ok = isinstance(v, bool)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        if abs(v) > FLOAT_MAX:
            raise ScenarioError(f"{name} = {show(v)} is too large for a float64", table=table,
                                key=key or name)
        v, ok = float(v), True
    if not ok:
        want = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}[kind]
        raise ScenarioError(f"{name} must be {want}, got {type_name(v)}", table=table, key=key or name)
    return v


def count(shape: tuple[int, ...], table: str, key: str) -> int:
    """Elements of a shape, refused above MAX_ELEMENTS (exact integers: no overflow, no allocation)."""
    n = math.prod(shape)
    if n > limits.MAX_ELEMENTS:
        raise ScenarioError(f"shape {show(shape)} has {show(n)} elements, more than the limit "
                            f"of {limits.MAX_ELEMENTS:,} per tensor (MAX_ELEMENTS)", table=table, key=key)
    return n


def check_total(total: int, table: str, key: str) -> None:
    """Refuse when values, params and data together exceed MAX_TOTAL_ELEMENTS."""
    if total > limits.MAX_TOTAL_ELEMENTS:
        raise ScenarioError(f"values, params and data hold {total:,} elements in all, more than the limit of "
                            f"{limits.MAX_TOTAL_ELEMENTS:,} (MAX_TOTAL_ELEMENTS)", table=table, key=key)


def literal(spec, table: str, key: str) -> np.ndarray:
    """A number or rectangular nested lists of numbers, as a float64 array."""
    count(literal_shape(spec, table, key), table, key)
    arr = np.array(spec, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ScenarioError("the value contains nan or inf; use finite numbers", table=table, key=key)
    return arr


def literal_shape(spec, table: str, key: str, depth: int = 0) -> tuple[int, ...]:
    """The shape of a number or nested lists, checked (rectangular, finite depth) before any allocation."""
    if isinstance(spec, bool) or isinstance(spec, str) or isinstance(spec, dict) or \
            not isinstance(spec, (int, float, list)):
        raise ScenarioError(f"expected a number or a list of numbers, got {type_name(spec)}", table=table, key=key)
    if isinstance(spec, int) and abs(spec) > FLOAT_MAX:
        raise ScenarioError(f"the number {show(spec)} is too large for a float64", table=table, key=key)
    if isinstance(spec, (int, float)):
        return ()
    if depth >= limits.MAX_AXES:
        raise ScenarioError(f"the list nests more than {limits.MAX_AXES} levels, the limit (MAX_AXES)",
                            table=table, key=key)
    if not spec:
        raise ScenarioError("an empty list has no values", table=table, key=key)
    shapes = {literal_shape(s, table, key, depth + 1) for s in spec}
    if len(shapes) != 1:
        raise ScenarioError("the nested lists are ragged: every row must have the same length and depth",
                            table=table, key=key)
    return (len(spec),) + shapes.pop()
