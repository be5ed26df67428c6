"""Plugins: an installed distribution's `fada_bench.plugins` entry point registers an adapter kind
that a card outside the repository uses, in `list` and in `run`. The plugin and its card are the
ones docs/plugins.md shows, read from the doc, so the doc cannot drift from what works."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fada.data.io import read_video
from fada_bench.cards import CardError, parse_card
from fada_bench.registry import ADAPTERS

from harness_util import bench_env

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"


def doc_block(lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, f"docs/plugins.md should have one {lang} block, has {len(blocks)}"
    return blocks[0]


def make_distribution(site: Path, name: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """A distribution as pip leaves it: its modules and a dist-info with entry_points.txt."""
    site.mkdir(parents=True, exist_ok=True)
    for mod, code in modules.items():
        (site / f"{mod}.py").write_text(code)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[fada_bench.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))


def fada_bench(args, env, cwd):
    e = {k: v for k, v in os.environ.items() if k != "FADA_BENCH_PLUGINS"}
    e.update(env)
    return subprocess.run([sys.executable, "-m", "fada_bench.cli", *args], env=e, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_the_documented_plugin_is_short_and_its_entry_point_is_the_group():
    code, toml = doc_block("python"), doc_block("toml")
    assert len(code.strip().splitlines()) + len(toml.strip().splitlines()) <= 30
    assert '[project.entry-points."fada_bench.plugins"]' in toml
    assert "from fada_bench import" in code      # only the public API


def test_the_readme_shows_the_same_plugin_as_the_doc():
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^#+ Add your method\n(.*?)(?=^#+ |\Z)", readme, re.S | re.M)
    assert section, "README.md has no 'Add your method' section"
    for lang in ("python", "toml", "yaml"):
        assert re.findall(rf"```{lang}\n(.*?)```", section.group(1), re.S) == [doc_block(lang)]


def test_an_entry_point_plugin_adds_an_adapter_kind_that_an_outside_card_lists_and_runs(tmp_path):
    site, cards, work = tmp_path / "site", tmp_path / "my-methods", tmp_path / "work"
    module = re.search(r'(\w+) = "(\w+)"', doc_block("toml"))
    kind, mod = module.group(1), module.group(2)
    make_distribution(site, "fada_bench_nod", {mod: doc_block("python")}, {kind: mod})
    cards.mkdir()
    (cards / f"{kind}.yaml").write_text(doc_block("yaml"))
    work.mkdir()
    env = {**bench_env(tmp_path), "FADA_BENCH_METHODS": str(cards),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}

    res = fada_bench(["list", "adapters"], env, work)
    assert res.returncode == 0, res.stderr
    assert re.search(rf"^{kind}\s.*options.*\b{mod}\b", res.stdout, re.M), res.stdout
    res = fada_bench(["list", "methods"], env, work)
    assert res.returncode == 0, res.stderr
    assert re.search(rf"^{kind}\s+{kind}\s", res.stdout, re.M), res.stdout

    out = tmp_path / "run"
    res = fada_bench(["run", "--methods", f"{kind},static", "--suite", "synthetic", "--limit", "1",
                      "--metrics", "none", "--out", str(out)], env, work)
    assert res.returncode == 0, res.stdout + res.stderr
    smp = pd.read_parquet(out / "samples.parquet").set_index("method")
    assert smp.loc[kind, "status"] == "ok", smp.loc[kind, "error"]
    # Independently of the plugin's code: each frame is the reference moved down by 0..pixels rows
    # (at most 3, the card's option), and the loudest frame by the full amount.
    static = read_video(next((out / "videos" / "static").glob("*.mp4"))).frames.astype(float)
    nod = read_video(next((out / "videos" / kind).glob("*.mp4"))).frames.astype(float)
    ref = static[0]
    errs = np.array([[np.abs(f - np.roll(ref, s, axis=0)).mean() for s in range(6)] for f in nod])
    best = errs.argmin(1)
    assert best.max() == 3 and best.min() >= 0 and len(set(best)) > 1, best
    assert np.all(errs.min(1) < 0.5 * np.median(errs, 1)), errs


def test_a_plugin_that_fails_to_import_stops_the_command_naming_it(tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "broken_plugin", {"broken_mod": "raise RuntimeError('needs a GPU driver')\n"},
                      {"broken": "broken_mod"})
    res = fada_bench(["list", "methods"], {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}, tmp_path)
    assert res.returncode == 2
    msg = " ".join(res.stderr.split())
    assert "plugin 'broken' (entry point broken = broken_mod of broken_plugin) failed to load" in msg
    assert "RuntimeError: needs a GPU driver" in msg


def test_a_plugin_reusing_a_packaged_name_is_refused_naming_both(tmp_path):
    site = tmp_path / "site"
    code = ("from fada_bench import ADAPTERS, Adapter\n\n\n@ADAPTERS.register('static')\n"
            "class Mine(Adapter):\n    pass\n")
    make_distribution(site, "dup_plugin", {"dup_mod": code}, {"dup": "dup_mod"})
    res = fada_bench(["list", "adapters"], {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}, tmp_path)
    assert res.returncode == 2
    msg = " ".join(res.stderr.split())
    assert "plugin 'dup'" in msg and "duplicate adapter name 'static'" in msg


def test_the_public_api_is_importable_from_the_package():
    import fada_bench
    from fada_bench.adapters import Adapter, with_sample_audio
    from fada_bench.registry import METRICS, SUITES
    from fada_bench.types import Generation, Sample

    assert (fada_bench.Adapter, fada_bench.with_sample_audio, fada_bench.Generation, fada_bench.Sample) == \
        (Adapter, with_sample_audio, Generation, Sample)
    assert (fada_bench.ADAPTERS, fada_bench.METRICS, fada_bench.SUITES) == (ADAPTERS, METRICS, SUITES)


# ---------------------------------------------------------------------------- cards ask the adapter

@pytest.fixture
def toy_kind():
    from fada_bench import Adapter

    class Toy(Adapter):
        requires = ("folder",)
        accepts = ("options",)

    ADAPTERS.add("toy_kind", Toy)
    yield Toy
    ADAPTERS.remove("toy_kind")


def test_a_card_is_checked_against_the_fields_its_adapter_declares(tmp_path, toy_kind):
    card = tmp_path / "mine.yaml"
    card.write_text("adapter: toy_kind\nfolder: x\noptions: {pixels: 2}\n")
    assert parse_card(card, [tmp_path]).options == {"pixels": 2}
    card.write_text("adapter: toy_kind\noptions: {pixels: 2}\n")
    with pytest.raises(CardError, match=r"mine.yaml: field 'folder': required by adapter toy_kind"):
        parse_card(card, [tmp_path])
    card.write_text("adapter: toy_kind\nfolder: x\nsteps: 4\n")
    with pytest.raises(CardError, match=r"field 'steps': not used by adapter toy_kind; remove it"):
        parse_card(card, [tmp_path])
    card.write_text("adapter: static\noptions: {pixels: 2}\n")
    with pytest.raises(CardError, match=r"field 'options': not used by adapter static"):
        parse_card(card, [tmp_path])


def test_an_unknown_kind_names_the_registered_ones_and_the_closest(tmp_path, toy_kind):
    card = tmp_path / "mine.yaml"
    card.write_text("adapter: toy_knd\n")
    with pytest.raises(CardError, match=r"field 'adapter': unknown adapter 'toy_knd'; did you mean toy_kind\?"
                                        r".*Known adapters: .*static.*toy_kind"):
        parse_card(card, [tmp_path])
    card.write_text("adapter: fada\ncheckpoint: x\nsteps: 4\nsampler: ddmi\n")
    with pytest.raises(CardError, match=r"field 'sampler': unknown sampler 'ddmi'; did you mean ddim\?"):
        parse_card(card, [tmp_path])
