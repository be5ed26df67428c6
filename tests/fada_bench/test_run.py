"""`fada-bench run` end to end on a tiny synthetic suite: the contract's files, resume after
SIGKILL, failure isolation, the feature cache, storage errors and Ctrl-C."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fada.data.io import read_video
from fada.errors import InputError
from fada_bench.options import OptionError
from fada_bench.registry import METHODS, METRICS
from fada_bench.runner import RunConfig, run_benchmark
from fada_bench.store import RunStore, StorageError, sha256_file
from fada_bench.summary import SUMMARY_COLUMNS

from harness_toys import TOYS
from harness_util import bench_env, cli, subprocess_env

TOY_KEYS = [cls.key() for cls in TOYS.values()]
ANCHORS = ["ground_truth", "static"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The tiny suite's split file and world cache, and the toy metrics, for this module."""
    e = bench_env(tmp_path_factory.mktemp("bench"))
    old = {k: os.environ.get(k) for k in e}
    os.environ.update(e)
    added = [k for k, cls in TOYS.items() if k not in METRICS and METRICS.add(k, cls) is not None]
    yield e
    for k in added:
        METRICS.remove(k)
    for k, v in old.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def config(out, **kw):
    return RunConfig(**{"methods": ANCHORS, "suite": "synthetic", "out": Path(out), "metrics": list(TOYS), **kw})


