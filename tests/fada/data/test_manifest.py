"""The manifest's content hash: the training set's name in a teacher-target cache's key and a run's record."""
import hashlib

import pandas as pd

from fada.data.manifest import MANIFEST, manifest_sha256, to_frame, write_manifest


def _rows():
    return [{"id": f"c{i}", "split": "train", "tier": "A" if i % 2 else "B", "sync_conf": 0.1 * i + 1e-9, "n_frames": 50}
            for i in range(5)]


def test_same_content_written_otherwise_has_the_same_hash_and_any_change_a_new_one(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (a, b, c):
        folder.mkdir()
    write_manifest(a, _rows())
    # the same table in other bytes, as another pyarrow or codec would write it
    to_frame(_rows()).to_parquet(b / MANIFEST, index=False, engine="pyarrow", compression="gzip")
    assert (a / MANIFEST).read_bytes() != (b / MANIFEST).read_bytes()
    assert manifest_sha256(a) == manifest_sha256(b)
    changed = _rows()
    changed[3]["tier"] = "B"                          # one clip moves to the other tier
    write_manifest(c, changed)
    assert manifest_sha256(c) != manifest_sha256(a)
    # what is hashed: the table as CSV text, every value in full (written out here by hand)
    df = pd.read_parquet(a / MANIFEST)
    lines = [",".join(df.columns)] + [",".join("" if pd.isna(v) else repr(v) if isinstance(v, float) else str(v)
                                               for v in row) for row in df.itertuples(index=False)]
    assert manifest_sha256(a) == hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


def test_a_folder_without_a_manifest_has_no_hash(tmp_path):
    assert manifest_sha256(tmp_path) is None
