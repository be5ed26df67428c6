"""The one file hash: sha256_file reads in blocks and gives hashlib's digest of the whole bytes;
a folder's digest is that of its listing (relative path, tab, file digest), hidden files left out."""
import hashlib

from fada.hashing import CHUNK, folder_files_sha256, folder_sha256, sha256_file


def test_a_file_longer_than_one_block_hashes_as_its_whole_bytes(tmp_path):
    data = bytes(range(256)) * (CHUNK // 256 * 2 + 3)          # two blocks and a partial one
    (tmp_path / "f.bin").write_bytes(data)
    assert sha256_file(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_a_folder_hashes_its_sorted_listing_without_hidden_files(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "w.safetensors").write_bytes(b"weights")
    (tmp_path / "fada.json").write_bytes(b"{}")
    (tmp_path / ".lock").write_bytes(b"ignored")
    want = {"fada.json": hashlib.sha256(b"{}").hexdigest(),
            "unet/w.safetensors": hashlib.sha256(b"weights").hexdigest()}
    assert folder_files_sha256(tmp_path) == want
    listing = "".join(f"{f}\t{d}\n" for f, d in sorted(want.items()))
    assert folder_sha256(tmp_path) == hashlib.sha256(listing.encode()).hexdigest()
