"""The standard weight files that the real-world metric backbones load, and where to find them.

Each entry names one file as its authors publish it (the same bytes that pytorch-fid, cd-fvd,
StyleGAN-V, DisCo or syncnet_python load), the backbone that reads it, where a user gets it and,
where the authors publish one, its checksum. Where no checksum is published we record none and
report the file as *unverified* rather than invent one; pytorch-fid's file name carries the first
8 hex digits of its sha256 (torch.hub's naming rule), which we check. (A third-party repository
records 6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2 for torch-fidelity's
copy of the same file, consistent with that rule; the authors do not publish it, so we check only
the prefix.)

Lookup order for a file: the path the user gives (a file, or a folder holding it), then each
folder in $FADA_BENCH_WEIGHTS (os.pathsep-separated), then ~/.cache/fada-bench/weights.
Nothing here downloads except `fetch`, which the `fada-bench weights fetch NAME` command calls.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fada.errors import InputError
from fada.hashing import CHUNK, sha256_file

ENV_VAR = "FADA_BENCH_WEIGHTS"


@dataclass(frozen=True)
class WeightEntry:
    name: str
    filename: str
    backbone: str                 # the backbone `name` that loads it (metric keys carry it)
    how_to_get: str
    url: str | None = None            # where users download it; None when only a web page links it
    sha256: str | None = None         # published full sha256; None: not published ("unverified")
    sha256_prefix: str | None = None  # a published prefix (pytorch-fid's file name), checked if no full hash


ENTRIES: dict[str, WeightEntry] = {e.name: e for e in [
    WeightEntry(
        name="fid_inception", filename="pt_inception-2015-12-05-6726825d.pth", backbone="inception",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
        sha256_prefix="6726825d",
        how_to_get="pytorch-fid's release asset (the TF FID Inception ported to PyTorch)"),
    WeightEntry(
        name="i3d_400", filename="i3d_pretrained_400.pt", backbone="i3d",
        url="https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt",
        how_to_get="the I3D Kinetics-400 state dict that cd-fvd and VideoGPT load (cd-fvd's download URL)"),
    WeightEntry(
        name="i3d_torchscript", filename="i3d_torchscript.pt", backbone="i3d_tfhub",
        url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
        how_to_get="StyleGAN-V's TorchScript export of the tf.hub I3D that the original FVD uses"),
    WeightEntry(
        name="resnet3d50_kinetics400", filename="resnet-50-kinetics.pth", backbone="resnet3d50",
        how_to_get="Kensho Hara's 3D-ResNets-PyTorch pretrained models (the 2017 release, "
                   "Google Drive folder linked from the repository README); DisCo's FVD-3DRN50 loads it"),
    WeightEntry(
        name="resnet3d50_kinetics700", filename="r3d50_K_200ep.pth", backbone="resnet3d50_k700",
        how_to_get="Kensho Hara's 3D-ResNets-PyTorch README, 'Pre-trained models' (Google Drive)"),
    WeightEntry(
        name="syncnet_v2", filename="syncnet_v2.model", backbone="syncnet_v2",
        url="http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
        how_to_get="syncnet_python's download_model.sh (VGG's SyncNet v2 weights)"),
    WeightEntry(
        name="arcface_buffalo_l", filename="w600k_r50.onnx", backbone="arcface",
        how_to_get="insightface's buffalo_l model pack (github.com/deepinsight/insightface releases, "
                   "v0.7/buffalo_l.zip): unzip it so det_10g.onnx and w600k_r50.onnx share one folder"),
    WeightEntry(
        name="deep3d_epoch20", filename="epoch_20.pth", backbone="deep3d",
        how_to_get="Deep3DFaceRecon_pytorch's pretrained face reconstruction model (github.com/sicxu/"
                   "Deep3DFaceRecon_pytorch README, 'Prepare prerequisite models': the Google Drive "
                   "folder linked there; its checkpoints/<model_name>/epoch_20.pth)"),
    WeightEntry(
        # A folder, not one file: the Hugging Face model that pyiqa's "qalign" metric loads. Its
        # config.json stands for the folder here; qalign.model_folder checks the rest.
        name="qalign_one_align", filename="one-align/config.json", backbone="qalign-pyiqa",
        how_to_get="the Hugging Face model q-future/one-align (Q-Align's OneAlign, which pyiqa's "
                   "'qalign' metric loads), downloaded whole on a machine with network, e.g. "
                   "`hf download q-future/one-align --local-dir one-align`; the folder one-align/ "
                   "holds config.json, preprocessor_config.json, the tokenizer files and the weights"),
]}


class WeightsError(InputError):
    """A weight file that is missing or does not match its published checksum."""


@dataclass(frozen=True)
class WeightStatus:
    entry: WeightEntry
    state: str              # "present", "missing" or "bad checksum"
    verified: bool          # the checksum (or published prefix) was checked and matched
    path: Path | None
    detail: str = ""


def entry(name: str) -> WeightEntry:
    try:
        return ENTRIES[name]
    except KeyError:
        raise WeightsError(f"unknown weight file '{name}'; known: {', '.join(sorted(ENTRIES))}") from None


def search_dirs() -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return dirs + [Path.home() / ".cache" / "fada-bench" / "weights"]


def _check(e: WeightEntry, path: Path) -> WeightStatus:
    if e.sha256 is None and e.sha256_prefix is None:
        return WeightStatus(e, "present", False, path, "unverified: no published checksum")
    digest = sha256_file(path)
    want = e.sha256 or e.sha256_prefix
    if digest.startswith(want):
        return WeightStatus(e, "present", True, path, f"sha256 {digest[:16]}... matches")
    return WeightStatus(e, "bad checksum", False, path, f"sha256 {digest} does not start with {want}")


def _candidates(e: WeightEntry, path: str | os.PathLike | None) -> list[Path]:
    if path is not None:
        p = Path(path).expanduser()
        return [p / e.filename if p.is_dir() else p]
    return [d / e.filename for d in search_dirs()]


def verify(name: str, path: str | os.PathLike | None = None) -> WeightStatus:
    """The status of one file: found where `find` would look, then checked."""
    e = entry(name)
    for cand in _candidates(e, path):
        if cand.is_file():
            return _check(e, cand)
    return WeightStatus(e, "missing", False, None, "looked in " + ", ".join(map(str, _candidates(e, path))))


def status() -> list[WeightStatus]:
    """Every entry's status, for `fada-bench weights list|verify`."""
    return [verify(name) for name in ENTRIES]


