"""The weights registry: lookup with clear errors, checksums, and a resumable fetch tested
against a server on 127.0.0.1 that the test starts (nothing leaves the machine)."""
from __future__ import annotations

import hashlib

import pytest

from fada.errors import InputError
from fada_bench.weight_files import standard as wr

from local_server import PAYLOAD, SHA, LocalServer


@pytest.fixture
def dirs(empty_weight_dirs):
    return empty_weight_dirs


@pytest.fixture
def entry(monkeypatch):
    e = wr.WeightEntry(name="test_file", filename="test.bin", backbone="test", url=None,
                       sha256=SHA, sha256_prefix=None, how_to_get="the test")
    monkeypatch.setitem(wr.ENTRIES, e.name, e)
    return e


def test_every_entry_is_complete():
    for e in wr.ENTRIES.values():
        assert e.filename and e.backbone and e.how_to_get
        assert e.url or e.how_to_get
        assert e.sha256 is None or len(e.sha256) == 64
    # pytorch-fid's file name carries its sha256 prefix (torch.hub's naming rule)
    assert wr.ENTRIES["fid_inception"].filename.endswith(wr.ENTRIES["fid_inception"].sha256_prefix + ".pth")


def test_missing_file_error_names_file_places_and_command(dirs):
    env, home = dirs
    with pytest.raises(wr.WeightsError) as err:
        wr.find("syncnet_v2")
    msg = str(err.value)
    assert isinstance(err.value, InputError)
    assert "syncnet_v2.model" in msg and str(env) in msg and str(home / ".cache" / "fada-bench" / "weights") in msg
    assert "fada-bench weights fetch syncnet_v2" in msg


def test_file_without_a_download_link_says_where_to_get_it(dirs):
    with pytest.raises(wr.WeightsError, match="3D-ResNets-PyTorch"):
        wr.find("resnet3d50_kinetics400")


def test_found_in_env_dir_cache_or_given_path(dirs, tmp_path, entry):
    env, home = dirs
    cache = home / ".cache" / "fada-bench" / "weights"
    cache.mkdir(parents=True)
    (cache / "test.bin").write_bytes(PAYLOAD)
    assert wr.find("test_file") == cache / "test.bin"
    (env / "test.bin").write_bytes(PAYLOAD)
    assert wr.find("test_file") == env / "test.bin"          # $FADA_BENCH_WEIGHTS first
    own = tmp_path / "mine.bin"
    own.write_bytes(PAYLOAD)
    assert wr.find("test_file", own) == own                  # a file the user names
    assert wr.find("test_file", tmp_path / "weights") == env / "test.bin"   # or a folder


def test_bad_checksum_is_refused(dirs, entry):
    env, _ = dirs
    (env / "test.bin").write_bytes(PAYLOAD[:-1] + b"x")
    s = wr.verify("test_file")
    assert s.state == "bad checksum" and not s.verified
    with pytest.raises(wr.WeightsError, match="not the published test.bin"):
        wr.find("test_file")


def test_published_prefix_is_checked(dirs):
    env, _ = dirs
    (env / wr.ENTRIES["fid_inception"].filename).write_bytes(b"not the inception weights")
    assert wr.verify("fid_inception").state == "bad checksum"


def test_unverified_file_is_present_but_flagged(dirs):
    env, _ = dirs
    (env / "syncnet_v2.model").write_bytes(b"anything")
    s = wr.verify("syncnet_v2")
    assert s.state == "present" and not s.verified and "unverified" in s.detail


def test_status_lists_every_entry(dirs, entry):
    env, _ = dirs
    (env / "test.bin").write_bytes(PAYLOAD)
    states = {s.entry.name: s for s in wr.status()}
    assert set(states) == set(wr.ENTRIES)
    assert states["test_file"].state == "present" and states["test_file"].verified
    assert states["syncnet_v2"].state == "missing"


def test_sha256_is_chunked_and_correct(tmp_path):
    p = tmp_path / "big.bin"
    p.write_bytes(PAYLOAD * 3)
    assert wr.sha256_file(p) == hashlib.sha256(PAYLOAD * 3).hexdigest()


# ------------------------------------------------------------------ fetch against 127.0.0.1
@pytest.fixture
def server():
    s = LocalServer(PAYLOAD)
    yield s
    s.close()


def test_fetch_downloads_and_verifies(tmp_path, entry, server):
    path = wr.fetch("test_file", server.url, tmp_path / "dl")
    assert path == tmp_path / "dl" / "test.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "dl" / "test.bin.part").exists()
    assert server.requests == [None]


def test_fetch_resumes_a_partial_download(tmp_path, entry, server):
    part = tmp_path / "test.bin.part"
    part.write_bytes(PAYLOAD[:300_000])
    path = wr.fetch("test_file", server.url, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["bytes=300000-"]


def test_fetch_restarts_when_the_server_ignores_ranges(tmp_path, entry):
    s = LocalServer(PAYLOAD, ranges=False)
    try:
        (tmp_path / "test.bin.part").write_bytes(b"stale bytes")
        assert wr.fetch("test_file", s.url, tmp_path).read_bytes() == PAYLOAD
    finally:
        s.close()


def test_fetch_of_wrong_bytes_fails_and_leaves_nothing(tmp_path, entry):
    s = LocalServer(PAYLOAD[::-1])
    try:
        with pytest.raises(wr.WeightsError, match="does not start with"):
            wr.fetch("test_file", s.url, tmp_path)
        assert not (tmp_path / "test.bin").exists() and not (tmp_path / "test.bin.part").exists()
    finally:
        s.close()


def test_fetch_needs_a_url(tmp_path, entry):
    with pytest.raises(wr.WeightsError, match="no direct download link"):
        wr.fetch("test_file", None, tmp_path)


def test_fetch_unreachable_server_is_a_clear_error(tmp_path, entry):
    s = LocalServer(PAYLOAD)
    url = s.url
    s.close()
    with pytest.raises(wr.WeightsError, match="failed"):
        wr.fetch("test_file", url, tmp_path, timeout=5)


def test_every_standard_backbone_has_its_weights_entry():
    from fada_bench.metrics.backbones import standard
    weight_backbones = {e.backbone for e in wr.ENTRIES.values()}
    needs_no_file = {"niqe-skimage", "mediapipe", "dlib", "dlib68"}   # dlib: its model files come with the face extra
    assert set(standard.STANDARD) - needs_no_file == weight_backbones


def test_build_by_name_reports_the_missing_file(dirs):
    from fada_bench.metrics.backbones import standard
    with pytest.raises(wr.WeightsError, match="syncnet_v2.model"):
        standard.build("syncnet_v2")
    assert standard.build("niqe-skimage").name == "niqe-skimage"
