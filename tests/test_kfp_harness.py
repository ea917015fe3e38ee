"""The Kubeflow test harness's own logic (no Docker): DAG order, trigger conditions, resolver answers."""

import pytest
from kfp_harness import ArtifactStore, evaluate_condition, schema_title, topological_order


def test_topological_order_puts_every_producer_first():
    tasks = {
        "c": {"dependentTasks": ["b"], "inputs": {"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "a"}}}}},
        "b": {"inputs": {"parameters": {"p": {"taskOutputParameter": {"producerTask": "a"}}}}},
        "a": {},
        "r": {},
    }
    order = topological_order(tasks)
    assert sorted(order) == ["a", "b", "c", "r"]
    assert order.index("a") < order.index("b") < order.index("c")
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"x": {"dependentTasks": ["y"]}, "y": {"dependentTasks": ["x"]}})


def test_condition_reads_input_artifact_metadata():
    cond = "(inputs.artifacts['examples'].artifacts[0].metadata['trainable'] == 1.0)"
    assert evaluate_condition(cond, {"examples": [{"metadata": {"trainable": 1}}]})
    assert not evaluate_condition(cond, {"examples": [{"metadata": {"trainable": 0}}]})
    both = cond + " && (inputs.artifacts['examples'].artifacts[0].metadata['span'] >= 3)"
    assert not evaluate_condition(both, {"examples": [{"metadata": {"trainable": 1, "span": 2}}]})
    with pytest.raises(ValueError, match="no artifact 0"):
        evaluate_condition(cond, {"examples": []})
    with pytest.raises(NotImplementedError):
        evaluate_condition("size(inputs.artifacts['examples'].artifacts) > 0", {})


def test_resolver_answers_the_newest_artifact_of_the_queried_type(tmp_path):
    model = {"instanceSchema": "title: tfx.Model\ntype: object\n"}
    assert schema_title(model) == "tfx.Model" and schema_title({"schemaTitle": "system.Model"}) == "system.Model"
    store = ArtifactStore(str(tmp_path))
    query = 'schema_title="tfx.Model" AND state=LIVE'
    assert store.resolve(query) == []
    store.add("span-2", "Trainer", "model", {"type": model, "uri": "/r/span-2/Trainer/model"})
    store.add("span-2", "Other", "x", {"type": {"schemaTitle": "tfx.File"}, "uri": "/r/span-2/Other/x"})
    store.add("span-3", "Trainer", "model", {"type": model, "uri": "/r/span-3/Trainer/model"})
    assert [a["uri"] for a in ArtifactStore(str(tmp_path)).resolve(query)] == ["/r/span-3/Trainer/model"]
    with pytest.raises(NotImplementedError):
        store.resolve('schema_title="tfx.Model" AND state=LIVE AND name="x"')
