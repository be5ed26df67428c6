"""Suites: the samples a benchmark runs on, each a recorded split file (`fada_bench.paths.find_split`).

A suite lists its sample ids in a fixed order (`--limit N` takes the first N), makes sure their
files exist (`prepare`), and loads one `Sample` at a time: the reference is the first frame of
the ground-truth video and the audio is that video's track.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from fada.data.io import read_video
from fada.errors import InputError

from ..options import check_name
from ..paths import find_split
from ..registry import SUITES
from ..types import Sample


class Suite:
    name: ClassVar[str]
    world: ClassVar[str]          # "synthetic" or "real": which metric backbones apply
    description: ClassVar[str] = ""

    def ids(self) -> list[str]:
        raise NotImplementedError

    def prepare(self, ids: list[str]) -> None:
        """Make the files of these samples exist (a no-op for prepared folders)."""

    def sample(self, sample_id: str) -> Sample:
        raise NotImplementedError

    def info(self) -> dict:
        """What identifies the suite's content, recorded in run.json."""
        return {"name": self.name, "world": self.world}


def make_suite(name: str, data: Path | None = None) -> Suite:
    return SUITES.get(name)(data)


def check_sample_ids(ids, source) -> list[str]:
    """The ids, each checked to be a plain name (ids become file names in a run folder); an id
    that is a path is an error naming it and `source`, the file it came from."""
    return [check_name("sample id", i, source) for i in ids]


def read_split_file(name: str) -> tuple[Path, dict]:
    """The split file's path and content; its ids are checked to be plain names."""
    path = find_split(name)
    try:
        split = json.loads(path.read_text())
        if not isinstance(split.get("ids"), list):
            raise ValueError("no list of ids")
    except ValueError as e:
        raise InputError(f"{path}: not a split file ({e}); write it again with `fada-bench data split {name}`") from None
    check_sample_ids(split["ids"], path)
    return path, split


def load_sample(sample_id: str, video: Path, n_frames: int, fps: float, params: Path | None = None,
                meta: dict | None = None) -> Sample:
    # Only the first frame is decoded here; adapters and metrics read the rest when they need it.
    first = read_video(video, fps=fps, max_frames=1)
    return Sample(id=sample_id, reference=first.frames[0], audio=first.audio, n_frames=int(n_frames),
                  fps=float(fps), video_path=Path(video), params_path=params, meta=meta or {})
