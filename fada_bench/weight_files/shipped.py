"""The FADA checkpoints shipped with the package, so that the README's main command runs on a fresh
checkout without training: `teacher`, `fada_balanced`, `fada_fast` of the tiny config.

Stored content-addressed: `weights/models.json` maps each checkpoint (its card's `checkpoint`
field, e.g. `teacher_tiny/model`) to {file in the model folder: sha256}, and each file's bytes
are `weights/models/SHA256`. A student shares its VAE, reference net and audio encoder with its
teacher (distillation trains the denoiser only), so those are stored once; weights are float16
(the pipeline computes in the dtype it is given, float32 by default).

A checkpoint is used from a model folder: the first use assembles one under the cache
(`~/.cache/fada-bench/models/CHECKPOINT`), checking every file against its sha256; a folder
that no longer matches is assembled again. `fada-bench weights pack` writes the store from
trained model folders.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from fada.data.io import write_bytes_atomic, write_text_atomic
from fada.errors import InputError
from fada.hashing import sha256_file

from ..paths import cache_dir

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = WEIGHTS / "models.json"
BLOBS = WEIGHTS / "models"


def manifest() -> dict[str, dict[str, str]]:
    """{checkpoint: {file: sha256}}; empty when nothing is shipped."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def is_shipped(checkpoint: str) -> bool:
    return checkpoint in manifest()


def shipped_bytes() -> int:
    """Bytes of the store (each shared file once)."""
    return sum(p.stat().st_size for p in BLOBS.glob("*") if p.is_file())


def _matches(folder: Path, files: dict[str, str]) -> list[str]:
    """The files of `folder` that are missing or differ from their sha256."""
    return [f for f, digest in files.items()
            if not (folder / f).is_file() or sha256_file(folder / f) != digest]


def corrupt(checkpoint: str) -> list[str]:
    """The files of a shipped checkpoint whose stored bytes are missing or differ from their sha256."""
    return [f for f, digest in manifest()[checkpoint].items()
            if not (BLOBS / digest).is_file() or sha256_file(BLOBS / digest) != digest]


def model_folder(checkpoint: str) -> Path:
    """A verified model folder of a shipped checkpoint (assembled in the cache on first use)."""
    files = manifest().get(checkpoint)
    if files is None:
        raise InputError(f"{checkpoint} is not a shipped checkpoint (shipped: {', '.join(manifest()) or 'none'})")
    dest = cache_dir() / "models" / checkpoint
    if dest.is_dir() and not _matches(dest, files):
        return dest
    bad = corrupt(checkpoint)
    if bad:
        raise InputError(f"shipped checkpoint {checkpoint}: {', '.join(bad)} missing or corrupt in {BLOBS}; "
                         "restore the package's weights (git checkout / reinstall)")
    # Assembled in a folder of this process's own, then renamed into place: several processes
    # (torchrun) may assemble at once, and a reader must never see a half-copied folder.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.assembling")
    shutil.rmtree(tmp, ignore_errors=True)
    for f, digest in files.items():
        (tmp / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BLOBS / digest, tmp / f)
    for _ in range(3):
        try:
            tmp.rename(dest)                  # fails while `dest` exists (and is not empty)
            break
        except OSError:
            if dest.is_dir() and not _matches(dest, files):      # another process assembled it
                shutil.rmtree(tmp, ignore_errors=True)
                break
            stale = dest.with_name(f".{dest.name}.{os.getpid()}.stale")   # an old or damaged copy
            try:
                dest.rename(stale)
            except OSError:
                pass
            shutil.rmtree(stale, ignore_errors=True)
    if _matches(dest, files):
        raise InputError(f"shipped checkpoint {checkpoint}: the assembled folder {dest} does not match its sha256")
    return dest


def _half(path: Path) -> bytes:
    """A safetensors file with its floating-point tensors in float16, as bytes."""
    import torch
    from safetensors.torch import load_file, save

    tensors = load_file(path)
    return save({k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()},
                metadata={"format": "pt"})


def _store_files(folder: Path, files: list[Path]) -> dict[str, str]:
    """Write each file (safetensors as float16) as a blob named by its sha256; {relative path: digest}."""
    BLOBS.mkdir(parents=True, exist_ok=True)
    entry = {}
    for p in files:
        data = _half(p) if p.suffix == ".safetensors" else p.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        write_bytes_atomic(BLOBS / digest, data)
        entry[p.relative_to(folder).as_posix()] = digest
    return entry


def _write_manifest(new: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The shipped checkpoints become `new` merged over what was shipped (a checkpoint not named
    stays, e.g. the fast decoder when the three models are repacked); unused blobs are removed."""
    man = {**manifest(), **new}
    used = {d for files in man.values() for d in files.values()}
    write_text_atomic(MANIFEST, json.dumps(man, indent=1, sort_keys=True) + "\n")
    for p in BLOBS.iterdir():
        if p.name not in used:
            p.unlink()
    return man


def pack(folders: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Store trained model folders {checkpoint: folder} as the shipped checkpoints of those names
    (float16), replacing them; returns the new manifest."""
    new: dict[str, dict[str, str]] = {}
    for checkpoint, folder in folders.items():
        if not (folder / "fada.json").is_file():
            raise InputError(f"no model folder at {folder} (no fada.json); train it first")
        new[checkpoint] = _store_files(folder, sorted(q for q in folder.rglob("*")
                                                      if q.is_file() and not q.name.startswith(".")))
    return _write_manifest(new)


def add_checkpoint(checkpoint: str, folder: Path, under: str) -> dict[str, str]:
    """Store the files of `folder/under` (float16) as the shipped checkpoint `checkpoint`, keeping
    the rest of the store: for a part shipped on its own, such as a fast decoder (its `under` is
    "fast_decoder"; the model it decodes for is another checkpoint)."""
    src = Path(folder) / under
    files = sorted(q for q in src.rglob("*") if q.is_file() and not q.name.startswith("."))
    if not files:
        raise InputError(f"nothing to store in {src}")
    entry = _store_files(Path(folder), files)
    _write_manifest({checkpoint: entry})
    return entry


def trained_or_shipped(folder: str) -> str:
    """A model folder a recipe names as `runs/CHECKPOINT` (where `fada-bench train` writes it): the
    trained one when it is there, else the shipped checkpoint of that name (assembled and verified),
    else the path as given (the objective then names what is missing)."""
    from ..paths import checkpoints_dir

    p = Path(folder).expanduser()
    if (p / "fada.json").is_file():
        return folder
    for root in (checkpoints_dir(), Path("runs")):
        try:
            name = p.relative_to(root).as_posix()
        except ValueError:
            continue
        if is_shipped(name):
            return str(model_folder(name))
    return folder