@pytest.fixture(scope="module")
def finished(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    result = run_benchmark(config(out))
    return out, result


def read_summary(out):
    return pd.read_csv(Path(out) / "summary.csv")


# ---------------------------------------------------------------------------- the contract

def test_run_writes_the_contract_files(finished):
    out, result = finished
    assert result.n_failed == 0 and result.n_samples == 8
    run = json.loads((out / "run.json").read_text())
    assert {"config", "versions", "git", "hardware", "seeds"} <= set(run) and run["status"] == "finished"
    for m in ANCHORS:
        vids = sorted((out / "videos" / m).glob("*.mp4"))
        assert len(vids) == 4
        v = read_video(vids[0])             # audio required by default
        assert v.audio is not None and v.n_frames == 20
    smp = pd.read_parquet(out / "samples.parquet")
    assert len(smp) == 8 and set(smp["status"]) == {"ok"}
    for col in ["method", "sample", "gen_seconds", "score_seconds", "nfe_per_window", "nfe_total", "status",
                "error", "toy_brightness[toy]", "toy_motion_gap[toy]"]:
        assert col in smp.columns
    s = read_summary(out)
    assert list(s.columns) == SUMMARY_COLUMNS
    # the anchors report no NFE and no speed (they do not generate): only the metrics' rows
    assert sorted(zip(s.method, s.metric)) == sorted((m, k.split("[")[0]) for m in ANCHORS for k in TOY_KEYS)
    assert (s.ci95_low <= s["mean"] + 1e-12).all() and (s.ci95_high >= s["mean"] - 1e-12).all()
    assert (s.n == 4).all() and (s.n_failed == 0).all()
    sj = pd.DataFrame(json.loads((out / "summary.json").read_text()))
    pd.testing.assert_frame_equal(sj[SUMMARY_COLUMNS], s, check_dtype=False)


def test_values_match_an_independent_computation(finished):
    out, _ = finished
    smp = pd.read_parquet(out / "samples.parquet").set_index(["method", "sample"])
    s = read_summary(out).set_index(["method", "metric"])
    gt_files = {}
    for m in ANCHORS:
        thumbs_gen, thumbs_gt = [], []
        for path in sorted((out / "videos" / m).glob("*.mp4")):
            f = read_video(path).frames.astype(np.float64)
            assert smp.loc[(m, path.stem), "toy_brightness[toy]"] == pytest.approx(f.mean(), rel=1e-12)
            gt = gt_files.setdefault(path.stem, read_video(Path(os.environ["FADA_BENCH_CACHE"]).glob(
                f"synthetic/*/videos/{path.stem}.mp4").__next__()).frames.astype(np.float64))
            thumb = lambda x: x.mean(-1).reshape(len(x), 4, 16, 4, 16).mean(axis=(2, 4)).reshape(len(x), 16)  # noqa: E731
            thumbs_gen.append(thumb(f))
            thumbs_gt.append(thumb(gt))
        want = np.linalg.norm(np.concatenate(thumbs_gen).mean(0) - np.concatenate(thumbs_gt).mean(0))
        assert s.loc[(m, "toy_set_gap"), "mean"] == pytest.approx(want, rel=1e-9)
    # the ground truth moves like the ground truth, the static reference does not move at all
    assert s.loc[("ground_truth", "toy_motion_gap"), "mean"] < 0.2 * s.loc[("static", "toy_motion_gap"), "mean"]


def test_a_per_set_metrics_replicates_are_kept_and_pair_two_methods_in_rows_compare(finished, tmp_path):
    from fada_bench.metrics.stats import percentile_interval
    from fada_bench.row_compare import compare_rows
    from fada_bench.rows import read_row, save_rows
    from fada_bench.summary import REPLICATE_COLUMNS

    out, _ = finished
    reps = pd.read_csv(out / "bootstrap.csv")
    assert list(reps.columns) == REPLICATE_COLUMNS and set(reps["metric"]) == {"toy_set_gap"}
    s = read_summary(out).set_index(["method", "metric"])
    for m in ANCHORS:                    # the replicates are the ones the summary's interval came from
        r = reps[reps["method"] == m].sort_values("replicate")
        assert list(r["replicate"]) == list(range(200))
        row = s.loc[(m, "toy_set_gap")]
        assert tuple(percentile_interval(row["mean"], r["value"].to_numpy(), 4)) == \
            (row["mean"], row["ci95_low"], row["ci95_high"], 4)
    assert reps.groupby("method")["samples"].first().nunique() == 1     # both resampled the same 4 clips
    ra, rb = (read_row(p) for p in save_rows(out, tmp_path / "rows", ANCHORS))
    line = compare_rows(ra, rb).set_index("metric").loc["toy_set_gap"]
    diff = reps[reps["method"] == "ground_truth"]["value"].to_numpy() - reps[reps["method"] == "static"]["value"].to_numpy()
    assert line["n_paired"] == 4 and line["diff_mean"] == pytest.approx(line["a_mean"] - line["b_mean"])
    lo, hi = np.percentile(diff, [2.5, 97.5])
    assert line["diff_ci95_low"] == pytest.approx(min(lo, line["diff_mean"]))
    assert line["diff_ci95_high"] == pytest.approx(max(hi, line["diff_mean"]))


def test_no_metrics_still_writes_every_file(env, tmp_path):
    result = run_benchmark(config(tmp_path / "r", metrics=[], limit=2))
    assert result.n_failed == 0
    for f in ("run.json", "samples.parquet", "summary.csv", "summary.json"):
        assert (tmp_path / "r" / f).is_file()
    assert len(read_summary(tmp_path / "r")) == 0 and len(pd.read_parquet(tmp_path / "r" / "samples.parquet")) == 4


def test_unknown_names_are_input_errors_listing_known_ones(env, tmp_path):
    with pytest.raises(OptionError, match="fada_fast"):
        run_benchmark(config(tmp_path / "r", methods=["fada_fastt"]))
    with pytest.raises(OptionError, match="toy_brightness"):
        run_benchmark(config(tmp_path / "r", metrics=["toy_brightnes"]))
    assert not (tmp_path / "r").exists()     # nothing written before the names are checked


# ---------------------------------------------------------------------------- resume

@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_summary(env, finished, tmp_path):
    out = tmp_path / "killed"
    args = ["run", "--methods", "ground_truth,static", "--suite", "synthetic", "--metrics", ",".join(TOYS),
            "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "fada_bench", *args], env=subprocess_env(env, TOY_SLEEP="0.7"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("videos/*/*.mp4"))) < 3:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    store = RunStore(out)
    ids = sorted(v.stem for v in out.glob("videos/ground_truth/*.mp4"))
    done = {(m, sid): store.read_record(m, sid) for m in ANCHORS for sid in ids}
    done = {k: r for k, r in done.items() if r and set(r.get("scored", {})) == set(TOY_KEYS)}
    assert 0 < len(done) < 8, "the kill must land in the middle of the run"
    stamps = {k: (out / r["gen"]["video"]).stat().st_mtime_ns for k, r in done.items()}

    r2 = cli(args, env)
    assert r2.returncode == 0, r2.stderr
    pd.testing.assert_frame_equal(read_summary(out), read_summary(finished[0]))
    for k, r in done.items():      # finished samples were neither regenerated nor rescored
        assert (out / r["gen"]["video"]).stat().st_mtime_ns == stamps[k]
        assert store.read_record(*k)["scored"] == r["scored"]


def test_ctrl_c_keeps_finished_samples(env, finished, tmp_path, monkeypatch):
    from fada_bench.adapters.anchors import Static

    real, calls = Static.generate, []

    def interrupted(self, sample, seed):
        calls.append(sample.id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, sample, seed)

    monkeypatch.setattr(Static, "generate", interrupted)
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config(out))
    store = RunStore(out)
    kept = [store.read_record("static", sid) for sid in calls[:2]]
    assert all(r and set(r["scored"]) == set(TOY_KEYS) for r in kept)
    monkeypatch.setattr(Static, "generate", real)
    run_benchmark(config(out))
    pd.testing.assert_frame_equal(read_summary(out), read_summary(finished[0]))


# ---------------------------------------------------------------------------- failures

def test_a_failing_sample_is_recorded_and_the_run_goes_on(env, finished, tmp_path):
    folder = tmp_path / "hallo_videos"
    folder.mkdir()
    first = sorted((finished[0] / "videos" / "ground_truth").glob("*.mp4"))[0]
    shutil.copy(first, folder / first.name)
    (folder / "syn-test-00001.mp4").write_bytes(b"not a video")
    out = tmp_path / "r"
    result = run_benchmark(config(out, methods=["hallo", "static"], method_folders={"hallo": folder}))
    assert result.n_failed == 3 and not result.all_failed
    smp = pd.read_parquet(out / "samples.parquet").set_index(["method", "sample"])
    assert smp.loc[("hallo", first.stem), "status"] == "ok"
    assert "not a readable video" in smp.loc[("hallo", "syn-test-00001"), "error"]
    assert "no video for sample syn-test-00002" in smp.loc[("hallo", "syn-test-00002"), "error"]
    assert (smp.xs("static")["status"] == "ok").all()
    s = read_summary(out).set_index(["method", "metric"])
    assert s.loc[("hallo", "toy_brightness"), ["n", "n_failed"]].tolist() == [1, 3]


@pytest.mark.slow
def test_exit_codes_warn_on_some_failures_and_fail_when_all_fail(env, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["run", "--suite", "synthetic", "--limit", "2", "--metrics", "none", "--method-folder", f"hallo={empty}"]
    some = cli([*base, "--methods", "hallo,static", "--out", str(tmp_path / "a")], env)
    assert some.returncode == 0 and "warning" in some.stderr and "2 of 4 samples failed" in some.stderr
    every = cli([*base, "--methods", "hallo", "--out", str(tmp_path / "b")], env)
    assert every.returncode == 2 and "Traceback" not in every.stderr
    assert (tmp_path / "b" / "summary.csv").is_file()


def test_fada_method_without_checkpoint_fails_each_sample_with_the_fix(env, tmp_path, monkeypatch):
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "no_checkpoints"))
    # perflow: a row that is trained by `fada-bench sweep`, never shipped (so no fallback applies)
    result = run_benchmark(config(tmp_path / "r", methods=["perflow"], metrics=[], limit=2))
    assert result.all_failed
    for _, _, err in result.failures:
        assert "no_checkpoints/perflow_tiny/model" in err and "fada-bench train perflow_tiny" in err


def test_vae_roundtrip_is_the_ground_truth_through_the_checkpoints_vae(env, tmp_path, monkeypatch):
    import cv2
    import torch

    from fada.models.bundle import build_models, decode_latents, encode_images
    from fada_bench.adapters import RunContext, make_adapter
    from fada_bench.suites import make_suite

    models = build_models("tiny", seed=0)
    models.save(tmp_path / "runs" / "teacher_tiny" / "model")
    monkeypatch.setenv("FADA_BENCH_CHECKPOINTS", str(tmp_path / "runs"))
    adapter = make_adapter(METHODS.get("vae_roundtrip"), RunContext())
    adapter.setup()
    suite = make_suite("synthetic")
    suite.prepare(suite.ids()[:1])
    sample = suite.sample(suite.ids()[0])
    got = adapter.generate(sample, seed=0).video.frames
    gt = sample.ground_truth().frames
    assert got.shape == gt.shape                       # back at the suite's size
    # Independently: one frame through the same VAE at 64 px and back.
    small = cv2.resize(gt[3], (64, 64), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(small[None]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        y = decode_latents(models.vae, encode_images(models.vae, x))[0]
    want = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    want = cv2.resize(want, gt.shape[2:0:-1], interpolation=cv2.INTER_CUBIC)
    assert np.abs(got[3].astype(float) - want).mean() < 0.5 < np.abs(got[3].astype(float) - gt[3]).mean()


# ---------------------------------------------------------------------------- caches

def test_corrupt_cached_files_are_detected_and_redone(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    store = RunStore(out)
    feats = sorted((out / "features").glob("toy_set_gap*/*.npz"))
    garbage, tampered = feats[0], feats[1]
    keep = {p: store.load_features("toy_set_gap[toy]", p.stem) for p in (garbage, tampered)}
    garbage.write_bytes(b"\x00" * 100)
    z = dict(np.load(tampered))
    z["features"] = z["features"] + 1.0           # same shape, wrong content: the hash tells
    np.savez(tampered, **z)
    video = out / "videos" / "static" / "syn-test-00000.mp4"
    sha = sha256_file(video)
    video.write_bytes(b"broken")
    assert store.load_features("toy_set_gap[toy]", garbage.stem) is None
    assert store.load_features("toy_set_gap[toy]", tampered.stem) is None

    run_benchmark(config(out))
    pd.testing.assert_frame_equal(read_summary(out), read_summary(finished[0]))
    for p, arr in keep.items():
        np.testing.assert_array_equal(store.load_features("toy_set_gap[toy]", p.stem), arr)
    assert sha256_file(video) == sha                # regenerated, byte-identical


def test_adding_a_metric_scores_only_that_metric(env, tmp_path, monkeypatch):
    from fada_bench.adapters.anchors import Static

    out = tmp_path / "r"
    run_benchmark(config(out, metrics=["toy_brightness"], limit=2))
    before = {p: p.stat().st_mtime_ns for p in out.glob("features/**/*.npz")}
    calls = []
    monkeypatch.setattr(Static, "generate", lambda *a: calls.append(a) or pytest.fail("regenerated"))
    monkeypatch.setattr(TOYS["toy_brightness"], "features", lambda *a: pytest.fail("rescored"))
    run_benchmark(config(out, metrics=["toy_brightness", "toy_motion_gap"], limit=2))
    assert not calls
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert len(list(out.glob("features/toy_motion_gap*/*.npz"))) == 6   # 2 x 2 videos + 2 ground truths
    assert set(read_summary(out)["metric"]) == {"toy_brightness", "toy_motion_gap"}


def test_a_run_naming_fewer_methods_keeps_the_others_samples_and_says_so(env, tmp_path):
    out = tmp_path / "r"
    first = run_benchmark(config(out, limit=2))
    assert first.not_summarised == []
    res = cli(["run", "--methods", "static", "--suite", "synthetic", "--limit", "2", "--out", str(out),
               "--metrics", ",".join(TOYS)], env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "also holds samples of ground_truth" in " ".join((res.stdout + res.stderr).split())
    assert set(read_summary(out)["method"]) == {"static"}
    assert (out / "records" / "ground_truth").is_dir()          # kept on disk
    again = run_benchmark(config(out, limit=2))                  # and back when named again
    assert again.not_summarised == [] and set(read_summary(out)["method"]) == set(ANCHORS)


# ---------------------------------------------------------------------------- storage

def _no_temp_files(out: Path):
    return [p for p in out.rglob("*") if ".tmp" in p.name]


def test_read_only_output_folder_fails_before_any_work(env, tmp_path, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:   # root ignores permissions: make every write inside the folder fail as a read-only one would
        real = Path.write_bytes

        def refuse(self, data):
            if str(self).startswith(str(out)):
                raise OSError(errno.EROFS, "Read-only file system", str(self))
            return real(self, data)
        monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(StorageError, match="read-only|permission denied"):
        run_benchmark(config(out, limit=1))
    assert list(out.iterdir()) == []


def test_full_disk_mid_run_is_a_clear_error_and_leaves_nothing_half_written(env, finished, tmp_path, monkeypatch):
    out = tmp_path / "full"
    real, n = Path.write_bytes, []

    def fill_up(self, data):
        if str(self).startswith(str(out)):
            n.append(self)
            if len(n) > 5:      # the probe, run.json and a few records get through, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", fill_up)
    with pytest.raises(StorageError, match="disk is full"):
        run_benchmark(config(out))
    assert _no_temp_files(out) == []
    for p in out.rglob("*.json"):
        json.loads(p.read_text())                   # every file there is whole
    monkeypatch.setattr(Path, "write_bytes", real)
    run_benchmark(config(out))                      # and the run resumes once there is space
    pd.testing.assert_frame_equal(read_summary(out), read_summary(finished[0]))


def test_resuming_with_another_suite_seed_or_dtype_is_refused(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    with pytest.raises(InputError, match="same --suite, --seed and --dtype"):
        run_benchmark(config(out, seed=1))
    with pytest.raises(InputError, match="in fp32; resume it with the same --suite, --seed and --dtype"):
        run_benchmark(config(out, dtype="bf16"))
    made = json.loads((finished[0] / "run.json").read_text())["config"]
    assert (made["dtype"], made["compile"]) == ("fp32", False)


def test_a_run_folder_from_before_dtype_was_recorded_resumes_as_fp32(finished, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(finished[0], out)
    info = json.loads((out / "run.json").read_text())
    del info["config"]["dtype"], info["config"]["compile"]
    (out / "run.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match="in fp32; resume it"):
        run_benchmark(config(out, dtype="bf16"))
    before = {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")}
    assert run_benchmark(config(out)).n_failed == 0
    assert before == {p: p.stat().st_mtime_ns for p in (out / "videos").rglob("*.mp4")}     # nothing redone


@pytest.mark.slow
def test_two_processes_give_the_single_process_summary(env, finished, tmp_path):
    out = tmp_path / "two"
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "fada_bench.cli",
                        "run", "--methods", "ground_truth,static", "--suite", "synthetic", "--metrics", ",".join(TOYS),
                        "--out", str(out)], env=subprocess_env(env), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])   # the CLI prints its errors to stdout
    assert json.loads((out / "run.json").read_text())["config"]["processes"] == 2
    pd.testing.assert_frame_equal(read_summary(out), read_summary(finished[0]))


# ---------------------------------------------------------------------------- prepared suites

def test_prepared_suite_errors_name_what_is_missing_and_the_fix(tmp_path, monkeypatch):
    from fada_bench.suites import make_suite

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FADA_BENCH_DATA", raising=False)
    with pytest.raises(InputError) as e:
        make_suite("hdtf")
    msg = str(e.value)
    assert "data/hdtf" in msg and "fada-bench data prepare hdtf" in msg and "fada-bench data split hdtf" in msg
    monkeypatch.setenv("FADA_BENCH_SPLITS", str(tmp_path / "no_splits"))
    (tmp_path / "data" / "celebvhq").mkdir(parents=True)
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "data" / "celebvhq" / "manifest.parquet")
    with pytest.raises(InputError, match="no celebvhq split file .*fada-bench data split celebvhq --data data/celebvhq"):
        make_suite("celebvhq")


def test_prepared_suite_runs_from_its_folder_and_split(env, tmp_path, monkeypatch):
    """A prepared folder has the synthetic world's manifest schema, so a rendered world stands in."""
    from fada.data.manifest import read_split, write_split
    from fada.data.synthetic.build import WorldConfig, build_world

    data = tmp_path / "hdtf"
    build_world(data, WorldConfig(n_train=0, n_test=2, n_openset=0, size=64, seed=4, seconds=0.8), workers=1)
    splits = tmp_path / "splits"
    write_split(splits / "hdtf.json", read_split(data / "splits" / "test.json"), dataset="hdtf")
    monkeypatch.setenv("FADA_BENCH_SPLITS", str(splits))
    result = run_benchmark(config(tmp_path / "r", suite="hdtf", data=data, methods=["static"],
                                  metrics=["toy_brightness"]))
    assert result.n_samples == 2 and result.n_failed == 0
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["config"]["suite_info"]["world"] == "real"


def test_openset_suite_takes_the_worlds_open_set_clips(env, tmp_path):
    from fada_bench.suites import make_suite

    suite = make_suite("openset")                       # alias of synthetic_openset
    assert suite.ids() == ["syn-openset-00000", "syn-openset-00001"]
    result = run_benchmark(config(tmp_path / "r", suite="synthetic_openset", methods=["static"], metrics=[], limit=1))
    assert result.n_failed == 0 and (tmp_path / "r" / "videos" / "static" / "syn-openset-00000.mp4").is_file()


# ---------------------------------------------------------------------------- command adapter

TOOL = '''
import sys, cv2, numpy as np, soundfile as sf
from fada.data.io import write_video
ref, audio, out, n, fps = sys.argv[1:6]
img = cv2.cvtColor(cv2.imread(ref), cv2.COLOR_BGR2RGB)
wav, sr = sf.read(audio)
assert sr == 16000 and len(wav) == round(int(n) * 16000 / float(fps)), (sr, len(wav))
write_video(out, np.repeat(255 - img[None], int(n) + 3, axis=0), float(fps))   # 3 frames too many: cut
'''


@pytest.mark.slow
def test_command_adapter_runs_a_tool_per_sample(env, tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    (tmp_path / "tool.py").write_text(TOOL)
    run = f"{sys.executable} {tmp_path / 'tool.py'} {{ref}} {{audio}} {{out}} {{n_frames}} {{fps}}"
    (cards / "invert.yaml").write_text(f'adapter: command\ncommand: "{run}"\n')
    (cards / "slow.yaml").write_text('adapter: command\ncommand: "sleep 30; touch {out}"\ntimeout_s: 1\n')
    (cards / "broken.yaml").write_text('adapter: command\ncommand: "echo bad model >&2; exit 3 # {out}"\n')
    out = tmp_path / "r"
    p = cli(["run", "--methods", "invert,slow,broken", "--suite", "synthetic", "--limit", "2", "--metrics",
             "toy_brightness", "--out", str(out)], env, FADA_BENCH_METHODS=str(cards))
    assert p.returncode == 0, p.stderr
    smp = pd.read_parquet(out / "samples.parquet").set_index(["method", "sample"])
    assert (smp.xs("invert")["status"] == "ok").all()
    assert smp.xs("slow")["error"].str.contains("ran past its timeout of 1 s").all()
    assert smp.xs("broken")["error"].str.contains("exited 3: bad model").all()
    v = read_video(out / "videos" / "invert" / "syn-test-00000.mp4")
    ref = read_video(next(Path(env["FADA_BENCH_CACHE"]).glob("synthetic/*/videos/syn-test-00000.mp4")), max_frames=1)
    assert v.n_frames == 20 and np.abs(v.frames[5].astype(int) - (255 - ref.frames[0].astype(int))).mean() < 3
    s = read_summary(out)
    speed = s[(s.method == "invert") & (s.metric == "sec_per_video_sec")]
    assert speed.backbone.tolist() == ["wallclock"] and speed["mean"].item() > 0


def _check_writable_many_times(root: str, n: int) -> None:
    from fada_bench.store import RunStore

    for _ in range(n):
        RunStore(Path(root)).check_writable()


def test_processes_checking_one_folder_at_once_do_not_trip_each_other(tmp_path):
    # Under torchrun every process checks the output folder at the same moment; one shared probe
    # file made one process delete the other's probe (CI's two-process run failed that way).
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_check_writable_many_times, args=(str(tmp_path), 300)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- drift (CI's step)

def test_check_rerun_repeats_the_baselines_run_and_catches_drift(env, finished, tmp_path):
    from fada_bench.drift import make_baseline

    base = tmp_path / "baseline.json"
    made = make_baseline(finished[0], base)
    assert made["made_from"]["metrics"] == TOY_KEYS and made["made_from"]["methods"] == ANCHORS
    # The rerun in two processes (torchrun): each takes its share of the samples, process 0 checks.
    ok = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "fada_bench.cli",
                         "check", str(tmp_path / "again"), "--baseline", str(base), "--rerun"],
                        env=subprocess_env(env), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout.count("within tolerance") == 1, (ok.stdout[-2000:], ok.stderr[-2000:])
    assert json.loads((tmp_path / "again" / "run.json").read_text())["config"]["processes"] == 2
    pd.testing.assert_frame_equal(read_summary(tmp_path / "again"), read_summary(finished[0]))
    b = json.loads(base.read_text())
    b["metrics"][0]["mean"] += 10 * b["metrics"][0]["tolerance"] + 1.0
    base.write_text(json.dumps(b))
    bad = cli(["check", str(tmp_path / "again"), "--baseline", str(base), "--rerun"], env)   # resumes: nothing redone
    assert bad.returncode == 1 and "DRIFT " + b["metrics"][0]["method"] in bad.stdout
