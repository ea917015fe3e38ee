"""Generation chunk by chunk of table rows (``asmg_tf.generator.streaming``) and row reads of saved models
(``asmg_tf.npz_rows``): the same model as generating from the whole window, for every generator kind, with a carried
state, normalisation and extrapolation, at chunk sizes that do and do not divide the tables; read from files."""

import os

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.files import save_npz
from asmg_tf.generator import MetaGenerator, model_spec
from asmg_tf.generator.streaming import ArrayRows, WindowRows, generated_chunks, write_generated
from asmg_tf.layers.coordinate_gru import change_scales
from asmg_tf.models import EmbeddingMLPRanker, get_weights
from asmg_tf.npz_rows import NpzRows, memmap_npz

USERS, ITEMS, CATS = 37, 23, 5


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    m = EmbeddingMLPRanker(USERS, ITEMS, CATS, embedding_dim=6)
    m(m.example_features())
    return m


def _models(model, length: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    base = get_weights(model)
    return [
        {k: v + 0.05 * t * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()} for t in range(length)
    ]


def _state(generator, seed: int = 1):
    rng = np.random.default_rng(seed)
    return {k: tf.constant(rng.normal(size=s).astype(np.float32)) for k, s in generator.state_shapes().items()}


CASES = {
    "gru": dict(kind="gru"),
    "gru_normalize_extrapolate": dict(kind="gru", residual=True, normalize=True, extrapolate=True),
    "linear": dict(kind="linear", window=3),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chunk_rows", [1, 8, 1000])
def test_chunked_generation_equals_whole_window(model, case, chunk_rows):
    specs = model_spec(model)
    generator = MetaGenerator(specs, seed=3, **CASES[case])
    models = _models(model, 3)
    state = _state(generator) if generator.has_state else None
    expected = generator.generate(MetaGenerator.window_tensors(models, specs), state)
    window = WindowRows([ArrayRows(m) for m in models])
    got = {}
    for spec, start, stop, rows in generated_chunks(generator, window, state, chunk_rows):
        got.setdefault(spec.key, []).append((start, stop, rows.numpy()))
    for spec in specs:
        parts = got[spec.key]
        if spec.kind == "table":
            assert [(a, b) for a, b, _ in parts] == [
                (a, min(a + chunk_rows, spec.num_rows)) for a in range(0, spec.num_rows, chunk_rows)
            ]
        value = np.concatenate([rows for _, _, rows in parts]).reshape(spec.shape)
        # scales are summed in float64 chunk by chunk instead of one float32 reduction: equal up to rounding
        np.testing.assert_allclose(value, expected[spec.key], rtol=1e-6, atol=1e-7, err_msg=spec.key)


def test_scales_summed_by_chunks_match_change_scales(model):
    specs = model_spec(model)
    models = _models(model, 4)
    window = WindowRows([ArrayRows(m) for m in models])
    for spec in specs:
        whole = change_scales(spec.to_rows(tf.constant(np.stack([m[spec.key] for m in models]))))
        np.testing.assert_allclose(window.scales(spec, 5).numpy(), whole.numpy(), rtol=1e-6)


def test_write_generated_from_saved_files_fills_the_serving_model(model, tmp_path):
    """The window read by row ranges from ``.npz`` files, generated into a second model's variables."""
    specs = model_spec(model)
    generator = MetaGenerator(specs, seed=3, residual=True, normalize=True)
    models = _models(model, 3, seed=7)
    paths = []
    for t, m in enumerate(models):
        paths.append(str(tmp_path / f"weights_{t}.npz"))
        save_npz(paths[-1], m)
    state = _state(generator)
    expected = generator.generate(MetaGenerator.window_tensors(models, specs), state)
    serving = EmbeddingMLPRanker(USERS, ITEMS, CATS, embedding_dim=6)
    serving(serving.example_features())
    write_generated(serving, generator, WindowRows([NpzRows(p) for p in paths]), state, chunk_rows=10)
    got = get_weights(serving)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


def test_window_rows_refuses_models_of_another_shape(model):
    specs = model_spec(model)
    models = _models(model, 2)
    table = next(s for s in specs if s.kind == "table")
    models[1] = {**models[1], table.key: models[1][table.key][:-1]}  # one row short
    with pytest.raises(ValueError, match="expected"):
        WindowRows([ArrayRows(m) for m in models]).block(table, table.num_rows - 3, table.num_rows)


def test_npz_rows_reads_ranges_and_members_of_every_kind(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "a/table": rng.normal(size=(101, 7)).astype(np.float32),
        "ints": rng.integers(0, 9, (13, 3, 2)).astype(np.int32),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 4), np.int64),
    }
    path = str(tmp_path / "w.npz")
    save_npz(path, arrays)
    rows = NpzRows(path)
    assert rows.names == sorted(arrays)
    np.testing.assert_array_equal(rows.rows("a/table", 17, 60), arrays["a/table"][17:60])
    np.testing.assert_array_equal(rows.rows("a/table", 95, 200), arrays["a/table"][95:])  # clipped like a slice
    np.testing.assert_array_equal(rows.rows("ints", 12, 13), arrays["ints"][12:13])
    assert rows.value("scalar") == np.float32(2.5) and rows.value("empty").shape == (0, 4)
    with pytest.raises(KeyError, match="no member"):
        rows.rows("missing", 0, 1)
    mapped = memmap_npz(path)
    assert isinstance(mapped["a/table"], np.memmap)
    for k, v in arrays.items():
        np.testing.assert_array_equal(mapped[k], v)
    # compressed members have no byte range: read whole, same values
    packed = str(tmp_path / "packed.npz")
    np.savez_compressed(packed, **arrays)
    np.testing.assert_array_equal(NpzRows(packed).rows("a/table", 3, 9), arrays["a/table"][3:9])
    np.testing.assert_array_equal(memmap_npz(packed)["ints"], arrays["ints"])


