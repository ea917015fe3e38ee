"""The server's models: one ``ModelManager`` per configured model, config reloads, and the file-system poller."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator

from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from serving.model_config import ModelEntry
from serving.server.manager import Log, ModelManager
from serving.server.servable import Servable
from serving.server.status import failed_precondition, invalid, not_found


def spec_version(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    """(version, label) named by a ModelSpec; neither means the latest version."""
    which = spec.WhichOneof("version_choice")
    if which == "version":
        return spec.version.value, None
    if which == "version_label":
        return None, spec.version_label
    return None, None


class ServerCore:
    """Holds the model managers; resolves a ``ModelSpec`` to a held servable.

    Args:
        entries: the models to serve.
        max_batch_size: per-request limit on dim 0 (0: none).
        log: where load/unload messages go.
    """

    def __init__(self, entries: list[ModelEntry], *, max_batch_size: int = 0, log: Log = print):
        self.max_batch_size = max_batch_size
        self.log = log
        self._managers: dict[str, ModelManager] = {}
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        try:
            self.reload_config(entries)
        except Exception:  # e.g. a label on a version that did not load: unload what did
            self.close()
            raise

    # -- configuration -------------------------------------------------------------------------------------------------
    def reload_config(self, entries: list[ModelEntry]) -> None:
        """Serve exactly ``entries``: add/replace/remove models, load their versions, then apply the labels.

        A label may only point at an AVAILABLE version (TF Serving's rule); otherwise the labels are left as they
        were and FAILED_PRECONDITION is raised (the model list change itself stays applied).
        """
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise invalid(f"model names must be unique, got {names}")
        with self._reload_lock:
            managers, retired = {}, []
            for entry in entries:
                old = self._managers.get(entry.name)
                if old is not None and old.entry.base_path == entry.base_path:
                    old.entry = dataclasses.replace(entry, labels=old.entry.labels)
                    managers[entry.name] = old
                else:
                    managers[entry.name] = ModelManager(
                        dataclasses.replace(entry, labels={}), max_batch_size=self.max_batch_size, log=self.log
                    )
                    if old is not None:
                        retired.append(old)
            retired += [m for name, m in self._managers.items() if name not in managers]
            for manager in managers.values():
                manager.poll()
            self._managers = managers
            for manager in retired:
                manager.close()
            for entry in entries:
                available = managers[entry.name].available_versions()
                for label, version in sorted(entry.labels.items()):
                    if version not in available:
                        raise failed_precondition(
                            f"Request to assign label {label!r} to version {version} of model {entry.name}, which is "
                            f"not currently available for inference (available: {available})"
                        )
            for entry in entries:
                managers[entry.name].entry = dataclasses.replace(managers[entry.name].entry, labels=dict(entry.labels))
        self.log(f"serving models {names}")

    # -- requests ------------------------------------------------------------------------------------------------------
    def manager(self, name: str) -> ModelManager:
        manager = self._managers.get(name)
        if manager is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        return manager

    @contextlib.contextmanager
    def acquire(self, spec: model_pb2.ModelSpec) -> Iterator[Servable]:
        if not spec.name:
            raise invalid("Missing ModelSpec: set model_spec.name")
        version, label = spec_version(spec)
        with self.manager(spec.name).acquire(version, label) as servable:
            yield servable

    def model_status(self, spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusResponse:
        if not spec.name:
            raise invalid("Missing ModelSpec: set model_spec.name")
        manager = self._managers.get(spec.name)
        if manager is None:
            raise not_found(f"Could not find any versions of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in manager.statuses(*spec_version(spec)):
            status = response.model_version_status.add(version=state.version, state=state.state)
            status.status.error_code = state.error_code
            status.status.error_message = state.error_message
        return response

    # -- polling -------------------------------------------------------------------------------------------------------
    def poll_all(self) -> None:
        for manager in list(self._managers.values()):
            manager.poll()

    def start_polling(self, interval_s: float) -> None:
        """Poll every model's base path every ``interval_s`` seconds in a background thread (0: never)."""
        if interval_s <= 0 or self._poller is not None:
            return

        def loop():
            while not self._stop.wait(interval_s):
                with self._reload_lock:
                    try:
                        self.poll_all()
                    except Exception as e:  # keep serving; report
                        self.log(f"poll failed: {type(e).__name__}: {e}")

        self._poller = threading.Thread(target=loop, name="asmg-serving-poller", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        with self._reload_lock:  # a reload in progress finishes first, so its managers are closed too
            for manager in self._managers.values():
                manager.close()
