"""`fada-bench data synth` and `data verify` as a user runs them."""
import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from fada.data.verify import verify_folder


def run(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "fada_bench", *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(p.stdout + p.stderr)
    return p


def verify(folder):
    """`fada-bench data verify FOLDER` in this process (the synth tests above are the ones about
    separate processes): its result, after checking that it ended by its exit code, not a traceback."""
    from typer.testing import CliRunner

    from fada_bench.cli import app

    res = CliRunner().invoke(app, ["data", "verify", str(folder)])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synth_is_byte_identical_for_the_same_seed(tmp_path):
    args = ["data", "synth", "--n-train", "3", "--n-test", "2", "--n-openset", "1", "--size", "32", "--seed", "4"]
    run(*args, "--out", str(tmp_path / "a"))
    run(*args, "--out", str(tmp_path / "b"))
    run("data", "synth", "--n-train", "3", "--n-test", "2", "--n-openset", "1", "--size", "32", "--seed", "5",
        "--out", str(tmp_path / "c"))
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert len([k for k in a if k.endswith(".mp4")]) == 6
    assert a["manifest.parquet"] != c["manifest.parquet"]


def test_synth_resumes_and_refuses_other_settings(tmp_path):
    out = tmp_path / "w"
    run("data", "synth", "--n-train", "2", "--n-test", "1", "--n-openset", "0", "--size", "32", "--out", str(out))
    first = (out / "videos" / "syn-train-00000.mp4").stat().st_mtime_ns
    run("data", "synth", "--n-train", "3", "--n-test", "1", "--n-openset", "0", "--size", "32", "--out", str(out))
    assert (out / "videos" / "syn-train-00000.mp4").stat().st_mtime_ns == first  # kept, not rebuilt
    assert (out / "videos" / "syn-train-00002.mp4").is_file()
    p = run("data", "synth", "--n-train", "3", "--size", "64", "--out", str(out), check=False)
    assert p.returncode != 0 and "other settings" in p.stderr and "Traceback" not in p.stderr


def test_verify_passes_a_good_folder(small_world):
    folder, cfg, rows = small_world
    problems, n = verify_folder(folder)
    assert problems == [] and n == len(rows)
    assert verify(folder).exit_code == 0


@pytest.mark.parametrize("damage", ["missing_video", "truncated_video", "missing_params", "bad_split", "no_manifest"])
def test_verify_reports_each_problem(small_world, tmp_path, damage):
    src, cfg, rows = small_world
    folder = tmp_path / "copy"
    shutil.copytree(src, folder)
    victim = "syn-train-00001"
    if damage == "missing_video":
        (folder / "videos" / f"{victim}.mp4").unlink()
        want = "video file missing"
    elif damage == "truncated_video":
        p = folder / "videos" / f"{victim}.mp4"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        want = victim
    elif damage == "missing_params":
        (folder / "params" / f"{victim}.npz").unlink()
        want = "ground-truth file missing"
    elif damage == "bad_split":
        s = json.loads((folder / "splits" / "test.json").read_text())
        s["ids"].append("syn-test-99999")
        (folder / "splits" / "test.json").write_text(json.dumps(s))
        want = "not in the manifest"
    else:
        (folder / "manifest.parquet").unlink()
        want = "fada-bench data synth"
    res = verify(folder)
    assert res.exit_code == 1
    assert want in res.output
