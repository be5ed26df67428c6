"""Registry lookups and method cards: helpful errors, include/override, the shipped cards."""
import textwrap

import pytest

from fada.errors import InputError
from fada_bench.cards import CardError, load_cards, parse_card
from fada_bench.metrics.base import BenchMetric
from fada_bench.registry import METHODS, METRICS, SUITES, Registry, UnknownNameError, register_metric


def test_unknown_name_lists_known_names_and_close_matches():
    reg = Registry("widget")
    reg.add("fada_fast", 1)
    reg.add("teacher", 2)
    with pytest.raises(UnknownNameError) as e:
        reg.get("fada_fastt")
    msg = str(e.value)
    assert "did you mean fada_fast" in msg and "teacher" in msg
    assert isinstance(e.value, InputError)   # printed without a traceback by the CLI


def test_duplicate_names_and_aliases_are_refused():
    reg = Registry("widget")
    reg.add("a", 1, aliases=["b"])
    with pytest.raises(ValueError, match="duplicate widget name 'a'"):
        reg.add("a", 2)
    with pytest.raises(ValueError, match="already registered for 'a'"):
        reg.add("c", 3, aliases=["b"])
    assert reg.get("b") == 1 and reg.names() == ["a"]


def test_register_metric_takes_only_bench_metrics_and_refuses_duplicates():
    with pytest.raises(TypeError):
        register_metric("not_a_metric")(object)

    class Toy(BenchMetric):
        name, backbone, per_sample, higher_is_better = "toy_reg", "toy", True, True

    try:
        register_metric("toy_reg")(Toy)
        assert METRICS.get("toy_reg") is Toy
        with pytest.raises(ValueError, match="duplicate"):
            register_metric("toy_reg")(Toy)
    finally:
        METRICS.remove("toy_reg")
    assert "toy_reg" not in METRICS


def test_shipped_cards_cover_the_paper_and_the_anchors():
    names = set(METHODS.names())
    for m in ("teacher", "teacher_b", "fada_balanced", "fada_fast", "tcd", "rflow", "perflow", "ground_truth",
              "static", "sadtalker", "hallo", "echomimic", "v_express"):
        assert m in names
    # every row of Tables 1-4 is claimed by exactly one card
    import yaml
    from importlib import resources
    tables = yaml.safe_load(resources.files("fada_bench").joinpath("data/paper_tables.yaml").read_text())["tables"]
    claims = [(p.table, p.row) for _, c in METHODS.items() for p in c.paper]
    assert len(claims) == len(set(claims))
    for n, t in tables.items():
        for row in t["rows"]:
            assert (n, row[0]) in claims, (n, row[0])


def test_aliases_name_the_same_run():
    assert METHODS.canonical("adaptive_0p25") == "fada_balanced"
    assert METHODS.canonical("cfg_layer_tokens") == "fada_fast"
    assert METHODS.canonical("student_a") == "perflow"
    assert METHODS.get("fada_fast").cfg.mode == "layer_tokens"


def test_fada_4_is_fada_fasts_student_at_one_counted_step_per_window():
    # The card beyond the paper changes only the sampling: FADA-Fast's checkpoint and guidance, one
    # PeRFlow step in each of the K = 4 windows; the pipeline it drives counts its declared calls.
    import numpy as np

    from fada.cfg_modes import CFG_MODES
    from fada.models.bundle import load_models
    from fada.pipeline import FadaPipeline
    from fada.schedulers.scheduling_perflow import window_step_counts
    from fada_bench.weight_files import shipped

    four, fast = METHODS.get("fada_4"), METHODS.get("fada_fast")
    assert (four.checkpoint, four.sampler, four.cfg) == (fast.checkpoint, fast.sampler, fast.cfg)
    assert window_step_counts(four.steps, 4) == [1, 1, 1, 1]
    pipe = FadaPipeline(load_models(shipped.model_folder(four.checkpoint)))
    rng = np.random.default_rng(0)
    out = pipe(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (rng.standard_normal(16000) * 0.1).astype(np.float32),
               8, sampler=four.sampler, steps=four.steps, guidance=CFG_MODES.get(four.cfg.mode).guidance,
               cfg_a=four.cfg.audio, cfg_r=four.cfg.ref)
    assert out.nfe_per_window == four.expected_nfe == 4


