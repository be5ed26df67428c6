"""The user docs name files, Python names, commands and options that exist: a module moved, a result,
function or command renamed without its docs fails here."""
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


DOTTED = re.compile(r"`((?:fada|fada_bench)(?:\.[A-Za-z_]\w*)+)")   # `fada.train.ratio_log.probe_ratios`


def missing_names(doc: Path) -> list[str]:
    """The dotted Python names in code that neither import as a module nor are an attribute of one."""
    import importlib

    missing = []
    for name in DOTTED.findall(doc.read_text()):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):              # the longest prefix that imports
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                missing.append(name)
                break
            obj = getattr(obj, attr)
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_name_a_doc_gives_exists(doc):
    missing = missing_names(doc)
    assert not missing, f"{doc.relative_to(ROOT)} names what the package does not have: {missing}"


def test_a_python_name_that_does_not_exist_is_found(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("`fada.train.ratio_log.probe_ratios`, `fada.schedulers.PeRFlowScheduler`, `fada.train.ratio_log.probe`")
    assert missing_names(doc) == ["fada.train.ratio_log.probe"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_names_exists(doc):
    missing = [p for p in named_paths(doc) if not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_path_pattern_finds_paths_and_skips_placeholders(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("see `fada/train/trainer.py`, `results/synthetic/rows/METHOD/` and `tests/x.py::test_a`.")
    assert named_paths(doc) == ["fada/train/trainer.py", "tests/x.py"]


CODE = re.compile(r"```.*?```|`[^`]+`", re.S)    # code blocks, and inline code (which may wrap a line)
COMMAND = re.compile(r"fada-bench ([a-z][a-z0-9-]*)(?![\w:-])((?:\\\n|[^`\n|;&])*)")   # to the command's end
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def unknown_commands(text: str) -> list[str]:
    """What `fada-bench NAME [SUBNAME] ... --option` shown in code names that fada-bench does not have."""
    import typer

    from fada_bench.cli import app

    commands = typer.main.get_command(app).commands
    unknown = []
    for code in CODE.findall(text):
        if not code.startswith("```"):
            code = code.replace("\n", " ")                  # a wrapped line inside inline code is a space
        for m in COMMAND.finditer(code):
            name, rest = m.group(1), m.group(2)
            if name not in commands:
                unknown.append(name)
                continue
            command, words = commands[name], rest.split()
            if hasattr(command, "commands"):                  # a group: its first word is the subcommand
                if words and words[0] not in command.commands and not words[0].startswith("-"):
                    unknown.append(f"{name} {words[0]}")
                    continue
                command = command.commands.get(words[0] if words else "", command)
            options = {"--help"} | {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
            unknown += [f"{name} {o}" for o in OPTION.findall(rest) if o not in options]
    return unknown


@pytest.mark.parametrize("doc", [*DOCS, ROOT / "results/synthetic/reproduce.sh"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_a_doc_shows_exists(doc):
    text = doc.read_text() if doc.suffix == ".md" else f"```{doc.read_text()}```"     # a script is all code
    wrong = unknown_commands(text)
    assert not wrong, f"{doc.relative_to(ROOT)} shows commands fada-bench does not have: {wrong}"


def test_a_command_or_option_that_does_not_exist_is_found_in_code_only():
    text = ("Run `fada-bench rows list` and `fada-bench rows\nlst`, then\n```bash\n"
            "fada-bench ratio-probe fada_balanced_tiny --clips 8 \\\n  --out x.csv --clip 3\nfada-bench probe x\n```\n"
            "fada-bench imports every plugin (prose, --nothing).")
    assert unknown_commands(text) == ["rows lst", "ratio-probe --clip", "probe"]