def test_npz_rows_reports_a_truncated_file(tmp_path):
    path = str(tmp_path / "w.npz")
    save_npz(path, {"t": np.ones((1000, 8), np.float32)})
    rows = NpzRows(path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="truncated"):
        rows.rows("t", 900, 1000)


def test_grown_rows_over_an_object_store_equal_grow_weights():
    """The pipeline's window models from before a table grew, read by row ranges from ``ram://`` (TF's in-memory
    filesystem): the rows ``grow_weights`` gives them, chunk by chunk."""
    from pipeline import fs
    from pipeline.capacity import GrownRows, grow_weights

    rng = np.random.default_rng(2)
    old = {"u/embeddings": rng.normal(size=(10, 4)).astype(np.float32), "dense/kernel": np.ones((4, 2), np.float32)}
    fresh = {"u/embeddings": rng.normal(size=(17, 4)).astype(np.float32), "dense/kernel": np.zeros((4, 2), np.float32)}
    fs.save_npz("ram://grown/old.npz", old)
    fs.save_npz("ram://grown/fresh.npz", fresh)
    tables = {"u/embeddings": "users"}
    expected = grow_weights(old, fresh, tables)
    rows = GrownRows(fs.npz_rows("ram://grown/old.npz"), fs.npz_rows("ram://grown/fresh.npz"), tables)
    for start, stop in [(0, 4), (4, 8), (8, 12), (12, 17), (9, 11)]:
        np.testing.assert_array_equal(rows.rows("u/embeddings", start, stop), expected["u/embeddings"][start:stop])
    np.testing.assert_array_equal(rows.value("u/embeddings"), expected["u/embeddings"])
    np.testing.assert_array_equal(rows.value("dense/kernel"), expected["dense/kernel"])


def test_generation_memory_benchmark_smoke(tmp_path):
    """``benchmarks/bench_generation_memory.py`` at a tiny size: every way runs in its own process and is recorded."""
    import json
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, os.path.join(repo, "benchmarks", "bench_generation_memory.py"), "--users", "2000"]
    cmd += ["--k", "2", "--out", str(tmp_path), "--state", "--ways", "streamed,whole"]  # 1 process per way
    subprocess.run(cmd, check=True, cwd=repo, capture_output=True, timeout=600)
    records = json.loads((tmp_path / "generation_memory.json").read_text())["records"]
    assert [r["way"] for r in records] == ["streamed", "whole"]
    assert all(r["peak_rss_mb"] > 100 and r["seconds"] >= 0 and r["state"] for r in records)
