"""Run a compiled Kubeflow V2 PipelineJob the way a cluster runs it: each task in a container of its image.

A test harness for the component image, not a scheduler we ship. One ``run`` handles one scheduled run of the
spec. Tasks run in topological order of the spec's DAG (whatever tasks it holds); each container task gets the
exact ``command`` and ``args`` of its executor, with KFP's placeholders filled by Kubeflow Pipelines' own local
code (``kfp.local.placeholder_utils``) from a real ``ExecutorInput``: parameters are the task's constants, input
artifacts are upstream outputs, output artifact URIs lie under ``<pipeline root>/<run>/<task>/``. Containers run
through ``kfp.local``'s Docker runner (``docker_task_handler.run_docker_container``) with the spec's environment,
as the image's user, without network, with the pipeline root, spans and serving folders mounted at the paths the
spec was compiled with.

What ``kfp.local`` (kfp 2.16) takes from this TFX 1.21 spec and what stands in for the rest:

* its placeholder resolution and its Docker runner: used for every container here.
* its orchestration (``run_local_pipeline``) does not run the spec as a whole:
  - resolver executors (TFX's ``Resolver`` nodes, answered from MLMD by the KFP driver on a cluster) are rejected
    with ``ValueError: Got unknown spec in ExecutorSpec. Only 'dsl.component', 'dsl.container_component', and
    'dsl.importer' are supported.`` (``kfp_local_verdict`` asks kfp.local and records it). Here the query's
    ``schema_title`` is answered with the newest LIVE artifact of that type from earlier runs (``ArtifactStore``,
    the MLMD stand-in), as ``LatestArtifactStrategy`` would.
  - its inputs carry exactly one artifact, typed by ``schema_title``: a resolver without an answer yet (the first
    update span has no previous model) needs an empty list, and TFX types artifacts by ``instanceSchema``. The
    ``ExecutorInput`` is built here from the spec's own input/output definitions.
  - it ignores ``lifecycle.preCacheCheck`` hooks (ImportExampleGen's span driver, without which the executor reads
    the unresolved ``span-{SPAN}`` pattern) and the container's ``env``; here the hook runs in the same image with
    the same ``ExecutorInput`` before the executor (as on Vertex AI Pipelines), and the env is passed.
  - it evaluates trigger conditions after all unconditional tasks, in map order; here ``condition`` expressions
    over input artifact metadata are evaluated per task in topological order.
* A spec of schema 2.0.0 (TFX's default) is rejected by it at the first parameter (``ValueError: Expected
  constant.``: TFX writes the deprecated ``constantValue``); ``asmg pipeline compile`` writes schema 2.1.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import re
import time
from dataclasses import dataclass, field

STORE_FILE = "harness_artifacts.json"
EXECUTOR_OUTPUT = "executor_output.json"


def _atomic_json(path: str, obj) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def schema_title(artifact_type: dict) -> str:
    """The type's title from an ``ArtifactTypeSchema`` dict (``schemaTitle`` or the ``instanceSchema``'s title)."""
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    match = re.search(r"^title:\s*(\S+)", artifact_type.get("instanceSchema", ""), re.M)
    if not match:
        raise ValueError(f"artifact type without a title: {artifact_type}")
    return match.group(1)


class ArtifactStore:
    """Every output artifact of every run, in creation order (a JSON file under the pipeline root)."""

    def __init__(self, pipeline_root: str):
        self.path = os.path.join(pipeline_root, STORE_FILE)
        self.records = json.load(open(self.path)) if os.path.exists(self.path) else []

    def add(self, run: str, task: str, output: str, artifact: dict) -> None:
        self.records.append(
            {"run": run, "task": task, "output": output, "title": schema_title(artifact["type"]), "artifact": artifact}
        )
        _atomic_json(self.path, self.records)

    def resolve(self, query_filter: str) -> list[dict]:
        """Answer a resolver query ``schema_title="X" AND state=LIVE`` with the newest such artifact ([] if none)."""
        match = re.fullmatch(r'schema_title="([^"]+)" AND state=LIVE', query_filter.strip())
        if not match:
            raise NotImplementedError(f"resolver filter not understood by the harness: {query_filter!r}")
        found = [r["artifact"] for r in self.records if r["title"] == match.group(1)]
        return found[-1:]


class _Condition(ast.NodeVisitor):
    """Evaluates the comparisons KFP's trigger conditions are made of, over already-substituted constants."""

    OPS = {
        ast.Eq: lambda a, b: a == b,
        ast.NotEq: lambda a, b: a != b,
        ast.Lt: lambda a, b: a < b,
        ast.LtE: lambda a, b: a <= b,
        ast.Gt: lambda a, b: a > b,
        ast.GtE: lambda a, b: a >= b,
    }

    def evaluate(self, node):
        if isinstance(node, ast.Expression):
            return self.evaluate(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BoolOp):
            values = [self.evaluate(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.evaluate(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in self.OPS:
            return self.OPS[type(node.ops[0])](self.evaluate(node.left), self.evaluate(node.comparators[0]))
        raise NotImplementedError(f"condition element not understood by the harness: {ast.dump(node)}")


def evaluate_condition(condition: str, input_artifacts: dict[str, list[dict]]) -> bool:
    """A task's ``triggerPolicy.condition`` (CEL over its inputs) with artifact metadata substituted."""

    def metadata(match: re.Match) -> str:
        artifacts = input_artifacts.get(match.group(1)) or []
        index = int(match.group(2))
        if index >= len(artifacts):
            raise ValueError(f"condition {condition!r}: input {match.group(1)!r} has no artifact {index}")
        return repr(artifacts[index].get("metadata", {}).get(match.group(3)))

    expr = re.sub(r"inputs\.artifacts\['([^']+)'\]\.artifacts\[(\d+)\]\.metadata\['([^']+)'\]", metadata, condition)
    expr = expr.replace("&&", " and ").replace("||", " or ").replace("!", " not ").replace(" not =", "!=")
    return bool(_Condition().evaluate(ast.parse(expr.strip(), mode="eval")))


def topological_order(tasks: dict) -> list[str]:
    """Task names so that every producer (``dependentTasks`` and input producers) comes before its consumers."""
    deps = {}
    for name, task in tasks.items():
        needs = set(task.get("dependentTasks", []))
        for kind in ("artifacts", "parameters"):
            for spec in task.get("inputs", {}).get(kind, {}).values():
                producer = spec.get("taskOutputArtifact", spec.get("taskOutputParameter", {})).get("producerTask")
                if producer:
                    needs.add(producer)
        deps[name] = needs
    order, done = [], set()
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in done and deps[n] <= done)
        if not ready:
            raise ValueError(f"cycle or unknown producer among {sorted(set(tasks) - done)}")
        order.extend(ready)
        done.update(ready)
    return order


@dataclass
class TaskRecord:
    name: str
    kind: str  # container | resolver | skipped
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)


@dataclass
class Harness:
    """One compiled PipelineJob, its image and the host folders mounted into every task."""

    job: dict
    pipeline_root: str
    mounts: dict[str, str]  # host path -> container path (read-write), besides the pipeline root
    read_only: tuple[str, ...] = ()
    logs_dir: str | None = None
    network: str = "none"
    owner: str | None = None  # "uid:gid" of the image's user: owner of the folders the harness creates

    @property
    def spec(self) -> dict:
        return self.job["pipelineSpec"]

    def run(self, run_id: str, log=print) -> list[TaskRecord]:
        """One scheduled run of the pipeline; returns what each task did. Raises on the first failed task."""
        store = ArtifactStore(self.pipeline_root)
        tasks = self.spec["root"]["dag"]["tasks"]
        produced: dict[str, dict[str, list[dict]]] = {}
        records = []
        for name in topological_order(tasks):
            task = tasks[name]
            component = self.spec["components"][task["componentRef"]["name"]]
            executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
            inputs = {
                key: produced.get(src["taskOutputArtifact"]["producerTask"], {}).get(
                    src["taskOutputArtifact"]["outputArtifactKey"], []
                )
                for key, src in task.get("inputs", {}).get("artifacts", {}).items()
            }
            condition = task.get("triggerPolicy", {}).get("condition")
            if condition and not evaluate_condition(condition, inputs):
                records.append(TaskRecord(name, "skipped"))
                log(f"{run_id} {name}: skipped ({condition})")
                continue
            start = time.perf_counter()
            if "resolver" in executor:
                outputs = {
                    key: store.resolve(query["filter"])
                    for key, query in executor["resolver"]["outputArtifactQueries"].items()
                }
                record = TaskRecord(name, "resolver", outputs=outputs)
            elif "container" in executor:
                record = self._run_container(run_id, name, task, component, executor["container"], inputs)
                for key, artifacts in record.outputs.items():
                    for artifact in artifacts:
                        store.add(run_id, name, key, artifact)
            else:
                raise NotImplementedError(f"{name}: executor kind {sorted(executor)} not handled by the harness")
            record.seconds = time.perf_counter() - start
            produced[name] = record.outputs
            records.append(record)
            found = {k: [a["uri"] for a in v] for k, v in record.outputs.items()}
            log(f"{run_id} {name}: {record.kind} {record.seconds:.1f} s {found if record.kind == 'resolver' else ''}")
        return records

    def executor_input(self, run_id: str, task_name: str, task: dict, component: dict, inputs: dict) -> dict:
        """The ``ExecutorInput`` a KFP launcher hands the container: constants as ``parameterValues``, input artifacts
        (possibly none: a resolver without an answer yet), output artifacts typed as the spec declares them."""
        task_root = os.path.join(self.pipeline_root, run_id, task_name)
        values, legacy = {}, {}  # schema 2.1 parameterValues; schema 2.0.0 parameters (deprecated)
        for key, spec in task.get("inputs", {}).get("parameters", {}).items():
            value = spec.get("runtimeValue", {})
            if "constant" in value:
                values[key] = value["constant"]
            elif "constantValue" in value:
                legacy[key] = value["constantValue"]
            else:
                raise NotImplementedError(f"{task_name}.{key}: only constant parameters are handled: {spec}")
        outputs = {}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
            uri = os.path.join(task_root, key)
            outputs[key] = {
                "artifacts": [{"name": f"{run_id}/{task_name}/{key}", "type": definition["artifactType"], "uri": uri}]
            }
        if component.get("outputDefinitions", {}).get("parameters"):
            raise NotImplementedError(f"{task_name}: output parameters are not handled by the harness")
        return {
            "inputs": {
                "parameterValues": values,
                "parameters": legacy,
                "artifacts": {k: {"artifacts": v} for k, v in inputs.items()},
            },
            "outputs": {"artifacts": outputs, "outputFile": os.path.join(task_root, EXECUTOR_OUTPUT)},
        }

    def _run_container(self, run_id, name, task, component, container, inputs) -> TaskRecord:
        from kfp.local import placeholder_utils

        executor_input = self.executor_input(run_id, name, task, component, inputs)
        task_root = os.path.dirname(executor_input["outputs"]["outputFile"])
        self._make_dirs(task_root)  # as the KFP launcher prepares output folders (as the pod's user)
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        steps = []
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:
            steps.append(("preCacheCheck", hook["command"] + hook["args"]))
        steps.append(("executor", container["command"] + container["args"]))
        command = []
        for step, template in steps:
            command = placeholder_utils.replace_placeholders(
                full_command=list(template),
                executor_input_dict=executor_input,
                pipeline_resource_name=run_id,
                task_resource_name=name,
                pipeline_root=self.pipeline_root,
                unique_pipeline_id=run_id,
            )
            log_path = self._log_path(run_id, name, step)
            rc = self._docker(container["image"], command, env, log_path)
            if rc != 0:
                raise RuntimeError(f"{run_id} {name}: {step} exited {rc}; log: {log_path}")
            if step == "preCacheCheck":
                self._apply_driver_output(executor_input)
        out_file = executor_input["outputs"]["outputFile"]
        if not os.path.exists(out_file):
            raise RuntimeError(f"{run_id} {name}: no executor output at {out_file}")
        written = json.load(open(out_file)).get("artifacts", {})
        outputs = {}
        for key, declared in executor_input["outputs"]["artifacts"].items():
            artifacts = []
            for i, artifact in enumerate(declared["artifacts"]):
                got = (written.get(key, {}).get("artifacts") or [{}] * len(declared["artifacts"]))[i]
                merged = copy.deepcopy(artifact)
                merged["uri"] = got.get("uri", artifact["uri"])
                merged["metadata"] = {**artifact.get("metadata", {}), **got.get("metadata", {})}
                artifacts.append(merged)
            outputs[key] = artifacts
        return TaskRecord(name, "container", command=command, outputs=outputs)

    @staticmethod
    def _apply_driver_output(executor_input: dict) -> None:
        """What the pipeline service does between a driver hook and the executor: the output artifacts take the
        metadata the driver resolved (ExampleGen: span, version, fingerprint); its parameters stay in the output
        file, where the executor reads them."""
        with open(executor_input["outputs"]["outputFile"]) as f:
            written = json.load(f).get("artifacts", {})
        for key, declared in executor_input["outputs"]["artifacts"].items():
            for artifact, resolved in zip(declared["artifacts"], written.get(key, {}).get("artifacts", [])):
                artifact["metadata"] = {**artifact.get("metadata", {}), **resolved.get("metadata", {})}

    def _make_dirs(self, path: str) -> None:
        """``os.makedirs`` whose new folders belong to the container's user (``owner``, "uid:gid")."""
        missing = []
        while not os.path.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for folder in reversed(missing):
            os.mkdir(folder)
            if self.owner:
                uid, _, gid = self.owner.partition(":")
                os.chown(folder, int(uid), int(gid or uid))

    def _log_path(self, run_id: str, name: str, step: str) -> str:
        folder = self.logs_dir or os.path.join(self.pipeline_root, "logs")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{run_id}.{name}.{step}.log")

    def _docker(self, image: str, command: list[str], env: dict, log_path: str) -> int:
        """Run one container through kfp.local's Docker runner; its output goes to a log file."""
        import docker
        from kfp.local import docker_task_handler

        volumes = {self.pipeline_root: {"bind": self.pipeline_root, "mode": "rw"}}
        for host, inside in self.mounts.items():
            volumes[host] = {"bind": inside, "mode": "ro" if host in self.read_only else "rw"}
        client = docker.from_env()
        try:
            with open(log_path, "w") as log, contextlib.redirect_stdout(log):
                rc = docker_task_handler.run_docker_container(
                    client=client,
                    image=image,
                    command=command,
                    volumes=volumes,
                    environment=env,
                    network_mode=self.network,
                )
        finally:
            client.close()
        return rc


def kfp_local_verdict(job: dict, pipeline_root: str) -> dict[str, str]:
    """What kfp.local's own task dispatch says to each resolver task of the spec: the error it raises, or
    "accepted". Nothing is executed (the task's inputs are cleared so that dispatch reaches the executor kind)."""
    from google.protobuf import json_format
    from kfp import local
    from kfp.local import io, placeholder_utils, utils
    from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    local.init(runner=local.DockerRunner(), pipeline_root=pipeline_root, raise_on_error=True)
    verdict = {}
    executors = {
        name: utils.struct_to_executor_spec(value) for name, value in spec.deployment_spec["executors"].items()
    }
    components = dict(spec.components.items())

    def attempt(label, fn):
        try:
            fn()
            verdict[label] = "accepted"
        except Exception as e:  # noqa: BLE001  (the verdict is the error)
            verdict[label] = f"{type(e).__name__}: {e}"

    for name, task in spec.root.dag.tasks.items():
        kind = executors[components[task.component_ref.name].executor_label].WhichOneof("spec")
        if kind != "resolver":
            continue
        bare = copy.deepcopy(task)
        bare.inputs.Clear()  # past the parameter check, to reach the executor-kind check

        def dispatch(bare=bare, name=name):
            OrchestratorUtils.execute_single_task(
                task_name=name,
                task_spec=bare,
                pipeline_resource_name="verdict",
                components=components,
                executors=executors,
                io_store=io.IOStore(),
                pipeline_root=pipeline_root,
                runner=local.DockerRunner(),
                unique_pipeline_id=placeholder_utils.make_random_id(),
                fail_stack=[],
            )

        attempt(f"resolver {name}", dispatch)
    return verdict
