"""Typer options generated from a config dataclass, so a command's flags never drift from its config.

Each field ``name: type = default  # comment`` becomes ``--name`` with the comment as its help.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any, Optional

import typer

_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "str | None": Optional[str],
    "int | None": Optional[int],
    "float | None": Optional[float],
    "tuple[str, ...]": Optional[list[str]],
}


def field_help(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of every field in the class source, keyed by field name."""
    helps: dict[str, str] = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+):[^=]+=[^#]*#\s*(.+)$", line)
        if match:
            helps[match.group(1)] = match.group(2).strip()
    return helps


def command_from_dataclass(
    cls: type, run: Callable[[dict[str, Any]], None], extra: list[inspect.Parameter]
) -> Callable[..., None]:
    """A function whose signature typer reads as one option per field of ``cls`` (plus ``extra``)."""
    helps = field_help(cls)
    params = list(extra)
    for f in dataclasses.fields(cls):
        annotation = _TYPES.get(str(f.type))
        if annotation is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        flag = "--" + f.name.replace("_", "-")
        if annotation is bool:
            decl = [f"{flag}/--no-{f.name.replace('_', '-')}"]
        else:
            decl = [flag]
        if str(f.type) == "tuple[str, ...]":
            default = None
        option = typer.Option(default, *decl, help=helps.get(f.name, ""), show_default=default is not None)
        params.append(
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        )

    def command(**values: Any) -> None:
        run(values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command
