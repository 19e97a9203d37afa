"""Test specs as stored on a Problem and the sandbox Harness built from them (no ORM, no I/O)."""

from dataclasses import fields

from .sandbox.types import Harness, TestPart

_DEFAULTS = {f.name: f.default for f in fields(TestPart)}
_PART_FIELDS = set(_DEFAULTS)


def part_spec(**values) -> dict:
    """A stored part: TestPart's fields, with defaults left out to keep rows small."""
    unknown = set(values) - _PART_FIELDS
    if unknown:
        raise TypeError(f"unknown test part fields {sorted(unknown)}")
    part = TestPart(**values)
    stored = {"name": part.name, "kind": part.kind}
    for name in sorted(_PART_FIELDS - {"name", "kind"}):
        value = getattr(part, name)
        if value != _DEFAULTS[name]:
            stored[name] = list(value) if isinstance(value, tuple) else value
    return stored


def harness_from_spec(entry_point: str, spec: dict) -> Harness:
    parts = []
    for stored in spec.get("parts") or []:
        values = {k: v for k, v in stored.items() if k in _PART_FIELDS}
        if "asserts" in values:
            values["asserts"] = tuple(values["asserts"])
        if "atol" in values:
            values["atol"] = float(values["atol"])
        parts.append(TestPart(**values))
    return Harness(entry_point=entry_point, setup=spec.get("setup") or "", parts=tuple(parts))
