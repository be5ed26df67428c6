"""Every weight file the benchmark can load, in one list, for `fada-bench weights list|verify`.

Three kinds, each checked the way its own loader checks it (one implementation each):
- `standard`: the published real-world backbone files (`standard.py`), checked
  against the authors' checksum where one is published, else reported present but unverified;
- `synthetic`: the synthetic world's backbones shipped in the package, checked against the sha256
  in their registry (`synthetic.py`);
- `model`: the FADA checkpoints the method cards name: a folder `fada-bench train RECIPE` wrote
  (unverified), else a shipped checkpoint (`shipped.py`), checked against its sha256.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import standard as wr
from . import synthetic as sb

KINDS = ("standard", "synthetic", "model")


@dataclass(frozen=True)
class FileStatus:
    kind: str
    name: str
    state: str          # present | missing | bad checksum
    verified: bool      # a recorded checksum was checked and matched
    path: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "present"


def _standard() -> list[FileStatus]:
    out = []
    for s in wr.status():
        out.append(FileStatus("standard", s.entry.name, s.state, s.verified,
                              str(s.path or s.entry.filename), s.detail))
    return out


def _synthetic() -> list[FileStatus]:
    try:
        reg = sb.registry()
    except wr.WeightsError as e:
        return [FileStatus("synthetic", "registry.json", "missing", False, str(sb.REGISTRY_FILE), str(e))]
    out = []
    for name, entry in sorted(reg.items()):
        path = sb.WEIGHTS_DIR / entry["file"]
        try:
            sb.weights_path(name)
            out.append(FileStatus("synthetic", name, "present", True, str(path), f"sha256 {entry['sha256'][:16]}... matches"))
        except wr.WeightsError as e:
            state = "missing" if not path.is_file() else "bad checksum"
            out.append(FileStatus("synthetic", name, state, False, str(path), str(e)))
    return out


def _models() -> list[FileStatus]:
    from . import shipped
    from ..adapters.fada_pipeline import trained_folder
    from ..registry import METHODS

    out, seen = [], set()
    for _, card in METHODS.items():
        if card.adapter != "fada" or card.checkpoint in seen:
            continue
        seen.add(card.checkpoint)
        folder = trained_folder(card)
        recipe = card.recipe or Path(card.checkpoint).parts[0]
        if (folder / "fada.json").is_file():
            out.append(FileStatus("model", card.checkpoint, "present", False, str(folder),
                                  "unverified: trained here (used before a shipped one)"))
            continue
        files = shipped.manifest().get(card.checkpoint)
        if not files:
            out.append(FileStatus("model", card.checkpoint, "missing", False, str(folder),
                                  f"make it with `fada-bench train {recipe}`"))
            continue
        bad = shipped.corrupt(card.checkpoint)
        if bad:
            out.append(FileStatus("model", card.checkpoint, "bad checksum", False, str(shipped.BLOBS),
                                  f"shipped files missing or corrupt: {', '.join(bad)}"))
        else:
            out.append(FileStatus("model", card.checkpoint, "present", True, str(shipped.BLOBS),
                                  f"shipped (float16): {len(files)} files match their sha256"))
    return out


def all_status(kinds: tuple[str, ...] = KINDS) -> list[FileStatus]:
    parts = {"standard": _standard, "synthetic": _synthetic, "model": _models}
    return [s for k in kinds for s in parts[k]()]
