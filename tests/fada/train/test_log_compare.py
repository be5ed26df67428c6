"""Two runs' logged losses paired step by step: the median ratio and its interval, and the runs
that must not be paired (other caches or targets, steps computed live)."""
import json

import numpy as np
import pytest

from fada.errors import InputError
from fada.train.log_compare import compare_logs, median_interval


def write_run(folder, values, cache="k1", cached=None, key="L_distill", recipe=None):
    folder.mkdir(parents=True)
    lines = []
    for i, (step, v) in enumerate(values.items()):
        rec = {"step": step, "loss": 2 * v, key: v, "cached": int(cached(step) if cached else 1)}
        if i == 0:
            rec.update(threads=1, teacher_sha256="t" * 64, **({"target_cache": cache} if cache else {}))
        lines.append(json.dumps(rec))
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    if recipe is not None:
        (folder / "recipe.json").write_text(json.dumps(recipe))
    return folder


def test_the_median_interval_covers_the_median_as_often_as_it_says():
    # Monte Carlo against the nominal level, for a skewed distribution with a known median (1).
    rng = np.random.default_rng(0)
    hits = [lo <= 1.0 <= hi for lo, hi in (median_interval(np.exp(rng.normal(size=41) * 0.3)) for _ in range(3000))]
    assert 0.95 <= np.mean(hits) <= 0.985
    assert median_interval(np.arange(1.0, 6.0)) == (1.0, 5.0)      # 5 values: too few for a narrower one
    lo, hi = median_interval(np.arange(1.0, 101.0))
    assert (lo, hi) == (40.0, 61.0)            # the textbook ranks for n = 100 at 95%: x_(40) and x_(61)


def test_a_constant_ratio_is_found_and_swapping_the_runs_inverts_it(tmp_path):
    steps = range(10, 210, 10)
    b = {s: 0.01 + 0.001 * (s % 7) for s in steps}
    a = {s: 1.1 * v for s, v in b.items()}
    ra, rb = write_run(tmp_path / "a", a), write_run(tmp_path / "b", b)
    one = compare_logs(ra, rb)
    assert (one.steps, one.above, one.first, one.last, one.caveat) == (20, 20, 10, 200, "")
    assert one.median_ratio == pytest.approx(1.1) and one.low == pytest.approx(1.1) and one.high == pytest.approx(1.1)
    other = compare_logs(rb, ra, first=50, last=100)
    assert (other.steps, other.above) == (6, 0) and other.median_ratio == pytest.approx(1 / 1.1)
    assert "above at 0 of 6" in other.text("b", "a")


def test_steps_computed_live_are_not_paired(tmp_path):
    v = {s: 0.01 for s in range(1, 11)}
    ra = write_run(tmp_path / "a", v, cached=lambda s: s <= 4)
    rb = write_run(tmp_path / "b", v)
    assert compare_logs(ra, rb).steps == 4
    live = write_run(tmp_path / "live", v, cached=lambda s: False)
    with pytest.raises(InputError, match="did not read their teacher targets from a cache"):
        compare_logs(live, rb)


def test_runs_of_other_caches_or_targets_are_refused_and_missing_values_named(tmp_path):
    v = {s: 0.01 for s in range(1, 6)}
    with pytest.raises(InputError, match="different teacher-target caches"):
        compare_logs(write_run(tmp_path / "a", v, cache="k1"), write_run(tmp_path / "b", v, cache="k2"))
    with pytest.raises(InputError, match="records no 'L_gt'; it has L_distill, cached, loss"):
        compare_logs(tmp_path / "a", tmp_path / "a", key="L_gt")
    # Logs that predate the recorded key: their recipes say whether one cache could hold both.
    base = {"data": {"folder": "d", "tiers": ["A", "B"]}, "seed": 0, "optim": {"batch_size": 4},
            "objective": {"num_windows": 4, "phi_steps": 8, "cfg_mode": "none", "p_drop_audio": 0.1, "p_drop_both": 0.1}}
    guided = {**base, "objective": {**base["objective"], "cfg_mode": "layer_tokens", "cfg_a_range": [1, 8], "cfg_r_range": [1, 3]}}
    plain = write_run(tmp_path / "plain", v, cache=None, recipe=base)
    twin = write_run(tmp_path / "twin", v, cache=None, recipe={**base, "objective": {**base["objective"], "cfg_mode": "none"}})
    cfg = write_run(tmp_path / "cfg", v, cache=None, recipe=guided)
    assert "their recipes and teachers name the same targets" in compare_logs(plain, twin).caveat
    with pytest.raises(InputError, match="they differ in guidance"):
        compare_logs(plain, cfg)
    bare = write_run(tmp_path / "bare", v, cache=None)
    assert "assumes both read the same cache" in compare_logs(bare, plain).caveat
    (bare / "recipe.json").write_text("{not json")
    with pytest.raises(InputError, match="recipe.json: not a recipe the trainer wrote"):
        compare_logs(bare, plain)


def test_the_command_finds_runs_by_recipe_name_under_the_checkpoints_folder(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fada_bench.cli import app

    b = {s: 0.02 for s in range(10, 110, 10)}
    write_run(tmp_path / "runs" / "x_tiny", {s: 0.03 for s in b})
    write_run(tmp_path / "runs" / "y_tiny", b)
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    res = CliRunner().invoke(app, ["train-cache", "compare", "x_tiny", "y_tiny", "--from", "50"], terminal_width=300)
    assert res.exit_code == 0, res.output
    assert "median x_tiny / y_tiny = 1.5 [1.5, 1.5] over 6 logged steps (50-100)" in res.output
    assert "x_tiny above at 6 of 6" in res.output
