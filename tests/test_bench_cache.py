"""Bench cache keys follow the data's content, not where it lives or when it was touched."""

import os
import shutil

from asmg_tf.bench.cache import data_key


def test_data_key_follows_content_not_location_or_mtime(tmp_path):
    src = tmp_path / "a" / "data"
    src.mkdir(parents=True)
    (src / "ratings.csv").write_text("1,2,3\n")
    (src / "movies.csv").write_text("2,x\n")
    key = data_key(str(src), split="day", seed=1)
    copy = tmp_path / "b" / "data"
    shutil.copytree(src, copy)
    os.utime(copy / "ratings.csv", (1, 1))  # another mtime, another folder: same data
    assert data_key(str(copy), split="day", seed=1) == key
    assert data_key(str(copy), split="day", seed=2) != key  # settings count
    (copy / "movies.csv").write_text("2,y\n")
    assert data_key(str(copy), split="day", seed=1) != key  # content counts
    single = data_key(str(src / "ratings.csv"))
    assert single == data_key(str(copy / "ratings.csv")) and single != data_key(str(src / "movies.csv"))
