"""The installed package works without the checkout: build the wheel, install it (not editable)
into a fresh folder, and from a folder outside the checkout list the methods and run one clip of
`static,fada_fast` on the synthetic suite. Cards, split files, recipes and the shipped weights must
all come from inside the installed package."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.slow
def test_the_wheel_installed_elsewhere_lists_and_runs_without_the_checkout(tmp_path):
    # Build from a copy of the sources, so the build writes nothing into the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("fada", "fada_bench"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
          str(tmp_path / "dist"), str(src)])
    wheel = next((tmp_path / "dist").glob("fada_bench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("fada_bench/data/methods/fada_fast.yaml", "fada_bench/data/splits/synthetic.json",
                 "fada/recipes/teacher_tiny.yaml", "fada_bench/weights/models.json",
                 "fada_bench/weights/synthetic/inverse_renderer.safetensors", "fada_bench/data/paper_tables.yaml"):
        assert must in names, f"{must} is not in {wheel.name}"
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fada_bench" / "weights" / "models").iterdir()}
    assert shipped <= names, sorted(shipped - names)
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)

    target = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)])
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FADA_BENCH_")}
    env.update(PYTHONPATH=str(target), FADA_BENCH_CACHE=str(tmp_path / "cache"))

    where = _run([sys.executable, "-c", "import fada, fada_bench; print(fada.__file__); print(fada_bench.__file__)"],
                 env=env, cwd=work).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where), where

    cli = [sys.executable, "-m", "fada_bench.cli"]
    listed = _run(cli + ["list", "methods"], env=env, cwd=work).stdout
    assert "fada_fast" in listed and "teacher" in listed and "ground_truth" in listed
    out = work / "run"
    _run(cli + ["run", "--methods", "static,fada_fast", "--suite", "synthetic", "--limit", "1",
                "--metrics", "csim[synthetic]", "--out", str(out)], env=env, cwd=work)
    smp = pd.read_parquet(out / "samples.parquet").set_index("method")
    assert list(smp["status"]) == ["ok", "ok"], smp["error"].tolist()
    assert smp.loc["fada_fast", "nfe_per_window"] == 6
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.loc[summary["metric"] == "csim", "method"]) == {"static", "fada_fast"}
