"""The user docs name files that exist and commands fada-bench has: a module moved, a result renamed or a
command renamed without its docs fails here."""
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


CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)           # code blocks and inline code
COMMAND = re.compile(r"fada-bench ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?(?![\w:-])")


def shown_commands(text: str) -> list[tuple[str, str | None]]:
    """`fada-bench NAME [SUBNAME]` wherever it appears in code (a word after NAME may be an argument)."""
    return [m.groups() for code in CODE.findall(text) for m in COMMAND.finditer(code)]


def unknown_commands(text: str) -> list[str]:
    import typer

    from fada_bench.cli import app

    commands = typer.main.get_command(app).commands
    unknown = []
    for name, sub in shown_commands(text):
        if name not in commands:
            unknown.append(name)
        elif sub and hasattr(commands[name], "commands") and sub not in commands[name].commands:   # a group's
            unknown.append(f"{name} {sub}")
    return unknown


@pytest.mark.parametrize("doc", [*DOCS, ROOT / "results/synthetic/reproduce.sh"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_a_doc_shows_exists(doc):
    text = doc.read_text() if doc.suffix == ".md" else f"```{doc.read_text()}```"     # a script is all code
    wrong = unknown_commands(text)
    assert not wrong, f"{doc.relative_to(ROOT)} shows commands fada-bench does not have: {wrong}"


def test_a_command_that_does_not_exist_is_found_in_code_only():
    text = ("Run `fada-bench rows list` and `fada-bench rows lst`, then\n```bash\nfada-bench ratio-probe R --out x\n"
            "fada-bench probe x\n```\nfada-bench imports every plugin (prose).")
    assert unknown_commands(text) == ["rows lst", "probe"]
