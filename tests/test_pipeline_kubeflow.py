"""The Kubeflow Pipelines V2 spec compiles offline with every component, the image, the command and the env."""

import json
import re
import subprocess
import sys

import pytest

pytest.importorskip("tfx.orchestration.kubeflow.v2")

IMAGE = "registry.example.com/asmg/pipeline:0.1.0"
COMPONENTS = {
    "ImportExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "PeriodTransform",
    "TestThenTrain",
    "Trainer",
    "AsmgGenerator",
    "BlessingGate",
    "VersionedPusher",
}
RESOLVERS = {"previous_state", "previous_history", "previous_model", "previous_push", "previous_blessing"}
OUR_EXECUTORS = {
    "PeriodTransform": "pipeline.components.period_transform.executor.Executor",
    "TestThenTrain": "pipeline.components.test_then_train.executor.Executor",
    "Trainer": "pipeline.components.trainer_executor.Executor",
    "AsmgGenerator": "pipeline.components.generator.executor.Executor",
    "BlessingGate": "pipeline.components.blessing.executor.Executor",
    "VersionedPusher": "pipeline.components.pusher.executor.Executor",
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp") / "asmg.json"
    cmd = [
        sys.executable, "-m", "pipeline.cli", "compile", "--output", str(out), "--image", IMAGE,
        "--pipeline-root", "/mnt/asmg/tfx", "--spans-root", "/mnt/asmg/spans", "--serving-dir", "/mnt/asmg/serving/asmg",
        "--data-kind", "tmall", "--option", "asmg_plus.k=3", "--push", "both",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())["pipelineSpec"]


def test_every_component_is_a_task_of_the_image(spec):
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == COMPONENTS | RESOLVERS
    executors = spec["deploymentSpec"]["executors"]
    for name in COMPONENTS:
        label = spec["components"][tasks[name]["componentRef"]["name"]]["executorLabel"]
        container = executors[label]["container"]
        assert container["image"] == IMAGE
        assert container["command"] == [
            "python",
            "-m",
            "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
        ]
        assert {"name": "TF_USE_LEGACY_KERAS", "value": "1"} in container["env"]
        if name in OUR_EXECUTORS:
            args = " ".join(container["args"])
            assert OUR_EXECUTORS[name] in args, args[:500]


def test_the_push_mode_reaches_the_pusher(spec):
    params = spec["root"]["dag"]["tasks"]["VersionedPusher"]["inputs"]["parameters"]
    assert params["push"]["runtimeValue"]["constant"] == "both"


def test_beam_workers_run_the_image(spec):
    """Beam components name the image as their workers' environment (so TFX does not repackage itself into /tmp
    on every run: ``pipeline.beam_args``)."""
    beam_args = [
        " ".join(e["container"]["args"])
        for e in spec["deploymentSpec"]["executors"].values()
        if "container" in e and "direct_running_mode" in " ".join(e["container"]["args"])
    ]
    assert beam_args
    for args in beam_args:
        assert f"--sdk_container_image={IMAGE}" in args, args[:500]


def test_resolvers_ask_for_one_latest_artifact_of_a_type_only_they_produce(spec):
    executors = spec["deploymentSpec"]["executors"]
    titles = []
    for name in RESOLVERS:
        label = spec["components"][spec["root"]["dag"]["tasks"][name]["componentRef"]["name"]]["executorLabel"]
        queries = executors[label]["resolver"]["outputArtifactQueries"]
        assert len(queries) == 1
        (query,) = queries.values()
        assert "schema_title=" in query["filter"] and "limit" not in json.dumps(query)
        titles.append(query["filter"].split('"')[1])
    assert sorted(titles) == ["tfx.File", "tfx.Model", "tfx.ModelBlessing", "tfx.PushedModel", "tfx.TransformCache"]
    dump = json.dumps(spec)
    assert "desired_num_of_artifacts" not in dump.replace('"desired_num_of_artifacts": 1', "")


def test_training_is_conditional_and_waits_for_the_test(spec):
    tasks = spec["root"]["dag"]["tasks"]
    for name in ("TestThenTrain", "Trainer", "AsmgGenerator", "BlessingGate", "VersionedPusher"):
        assert "trainable" in tasks[name]["triggerPolicy"]["condition"]
    assert "TestThenTrain" in tasks["Trainer"]["dependentTasks"]
    assert "Trainer" in tasks["AsmgGenerator"]["dependentTasks"]
    assert {"AsmgGenerator", "TestThenTrain"} <= set(tasks["BlessingGate"]["dependentTasks"])
    assert "BlessingGate" in tasks["VersionedPusher"]["dependentTasks"]  # nothing is pushed before the gate
    schema = tasks["ImportSchemaGen"]["inputs"]["parameters"]["schema_file"]["runtimeValue"]["constant"]
    assert schema == "/opt/asmg/pipeline/schema/raw_events_implicit.pbtxt"  # the image's copy


def test_schema_2_1_with_typed_parameters_for_kfp_2(spec):
    # KFP 2.x (and kfp.local) read runtimeValue.constant; TFX's default 2.0.0 writes the deprecated constantValue,
    # and without the inputs spec argument the executor drops ExampleGen's resolved span.
    assert spec["schemaVersion"] == "2.1.0"
    container = spec["deploymentSpec"]["executors"]["ImportExampleGen_executor"]["container"]
    assert "--json_serialized_inputs_spec_args" in container["args"]
    assert "preCacheCheck" in container["lifecycle"]


def test_conditions_read_only_inputs_their_task_has(spec):
    for name, task in spec["root"]["dag"]["tasks"].items():
        condition = task.get("triggerPolicy", {}).get("condition", "")
        for key in re.findall(r"inputs\.artifacts\['([^']+)'\]", condition):
            assert key in task["inputs"]["artifacts"], (name, condition)


def test_a_user_model_module_travels_as_a_wheel_in_the_pipeline_root(tmp_path):
    """The README's model module: TFX packages it into the pipeline root at compile time, and the Trainer,
    TestThenTrain and the generator name that wheel (``module@wheel``), so the pods install and import it."""
    from test_rankers import readme_example

    module = tmp_path / "my_ranker.py"
    module.write_text(readme_example())
    out, root = tmp_path / "asmg.json", tmp_path / "root"
    cmd = [
        sys.executable, "-m", "pipeline.cli", "compile", "--output", str(out), "--image", IMAGE,
        "--pipeline-root", str(root), "--spans-root", "/mnt/asmg/spans", "--serving-dir", "/mnt/asmg/serving/asmg",
        "--model-module", str(module), "--model", "dot_tower",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    for name in ("Trainer", "TestThenTrain", "AsmgGenerator"):
        path = tasks[name]["inputs"]["parameters"]["module_path"]["runtimeValue"]["constant"]
        module_name, wheel = path.split("@")
        assert module_name == "my_ranker" and wheel.startswith(str(root / "_wheels")), path
        assert (root / "_wheels" / wheel.rsplit("/", 1)[1]).exists()
    train = json.loads(tasks["Trainer"]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"])
    assert train["train"]["model"] == "dot_tower"