def _how_to_fix(e: WeightEntry) -> str:
    get = (f"run `fada-bench weights fetch {e.name}` or download {e.url}" if e.url
           else f"get it from {e.how_to_get}")
    return (f"{get}, then put {e.filename} in ${ENV_VAR} or {search_dirs()[-1]}, "
            "or pass its path")


def find(name: str, path: str | os.PathLike | None = None) -> Path:
    """The path of weight file `name`, checked against its published checksum where there is
    one. Raises `WeightsError` naming the file, where it looked, and how to get it."""
    s = verify(name, path)
    e = s.entry
    if s.state == "missing":
        raise WeightsError(f"weight file {e.filename} ({e.name}, for the {e.backbone} backbone) not found; "
                           f"{s.detail}. To get it: {_how_to_fix(e)}")
    if s.state == "bad checksum":
        raise WeightsError(f"{s.path}: {s.detail}; this is not the published {e.filename}. "
                           f"Replace it: {_how_to_fix(e)}")
    return s.path


def fetch(name: str, url: str | None = None, dest: str | os.PathLike | None = None, *,
          timeout: float = 60.0) -> Path:
    """Download weight file `name` to `dest` (a folder or a file path; default: the first search
    folder). Resumes a `.part` left by an interrupted download with an HTTP Range request, checks
    the published checksum before the file takes its final name, and returns its path."""
    e = entry(name)
    url = url or e.url
    if url is None:
        raise WeightsError(f"{e.filename} ({e.name}) has no direct download link: get it from {e.how_to_get}")
    dest = Path(dest).expanduser() if dest is not None else search_dirs()[0]
    if dest.is_dir() or dest.suffix == "":
        dest = dest / e.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resumed = have > 0 and resp.status == 206
            with open(part, "ab" if resumed else "wb") as f:
                shutil.copyfileobj(resp, f, CHUNK)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:      # the .part is already whole: nothing left to send
            pass
        else:
            raise WeightsError(f"downloading {e.filename} from {url} failed: HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise WeightsError(f"downloading {e.filename} from {url} failed: {err}; "
                           f"run the command again to resume from {part}") from None
    s = _check(e, part)
    if s.state == "bad checksum":
        part.unlink()
        raise WeightsError(f"downloaded {e.filename} from {url}: {s.detail}; the partial file was removed")
    os.replace(part, dest)
    return dest
