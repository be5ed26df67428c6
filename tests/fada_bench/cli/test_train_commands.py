"""`fada-bench train` and `train-cache build` take a recipe's frozen checkpoints (VAE, teacher)
from the shipped weights where none was trained here; what a row starts from stays as written."""
from pathlib import Path

from fada.train.recipe import load_recipe
from fada_bench.cli.train import with_shipped_fallbacks


def test_a_missing_teacher_is_the_shipped_one_and_a_trained_one_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("FADA_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FADA_BENCH_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)                  # no runs/ here: nothing trained
    r = with_shipped_fallbacks(load_recipe("perflow_tiny"))
    got = Path(r.objective.teacher)
    assert got.is_relative_to(tmp_path / "cache") and (got / "fada.json").is_file()

    cfg = with_shipped_fallbacks(load_recipe("cfg_layer_tiny"))
    assert cfg.parent == load_recipe("cfg_layer_tiny").parent == "runs/fada_balanced_tiny/model"

    trained = tmp_path / "runs" / "teacher_tiny" / "model"
    trained.mkdir(parents=True)
    (trained / "fada.json").write_text("{}")
    assert with_shipped_fallbacks(load_recipe("perflow_tiny")).objective.teacher == "runs/teacher_tiny/model"


def test_a_sweep_stopped_while_training_a_row_says_where_the_checkpoint_is(tmp_path, capsys):
    # `sweep` runs its training inside the run's progress display: a TrainingInterrupted (the
    # trainer saved a checkpoint at the step a SIGTERM stopped it) ends the command with the
    # signal's exit code and both messages: the samples kept and the checkpoint saved.
    import signal

    import pytest
    import typer

    from fada.train.interrupt import TrainingInterrupted
    from fada_bench.cli.common import _run_with_progress

    def job(advance, bars):
        raise TrainingInterrupted(37, signal.SIGTERM, tmp_path / "runs" / "adaptive_0p5_tiny" / "checkpoint")

    with pytest.raises(typer.Exit) as stopped:
        _run_with_progress(job, tmp_path / "sweep")
    assert stopped.value.exit_code == 143
    err = capsys.readouterr().err
    said, unwrapped = " ".join(err.split()), "".join(err.split())     # the console wraps long paths
    assert "finished samples are kept in" in said and "stopped by SIGTERM at step 37" in said
    assert f"{tmp_path / 'sweep'};" in unwrapped and "adaptive_0p5_tiny/checkpoint;runthesamecommandagain" in unwrapped
