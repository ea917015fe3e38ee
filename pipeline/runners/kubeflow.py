"""Compile the pipeline for Kubeflow Pipelines (V2 spec, ``KubeflowV2DagRunner``), offline.

Differences from local runs: every "previous" input is resolved with ``LatestArtifactStrategy`` (the only resolver
the V2 compiler takes; each scheduled run handles the newest span, ExampleGen picks it), no MLMD path (the cluster's),
paths are those inside the component image (``pipeline/Dockerfile`` installs this repository at ``IMAGE_SOURCE``),
every task's container gets ``TF_USE_LEGACY_KERAS=1`` (the V2 runner has no option for environment variables, so
it is added to the compiled spec), and the spec is KFP schema 2.1 (KFP 2.x reads ``runtimeValue.constant``; TFX's
default 2.0.0 writes the deprecated ``constantValue``, which ``kfp.local`` rejects and with which the executor drops
the span ExampleGen's driver resolved). Components run the executors of this package, so the image must hold the same
version of it. Executors use the local file API: mount the pipeline root (and the spans and serving folders) into
the pods, e.g. a PVC or a gcsfuse volume.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

IMAGE_SOURCE = "/opt/asmg"
ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


def add_env(job: dict, env: dict[str, str]) -> int:
    """Add ``env`` to every container executor of a PipelineJob dict; returns how many containers."""
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    n = 0
    for spec in executors.values():
        container = spec.get("container")
        if container is None:
            continue
        existing = {e["name"]: e for e in container.get("env", [])}
        existing.update({k: {"name": k, "value": v} for k, v in env.items()})
        container["env"] = list(existing.values())
        n += 1
    return n


def fix_condition_inputs(job: dict) -> int:
    """Point trigger conditions at input keys their task has; returns how many keys were rewritten.

    TFX 1.21's V2 compiler can write a condition over ``inputs.artifacts['_<producer>.<output>']`` (its implicit key
    for the condition's channel) on a task that consumes that channel under another key (TestThenTrain: ``examples``),
    without adding the implicit key to the task's inputs. KFP evaluates conditions over the task's inputs, so the
    task would fail; the key is replaced by the task's input of the same producer and output.
    """
    n = 0
    for task in job["pipelineSpec"]["root"]["dag"]["tasks"].values():
        condition = task.get("triggerPolicy", {}).get("condition")
        if not condition:
            continue
        inputs = task.get("inputs", {}).get("artifacts", {})
        by_source = {
            f"_{src['taskOutputArtifact']['producerTask']}.{src['taskOutputArtifact']['outputArtifactKey']}": key
            for key, src in inputs.items()
            if "taskOutputArtifact" in src
        }
        for implicit in set(re.findall(r"inputs\.artifacts\['([^']+)'\]", condition)):
            if implicit not in inputs and implicit in by_source:
                condition = condition.replace(f"['{implicit}']", f"['{by_source[implicit]}']")
                n += 1
        task["triggerPolicy"]["condition"] = condition
    return n


def compile_pipeline(
    output: str,
    *,
    image: str,
    pipeline_root: str,
    spans_root: str,
    serving_dir: str,
    knobs: dict,
) -> dict:
    """Write the V2 spec of the pipeline to ``output`` (.json: PipelineJob; .yaml/.yml: PipelineSpec); return the
    PipelineJob dict."""
    import yaml
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    from pipeline.factory import create_pipeline, default_schema

    knobs = dict(knobs)
    knobs.pop("spans_root", None)
    if "schema_path" not in knobs or knobs["schema_path"] is None:
        local = default_schema(bool(knobs.get("explicit", False)))
        knobs["schema_path"] = os.path.join(IMAGE_SOURCE, "pipeline", "schema", os.path.basename(local))
    pipeline = create_pipeline(
        pipeline_root=pipeline_root,
        spans_root=spans_root,
        serving_dir=serving_dir,
        metadata_path=None,
        span=None,
        resolution="latest",
        worker_image=image,
        **knobs,
    )
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True)
    )
    job = runner.run(pipeline, write_out=False)
    add_env(job, ENV)
    fix_condition_inputs(job)
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        if output.endswith((".yaml", ".yml")):
            yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
        else:
            json.dump(job, f, indent=1, sort_keys=True)
    os.replace(tmp, output)
    return job
