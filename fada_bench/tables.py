"""`fada-bench table --paper N RUN_DIR...`: the paper's table with our values beside its numbers.

RUN_DIR is a run folder or a folder of scored rows (`results/synthetic/rows`, see `rows.py`).

Rows are the paper's rows; a method card claims a row with its `paper` field, and the sanity
anchors (ground truth, static) are appended. Each paper column is followed by our matching
columns, one per run and metric key, headed with the metric's backbone and the run's suite
(`fid[synthetic] @synthetic`), each cell the mean and its 95% interval. A run of HDTF or CelebV-HQ
sits beside the paper's columns of that data set; a run of another suite (the synthetic world)
beside the last paper column of each metric. A value our run lacks is "-".

After the paper's columns comes a column group "beyond the paper": every metric of a run that the
paper does not report (a metric class with `paper = False`: CSIM, the paired landmark and
expression errors, long-video drift), headed `beyond the paper: lmd[synthetic] @synthetic`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from fada.errors import InputError
from fada.profiling import hardware_label

from .cards import MethodCard
from .registry import ADAPTERS, METHODS, METRICS

FORMATS = ("md", "csv", "latex")
BEYOND = "beyond the paper"


def beyond_the_paper(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(metric, backbone) of the summary's rows whose metric the paper does not report (its class
    says `paper = False`), in the summary's order. Rows of no registered metric (counted NFE,
    seconds) are not metrics of ours beyond the paper and are left out."""
    out = []
    for metric, backbone in summary[["metric", "backbone"]].drop_duplicates().itertuples(index=False):
        key = f"{metric}[{backbone}]"
        if key in METRICS and not METRICS.get(key).paper:
            out.append((metric, backbone))
    return out


def paper_tables() -> dict:
    return yaml.safe_load(resources.files("fada_bench").joinpath("data/paper_tables.yaml").read_text())


@dataclass
class Run:
    path: Path
    suite: str
    summary: pd.DataFrame
    label: str = ""
    devices: dict[str, str] = field(default_factory=dict)   # method -> where its wall-clock was measured

    def device_of(self, methods: list[str]) -> str:
        """The machines the given methods' wall-clock was measured on, each named once, in order:
        a table's speed column names those of the rows it shows, not of every row in the folder."""
        labels = list(dict.fromkeys(self.devices[m] for m in methods if m in self.devices))
        return "; ".join(labels) or "?"


def read_run(path: str | Path) -> Run:
    """A run folder (summary.csv, run.json), or a folder of scored rows (`rows.py`: their
    summaries combined, after checking they were measured alike)."""
    from .rows import is_rows_folder, read_rows, row_device, rows_summary

    path = Path(path)
    if is_rows_folder(path):
        rows = read_rows(path)
        return Run(path, str(rows[0].identity.get("suite") or "?"), rows_summary(rows),
                   devices={r.method: row_device(r) for r in rows})
    csv = path / "summary.csv"
    if not csv.is_file():
        raise InputError(f"{path} has no summary.csv: is it a run folder? Finish the run with "
                         f"`fada-bench run ... --out {path}`")
    suite, device = "?", "?"
    try:
        info = json.loads((path / "run.json").read_text())
        suite = info["config"]["suite"]
        device = hardware_label(info.get("hardware", {}), info["config"].get("device", "cpu"))
    except (OSError, ValueError, KeyError, IndexError):
        pass
    summary = pd.read_csv(csv)
    return Run(path, suite, summary, devices=dict.fromkeys(summary["method"].unique(), device))


def _cell(rows: pd.DataFrame) -> str:
    if rows.empty or pd.isna(rows["mean"].iloc[0]):
        return "-"
    r = rows.iloc[0]
    text = f"{r['mean']:.4g} [{r['ci95_low']:.4g}, {r['ci95_high']:.4g}]"
    if r["n_failed"] > 0:
        text += f" (n={int(r['n'])}/{int(r['n'] + r['n_failed'])})"
    return text


