"""Real-data suites: a folder prepared by `fada-bench data prepare` and its recorded split."""
from __future__ import annotations

from pathlib import Path

from fada.data.manifest import MANIFEST, read_manifest
from fada.errors import InputError

from ..paths import data_candidates
from ..registry import SUITES
from ..types import Sample
from . import Suite, check_sample_ids, load_sample, read_split_file


class _Prepared(Suite):
    world = "real"

    def __init__(self, data: Path | None = None):
        n = self.name
        places = [(Path(data), "--data")] if data is not None else data_candidates(n)
        found = [p for p, _ in places if (p / MANIFEST).is_file()]
        if not found:
            looked = "; ".join(f"{p} ({how})" for p, how in places)
            raise InputError(f"no prepared {n} data: looked for {MANIFEST} in {looked}. Prepare it with "
                             f"`fada-bench data prepare {n} --raw RAW --out data/{n}` and "
                             f"`fada-bench data split {n} --data data/{n}`, or give the folder with --data DIR")
        self.folder = found[0]
        df = read_manifest(self.folder)
        self.rows = {i: r for i, r in zip(check_sample_ids([str(r["id"]) for r in df.to_dict("records")],
                                                           self.folder / MANIFEST), df.to_dict("records"))}
        try:
            self.split_path, split = read_split_file(n)
        except FileNotFoundError as e:
            raise InputError(f"no {n} split file at {e.args[0]}; choose the test clips with "
                             f"`fada-bench data split {n} --data {self.folder}`") from None
        missing = [i for i in split["ids"] if i not in self.rows]
        if missing:
            raise InputError(f"{self.split_path} names {len(missing)} clips that {self.folder / MANIFEST} lacks "
                             f"(e.g. {missing[0]}); was the split made from another folder? Rerun "
                             f"`fada-bench data split {n} --data {self.folder}`")
        self._ids = list(split["ids"])

    def ids(self) -> list[str]:
        return list(self._ids)

    def sample(self, sample_id: str) -> Sample:
        r = self.rows[sample_id]
        params = self.folder / r["params"] if r.get("params") else None
        return load_sample(sample_id, self.folder / r["video"], r["n_frames"], r["fps"], params,
                           {"identity": r.get("identity", "")})

    def info(self) -> dict:
        return {**super().info(), "split_file": str(self.split_path), "data": str(self.folder)}


@SUITES.register("hdtf")
class Hdtf(_Prepared):
    name = "hdtf"
    description = "HDTF test clips from a prepared folder (100 in the paper)"


@SUITES.register("celebvhq", "celebv_hq")
class CelebvHq(_Prepared):
    name = "celebvhq"
    description = "CelebV-HQ test clips from a prepared folder (100 in the paper)"
