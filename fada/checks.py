"""Checks of names and choices, shared by the training stack and the benchmark harness.

`check_choice` raises `OptionError` naming the value, the closest valid one and every valid one;
`check_name` refuses a name that is a path (names become file names inside a folder). The command
line prints an `OptionError` as one line, without a traceback, and exits 2.
"""
from __future__ import annotations

import difflib
import os
import re
from typing import Iterable

from .errors import InputError


class OptionError(InputError):
    """An option, recipe field or name outside its valid values; the message lists them."""


def closest(value: str, valid: Iterable[str]) -> str | None:
    """The valid value nearest to `value` (difflib's ratio), or None when nothing is close."""
    match = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1, cutoff=0.5)
    return match[0] if match else None


def check_choice(field: str, value, valid: Iterable[str], where: str = "") -> str:
    """`value` when it is one of `valid`, else an OptionError naming the closest and every valid value.
    `where` (a file, say) starts the message when the value came from one."""
    valid = list(valid)
    if value in valid:
        return value
    near = closest(value, valid) if isinstance(value, str) else None
    hint = f" (did you mean {near!r}?)" if near else ""
    prefix = f"{where}: " if where else ""
    raise OptionError(f"{prefix}{field} {value!r} is not valid{hint}; valid: {', '.join(map(str, valid))}")


def check_int(field: str, value, minimum: int | None = None, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{field} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise OptionError(f"{field} must be at least {minimum}, got {value}")
    return value


# ---------------------------------------------------------------------------- names as file names

_SEPARATORS = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())


def name_problem(name) -> str | None:
    """Why `name` cannot be a file name inside a folder, or None when it can."""
    if not isinstance(name, str):
        return f"it is not a string but {type(name).__name__}"
    if not name.strip():
        return "it is empty"
    if name in (".", ".."):
        return "it is a reference to a folder"
    if os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
        return "it is an absolute path"
    if any(s in name for s in _SEPARATORS):
        return "it holds a path separator"
    if "\x00" in name:
        return "it holds a NUL byte"
    return None


def check_name(kind: str, name, source) -> str:
    """`name` when it is a plain file name; else an OptionError naming it and the file it came from."""
    why = name_problem(name)
    if why:
        raise OptionError(f"{source}: {kind} {name!r} cannot be a file name: {why}; sample ids and method names "
                          "become file names in the run folder and must be plain names (no '/', '\\' or '..', "
                          "not absolute, not empty)")
    return name
