"""A pipeline root on a non-local filesystem: the state, history and model files written and read back through
TF's ``ram://`` filesystem; and no local-only file call left in the modules that touch pipeline artifacts."""

import re
from pathlib import Path

import numpy as np
import pytest

import asmg_tf  # noqa: F401  (legacy Keras)
from asmg_tf.data.periods import PeriodData
from pipeline import fs, model_io
from pipeline import history as H
from pipeline import state as S

ROOT = Path(__file__).resolve().parents[1]

#: every module that reads or writes pipeline artifacts (executors, Beam DoFns, Trainer module, file layouts)
ARTIFACT_MODULES = sorted(
    [*ROOT.glob("pipeline/components/*/executor.py"), *ROOT.glob("pipeline/components/*/beam_steps.py")]
) + [
    ROOT / "pipeline" / n
    for n in ("trainer_module.py", "model_io.py", "state.py", "history.py", "examples.py", "generator_context.py")
]

LOCAL_ONLY = re.compile(
    r"(?<![\w.])open\(|os\.path\.(exists|isdir|isfile|getsize)\(|os\.(makedirs|mkdir|rename|replace|listdir|remove|"
    r"unlink|walk|scandir)\(|shutil\.|glob\.glob\(|Path\("
    # numpy on a path (on a file object, ``f`` / ``buffer`` / ``io.BytesIO(...)``, it is fine)
    r"|np\.(load|save|savez)\((?!io\.BytesIO\(|f[,)]|buffer[,)])"
)
#: (module, call) pairs that must stay: ``tempfile`` staging of the SavedModel export, which ``serving.export``
#: writes with the local file API; the finished folder is then moved/copied through ``pipeline.fs``
ALLOWED = {("model_io.py", "tempfile.mkdtemp(")}


@pytest.fixture
def ram_root():
    root = f"ram://asmg-test-{np.random.default_rng().integers(1 << 30)}"
    fs.makedirs(root)
    yield root
    fs.remove_tree(root)


def test_no_local_only_file_calls_in_artifact_modules():
    assert len(ARTIFACT_MODULES) >= 10
    found = []
    for path in ARTIFACT_MODULES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if LOCAL_ONLY.search(code):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
            if "tempfile." in code and not any(path.name == m and c in code for m, c in ALLOWED):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "local-only file calls (use pipeline.fs / tf.io.gfile, or Beam FileSystems in DoFns):\n" + (
        "\n".join(found)
    )


def test_atomic_writes_and_arrays_through_gfile(ram_root):
    path = fs.join(ram_root, "a", "b.json")
    S.write_json(path, {"b": 2, "a": 1})
    S.write_json(path, {"b": 3})  # overwrite through the temporary + rename
    assert S.read_json(path) == {"b": 3}
    assert fs.listdir(fs.join(ram_root, "a")) == ["b.json"], "no temporary left behind"
    arrays = {"emb/users": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.ones(2)}
    fs.save_npz(fs.join(ram_root, "w.npz"), arrays)
    back = fs.load_npz(fs.join(ram_root, "w.npz"))
    assert set(back) == set(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)


def test_period_state_files_on_ram(ram_root):
    state = fs.join(ram_root, "state")
    S.write_vocab(state, "users", ["u1", "u2"], ["u3"])
    assert S.read_vocab(state, "users") == ["u1", "u2", "u3"]
    assert S.read_vocab(state, "items") == []
    table = S.extend_categories(None, [[0, 1], [2]])
    fs.save_npy(fs.join(state, S.ITEM_CATEGORIES), table)
    assert np.array_equal(S.read_item_categories(state), table)
    fs.write_bytes(fs.join(state, "Split-period", "examples-00000.tfrecord.gz"), b"x")
    fs.write_bytes(fs.join(state, "Split-period", ".hidden"), b"y")
    assert S.split_files(state, "period") == [fs.join(state, "Split-period", "examples-00000.tfrecord.gz")]
    copied = S.copy_tree_files(fs.join(state, "Split-period"), fs.join(ram_root, "out"), "span-1-")
    assert sorted(fs.basename(c) for c in copied) == ["span-1-.hidden", "span-1-examples-00000.tfrecord.gz"]
    S.write_json(fs.join(ram_root, "ex", S.PERIOD_DIR, S.META), {"span": 3})
    assert S.read_period_meta(fs.join(ram_root, "ex")) == {"span": 3}


def test_history_on_ram(ram_root):
    rng = np.random.default_rng(0)
    weights = {"emb": rng.normal(size=(5, 3)).astype(np.float32)}
    n = 4
    period = PeriodData(
        user=np.arange(n, dtype=np.int32),
        item=np.arange(n, dtype=np.int32),
        hist=np.zeros((n, 30), np.int32),
        hist_len=np.zeros(n, np.int32),
        label=np.ones(n, np.float32),
        timestamp=np.arange(n, dtype=np.int64),
    )
    uri = fs.join(ram_root, "history")
    H.write_history(uri, {"span": 4, "capacity": {"users": 5}}, {3: weights}, {4: period}, generated=weights)
    h = H.History.load(uri)
    assert h.span == 4 and h.capacity == {"users": 5}
    assert np.array_equal(h.iu_weights(3)["emb"], weights["emb"])
    assert np.array_equal(h.weights(H.GENERATED)["emb"], weights["emb"])
    assert np.array_equal(h.period(4).timestamp, period.timestamp)


def test_model_weights_and_info_on_ram(ram_root):
    from asmg_tf.models.registry import build_ranker
    from asmg_tf.models.weights import get_weights

    model = model_io.model_from_description(
        {"model": "embedding_mlp", "config": build_ranker("embedding_mlp", 6, 5, 2, embedding_dim=4).get_config()}
    )
    uri = fs.join(ram_root, "model")
    model_io.write_model(uri, model, info={"role": "iu", "span": 3}, period_meta={}, period_dir="", export=False)
    info = model_io.read_info(uri)
    assert info["span"] == 3 and info["capacity"]["users"] == 6
    back = model_io.load_weights(uri)
    assert all(np.array_equal(back[k], v) for k, v in get_weights(model).items())
    copy = fs.join(ram_root, "copy")
    fs.publish_dir(uri, copy)
    assert model_io.read_info(copy) == info and not fs.exists(uri)
