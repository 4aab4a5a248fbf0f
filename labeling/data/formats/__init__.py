"""The table of import formats: one module per format registers itself here.

A format is a name, a line of help, a reader `record -> [Row]`, the project kind its items need
(None when they fit either, or a function of the `--map` mapping), the `--map` targets it accepts,
and `sniff(columns)`: whether a file with these columns looks like this format (the upload preview
suggests the format that does). Adding a format: write `labeling/data/formats/<name>.py` that calls
`register(Format(...))`, and add its module to `_MODULES` below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from dataclasses import dataclass

from labeling.data.rows import ImportFailed, Options, Row

Reader = Callable[[dict, Options], list[Row]]


@dataclass(frozen=True)
class Format:
    name: str
    help: str
    read: Reader
    kind: str | Callable[[dict[str, str]], str | None] | None = None
    sniff: Callable[[set[str]], bool] = lambda columns: False
    map_targets: tuple[str, ...] = ()  # the --map targets it accepts
    check_mapping: Callable[[dict[str, str]], None] | None = None  # more checks on the mapping


def has_columns(*names: str) -> Callable[[set[str]], bool]:
    """A `sniff` for a format whose files have these columns (and maybe others)."""
    required = set(names)
    return lambda columns: required <= columns


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS:
        raise ValueError(f"import format {fmt.name!r} is registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


_MODULES = ("trl", "trl_unpaired", "hh", "pandalm", "oasst", "prompts", "mapped")  # in the order users see them
for _module in _MODULES:
    importlib.import_module(f"{__name__}.{_module}")


def names() -> tuple[str, ...]:
    return tuple(FORMATS)


def get(name: str) -> Format:
    if name not in FORMATS:
        raise ImportFailed(f"unknown format {name!r}; formats are {', '.join(FORMATS)}")
    return FORMATS[name]


def choices() -> list[tuple[str, str]]:
    """(name, "name: help") for a form's select."""
    return [(f.name, f"{f.name}: {f.help}") for f in FORMATS.values()]


def kind_needed(name: str, mapping: dict[str, str] | None = None) -> str | None:
    """The project kind a format's items need; None when it fits either kind."""
    kind = get(name).kind
    return kind(mapping or {}) if callable(kind) else kind


def check_mapping(name: str, mapping: dict[str, str]) -> None:
    fmt = get(name)
    if mapping and not fmt.map_targets:
        takers = sorted(f.name for f in FORMATS.values() if f.map_targets)
        raise ImportFailed(f"--map is for the {' and '.join(takers)} formats, not {name}")
    if set(mapping) - set(fmt.map_targets):
        raise ImportFailed(f"the {name} format takes only --map {' and '.join(t + '=COLUMN' for t in fmt.map_targets)}")
    if fmt.check_mapping is not None:
        fmt.check_mapping(mapping)


def guess(columns: Collection[str]) -> str | None:
    """The first format whose sniffing recognises these columns (None when none does)."""
    found = set(columns)
    return next((f.name for f in FORMATS.values() if f.sniff(found)), None)