def build_table(n: int, runs: list[Run], cards: list[MethodCard] | None = None) -> tuple[str, pd.DataFrame]:
    data = paper_tables()
    if n not in data["tables"]:
        raise InputError(f"the paper has tables {', '.join(map(str, data['tables']))}; got --paper {n}")
    spec, names = data["tables"][n], data["metrics"]
    cards = list(METHODS.items()) if cards is None else [(c.name, c) for c in cards]
    by_row = {p.row: name for name, c in cards for p in c.paper if p.table == n}
    anchors = [name for name, c in cards if ADAPTERS.get(c.adapter).anchor]
    shown = [by_row[row[0]] for row in spec["rows"] if row[0] in by_row] + anchors
    suites = [r.suite for r in runs]
    for r in runs:
        r.label = r.suite if suites.count(r.suite) == 1 else f"{r.suite}:{r.path.name}"

    # Our columns for each paper column: (header, run, metric name, backbone or None).
    paper_suites = {c.get("suite") for c in spec["columns"]}
    last_of_metric = {c["metric"]: i for i, c in enumerate(spec["columns"])}
    ours: dict[int, list[tuple[str, Run, str, str | None]]] = {}
    for i, col in enumerate(spec["columns"]):
        for r in runs:
            beside = r.suite == col.get("suite") or (
                r.suite not in paper_suites and i == last_of_metric[col["metric"]])
            if col.get("suite") is None and i == last_of_metric[col["metric"]]:
                beside = True     # a column for every data set (NFE-D): every run sits beside it
            if not beside:
                continue
            s = r.summary[r.summary["metric"].isin(names[col["metric"]])]
            keys = s[["metric", "backbone"]].drop_duplicates().itertuples(index=False)
            timed = set(s.loc[s["backbone"] == "wallclock", "method"])
            found = [(f"{m}[{b}] @{r.label}" + (f" on {r.device_of([x for x in shown if x in timed])}"
                                                  if b == "wallclock" else ""), r, m, b)
                     for m, b in keys]
            ours.setdefault(i, []).extend(found or [(f"{col['metric']} @{r.label}", r, "", None)])

    # The column group beyond the paper: one column per run and metric, after the paper's columns.
    beyond = [(f"{BEYOND}: {m}[{b}] @{r.label}", r, m, b) for r in runs for m, b in beyond_the_paper(r.summary)]
    ours[len(spec["columns"])] = beyond

    header = ["method", "card"]
    for i, col in enumerate(spec["columns"]):
        header.append(f"{col['label']} (paper)")
        header += [h for h, *_ in ours.get(i, [])]
    header += [h for h, *_ in beyond]

    def our_cells(method: str | None, i: int) -> list[str]:
        out = []
        for _, r, m, b in ours.get(i, []):
            if method is None or b is None:
                out.append("-")
                continue
            s = r.summary
            out.append(_cell(s[(s["method"] == method) & (s["metric"] == m) & (s["backbone"] == b)]))
        return out

    body = []
    for row in spec["rows"]:
        method = by_row.get(row[0])
        line = [row[0], method or "-"]
        for i, paper_value in enumerate(row[1:]):
            line += [paper_value, *our_cells(method, i)]
        body.append(line + our_cells(method, len(spec["columns"])))
    for method in anchors:
        if any(method in set(r.summary["method"]) for r in runs):
            line = [method.replace("_", " "), method]
            for i in range(len(spec["columns"])):
                line += ["-", *our_cells(method, i)]
            body.append(line + our_cells(method, len(spec["columns"])))
    return spec["title"], pd.DataFrame(body, columns=header)


# ---------------------------------------------------------------------------- formats

def to_markdown(title: str, df: pd.DataFrame) -> str:
    esc = lambda s: str(s).replace("|", "\\|")   # noqa: E731
    lines = [f"**{title}**", "", "| " + " | ".join(map(esc, df.columns)) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_latex(title: str, df: pd.DataFrame) -> str:
    def esc(s) -> str:
        s = str(s)
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                     ("[", "{[}"), ("]", "{]}"), ("±", r"$\pm$")):
            s = s.replace(a, b)
        return s
    lines = [r"\begin{table}", r"\centering", f"\\caption{{{esc(title)}}}",
             r"\begin{tabular}{l" + "l" * (len(df.columns) - 1) + "}", r"\hline",
             " & ".join(map(esc, df.columns)) + r" \\", r"\hline"]
    lines += [" & ".join(map(esc, row)) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def ours_only(df: pd.DataFrame) -> pd.DataFrame:
    """Our columns only, and only the rows with a value of ours: the compact form (README)."""
    cols = [c for c in df.columns if c != "card" and not c.endswith("(paper)")]
    mine = [c for c in cols if c != "method"]
    keep = (df[mine] != "-").any(axis=1)
    return df.loc[keep, cols].reset_index(drop=True)


def render(n: int, run_dirs: list[Path], fmt: str = "md", only_ours: bool = False) -> str:
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    title, df = build_table(n, [read_run(p) for p in run_dirs])
    cards = tuple(df["card"])
    if only_ours:
        df = ours_only(df)
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "latex":
        return to_latex(title, df)
    # Students distilled from another teacher than the Teacher row's checkpoint (scored rows record
    # both) are not the table's ablation: say so under it.
    from .rows import lineage, same_teacher

    alike, lines = same_teacher(lineage(run_dirs), cards)
    return to_markdown(title, df) + ("" if alike else f"\n{lines[0]}\n")
