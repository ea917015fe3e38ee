"""VersionedPusher executor: copy the chosen SavedModel to ``<serving_dir>/<version>/``, atomically, once.

The version is the span: increasing per period, the same on a rerun (a rerun finds its own earlier push and leaves
it; a different model under an existing version is refused, versions are immutable). The stock Pusher would take a
Unix-time version and only one model; here the model is the generated one when the ``BlessingGate`` blessed it
(``pipeline.blessing``: warm-up over and not worse than IU on the last scored spans), else the IU model. The push
record (``assets.extra/asmg_push.json``) says which and why.

``push="both"`` (A/B in production) keeps both models of the span servable: the other model as version ``2 * span``
(label ``canary``), the chosen one as ``2 * span + 1`` (label ``stable``, and the latest, so a client naming no label
gets it), and ``<serving_dir>/models.config`` serving exactly these two under their labels (``specific`` policy; TF
Serving reads it with ``--model_config_file``; it accepts labels for versions it has not loaded yet only with
``--allow_version_labels_for_unavailable_models``). Split live traffic by label.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline import fs, model_io
from pipeline.artifacts import SPAN

PUSH_INFO = os.path.join("assets.extra", "asmg_push.json")
MODEL_CONFIG = "models.config"
PUSH_MODES = ("one", "both")


def ab_versions(span: int) -> dict[str, int]:
    """The versions of a span's two models under ``push="both"``: the stable one is the latest."""
    return {"canary": 2 * span, "stable": 2 * span + 1}


def write_ab_config(serving_dir: str, versions: dict[str, int]) -> str:
    """``<serving_dir>/models.config``: the model (named as the folder) serving ``versions`` under their labels."""
    from serving.model_config import canary_entry, format_config

    name = os.path.basename(serving_dir.rstrip("/"))
    entry = canary_entry(name, serving_dir, stable=versions["stable"], canary=versions["canary"])
    path = fs.join(serving_dir, MODEL_CONFIG)
    fs.write_text(path, format_config([entry]))
    return path


def push(source_uri: str, serving_dir: str, version: int, info: dict) -> tuple[str, bool]:
    """Copy ``source_uri``'s SavedModel to ``serving_dir/version``; returns (path, whether it was copied now)."""
    src = model_io.serving_dir(source_uri)
    if not fs.exists(fs.join(src, "saved_model.pb")):
        raise FileNotFoundError(f"{src} holds no SavedModel to push")
    dest = fs.join(serving_dir, str(version))
    if fs.exists(dest):
        record = fs.join(dest, PUSH_INFO)
        existing = fs.read_json(record) if fs.exists(record) else {}
        if existing.get("source_uri") == source_uri:
            return dest, False
        raise FileExistsError(
            f"{dest} already holds another model ({existing.get('source_uri', 'unknown source')}); versions are "
            "immutable: push to a fresh serving directory or remove that version by hand"
        )
    staging = fs.join(serving_dir, f".tmp-{version}-{uuid.uuid4().hex}")  # hidden: TF Serving ignores it
    try:
        fs.copy_tree(src, staging)
        fs.write_json(fs.join(staging, PUSH_INFO), {**info, "source_uri": source_uri})
        fs.publish_dir(staging, dest)
    finally:
        fs.remove_tree(staging)
    return dest, True


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        iu = artifact_utils.get_single_instance(input_dict["model"])
        generated = artifact_utils.get_single_instance(input_dict["generated_model"])
        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        blessed = bool(blessing.get_int_custom_property("blessed"))
        if blessed and blessing.get_string_custom_property("current_model") != generated.uri:
            raise ValueError(
                f"the blessing is of {blessing.get_string_custom_property('current_model')}, not {generated.uri}"
            )
        chosen, other = (generated, iu) if blessed else (iu, generated)
        info = model_io.read_info(chosen.uri)
        span = int(info["span"])
        source = "generated" if blessed else "iu"
        reason = blessing.get_string_custom_property("reason")
        record = {"span": span, "source": source, "blessed": blessed, "reason": reason}
        mode = exec_properties.get("push") or "one"
        if mode not in PUSH_MODES:
            raise ValueError(f"push must be one of {PUSH_MODES}, got {mode!r}")
        serving_dir = exec_properties["serving_dir"]
        out = artifact_utils.get_single_instance(output_dict["pushed_model"])
        version = span
        if mode == "both":
            versions = ab_versions(span)
            version = versions["stable"]
            canary_source = "iu" if blessed else "generated"
            canary = {**record, "source": canary_source, "label": "canary"}
            canary_dest, _ = push(other.uri, serving_dir, versions["canary"], canary)
            record["label"] = "stable"
            out.set_string_custom_property("canary_destination", canary_dest)
            out.set_int_custom_property("canary_version", versions["canary"])
            out.set_string_custom_property("canary_source", canary_source)
        dest, copied = push(chosen.uri, serving_dir, version, record)
        if mode == "both":  # after both versions are complete: a server never sees a label without its version
            out.set_string_custom_property("model_config", write_ab_config(serving_dir, versions))
        out.set_int_custom_property("pushed", 1)
        out.set_string_custom_property("pushed_destination", dest)
        out.set_int_custom_property("pushed_version", version)
        out.set_int_custom_property(SPAN, span)
        out.set_string_custom_property("source", source)
        out.set_int_custom_property("copied", int(copied))
        out.set_int_custom_property("blessed", int(blessed))
        out.set_string_custom_property("reason", reason)
