"""The user docs name files that exist: a module moved or a result renamed without its docs fails here."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("results/*/README.md"),
               ROOT / "results/synthetic/CLAIMS.md"])
# a backticked path inside the repository; placeholders (RECIPE, METHOD, ...) and globs are not files
PATH = re.compile(r"`((?:fada|fada_bench|tests|benchmarks|results|docs|\.ci)/[^`\s]+)`")
PLACEHOLDER = re.compile(r"[A-Z]{2,}|[*{}]")


def named_paths(doc: Path) -> list[str]:
    found = (m.group(1).rstrip(".,:;)") for m in PATH.finditer(doc.read_text()))
    return [p.split("::")[0] for p in found if not PLACEHOLDER.search(p)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_names_exists(doc):
    missing = [p for p in named_paths(doc) if not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_path_pattern_finds_paths_and_skips_placeholders(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("see `fada/train/trainer.py`, `results/synthetic/rows/METHOD/` and `tests/x.py::test_a`.")
    assert named_paths(doc) == ["fada/train/trainer.py", "tests/x.py"]
