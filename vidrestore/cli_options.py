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
        if str(f.type) == "tuple[str, ...]":
            default = None
        params.append(option_parameter(f.name, annotation, default, helps.get(f.name, ""),
                                       negatable=annotation is bool, show_default=default is not None))

    def command(**values: Any) -> None:
        run(values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command


def option_parameter(
    name: str, annotation: Any, default: Any, help: str, *, negatable: bool = False,
    flags: tuple[str, ...] = (), show_default: bool = True,
) -> inspect.Parameter:
    """One keyword-only parameter that typer reads as ``--name`` (with ``--no-name`` when
    ``negatable``, and any extra short ``flags``)."""
    flag = "--" + name.replace("_", "-")
    decl = f"{flag}/--no-{name.replace('_', '-')}" if negatable else flag
    option = typer.Option(default, decl, *flags, help=help, show_default=show_default)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