def test_unknown_suite_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="synthetic"):
        SUITES.get("hdtff")


def write(folder, name, text):
    p = folder / f"{name}.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_card_with_an_unknown_field_names_file_and_field(tmp_path):
    p = write(tmp_path, "mine", """
        adapter: fada
        checkpoint: x
        sampler: ddim
        stepz: 25
    """)
    with pytest.raises(CardError) as e:
        parse_card(p, [tmp_path])
    assert str(p) in str(e.value) and "'stepz'" in str(e.value) and "did you mean 'steps'" in str(e.value)


@pytest.mark.parametrize("body,field", [
    ("adapter: fada\ncheckpoint: x\nsampler: ddim\nsteps: six\n", "steps"),
    ("adapter: fada\ncheckpoint: x\nsampler: euler\nsteps: 6\n", "sampler"),
    ("adapter: fada\ncheckpoint: x\nsampler: ddim\nsteps: 6\ncfg: {mode: multi, audio: 6.5}\n", "cfg"),
    ("adapter: fada\nsampler: ddim\nsteps: 6\n", "checkpoint"),
    ("adapter: paint\n", "adapter"),
    ("adapter: static\nsteps: 6\n", "steps"),
    ("adapter: command\ncommand: tool {ref} {oops} > {out}\n", "command"),
    ("adapter: command\ncommand: tool {ref}\n", "command"),
    ("adapter: static\nname: other\n", "name"),
])
def test_card_with_a_wrong_value_names_the_field(tmp_path, body, field):
    p = tmp_path / "mine.yaml"
    p.write_text(body)
    with pytest.raises(CardError, match=f"mine.yaml: field '{field}'"):
        parse_card(p, [tmp_path])


def test_include_then_override(tmp_path):
    write(tmp_path, "base", """
        description: parent
        adapter: fada
        checkpoint: base_ckpt
        sampler: perflow
        steps: 6
        cfg: {mode: multi, audio: 6.5, ref: 2.5}
        aliases: [base_alias]
        paper: [{table: 2, row: PeRFlow}]
    """)
    p = write(tmp_path, "child", """
        include: base.yaml
        checkpoint: child_ckpt
        cfg: {ref: 2.0}
    """)
    c = parse_card(p, [tmp_path])
    assert (c.name, c.checkpoint, c.sampler, c.steps, c.description) == ("child", "child_ckpt", "perflow", 6, "parent")
    assert (c.cfg.mode, c.cfg.audio, c.cfg.ref) == ("multi", 6.5, 2.0)
    assert c.aliases == () and c.paper == ()          # they describe the parent card only
    assert c.fingerprint() != parse_card(tmp_path / "base.yaml", [tmp_path]).fingerprint()


def test_include_cycle_and_missing_parent_are_errors(tmp_path):
    write(tmp_path, "a", "include: b.yaml\nadapter: static\n")
    write(tmp_path, "b", "include: a.yaml\nadapter: static\n")
    with pytest.raises(CardError, match="includes itself"):
        parse_card(tmp_path / "a.yaml", [tmp_path])
    write(tmp_path, "c", "include: nowhere.yaml\nadapter: static\n")
    with pytest.raises(CardError, match="field 'include'"):
        parse_card(tmp_path / "c.yaml", [tmp_path])


def test_two_cards_of_one_name_in_two_folders_are_an_error(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    write(tmp_path / "x", "same", "adapter: static\n")
    write(tmp_path / "y", "same", "adapter: ground_truth\n")
    with pytest.raises(CardError, match="also defined by"):
        load_cards([tmp_path / "x", tmp_path / "y"])
