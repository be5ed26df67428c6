"""The metric registry is the one catalogue of (metric key, backbone, worlds): the docs' table is
printed from it, and looking metrics up never imports the program that trains the synthetic
backbones."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TRAINING = "fada_bench.train_synthetic_backbones"

# In a fresh interpreter: no other test's imports or plugins in sys.modules or the registry.
PROBE = r"""
import importlib, json, pkgutil, sys
import fada_bench.metrics as metrics
from fada_bench.registry import METRICS, metric_available, metric_catalogue, metric_catalogue_markdown

# every metric module, and the synthetic and standard backbone packages with every port
names = [f"fada_bench.metrics.{m.name}" for m in pkgutil.iter_modules(metrics.__path__)]
names += ["fada_bench.metrics.backbones.synthetic", "fada_bench.metrics.backbones.standard"]
for name in names:
    importlib.import_module(name)
for key in METRICS.names():
    cls = METRICS.get(key)
    for world in ("synthetic", "real"):
        metric_available(cls, world)
print(json.dumps({"modules": [m for m in sys.modules if m.startswith("fada_bench.")], "markdown": metric_catalogue_markdown(),
                  "entries": [[e.key, e.name, e.backbone, list(e.worlds)] for e in metric_catalogue()]}))
"""


@pytest.fixture(scope="module")
def probe():
    env = {k: v for k, v in os.environ.items() if k != "FADA_BENCH_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_looking_up_every_metric_never_imports_the_backbone_training_program(probe):
    assert "fada_bench.metrics.backbones.synthetic" in probe["modules"]      # the probe did import them
    assert TRAINING not in probe["modules"], "a metric module imports the backbone training program"


def test_every_entry_names_its_backbone_in_its_key_and_a_known_world(probe):
    assert probe["entries"]
    for key, name, backbone, worlds in probe["entries"]:
        assert key == f"{name}[{backbone}]"
        assert worlds and set(worlds) <= {"synthetic", "real"}, (key, worlds)


def test_the_docs_table_is_the_catalogue(probe):
    doc = (REPO / "docs" / "metrics.md").read_text()
    start = doc.index("<!-- metric catalogue: `fada-bench list metrics --markdown` -->\n")
    start = doc.index("\n", start) + 1
    end = doc.index("<!-- end of metric catalogue -->")
    assert doc[start:end] == probe["markdown"], "docs/metrics.md: paste `fada-bench list metrics --markdown`"
