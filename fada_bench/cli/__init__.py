"""The `fada-bench` command. Each command is a thin shell over a library function.

One module per command group: `data`, `bench` (run, list, sweep, report, speed, table, claims,
rows save, baseline, check), `train` (train, ratio-probe, train-cache build, list and compare) and `weights`; `common` holds the app and what they share.
"""
from __future__ import annotations

from . import bench, data, train, weights  # noqa: F401  (each registers its commands on the app)
from ..plugins import load_plugins
from .common import InputError, app, console, escape

__all__ = ["app", "main"]


def main():
    try:
        load_plugins()
        app()
    except (InputError, FileNotFoundError) as e:
        console.print(f"[red]error[/red]: {escape(str(e))}", highlight=False, soft_wrap=True)   # one line
        raise SystemExit(2)


if __name__ == "__main__":
    main()
