"""Version management like TF Serving's: which versions to load (policy), loading, hot swap, labels, unloading.

A poll lists ``<base_path>/<integer version>/`` directories that hold a ``saved_model.pb``; non-numeric names
(e.g. an exporter's ``.tmp-*`` staging folder) are ignored. Aspired versions are loaded (the warm-up records are
replayed before a version turns AVAILABLE) and published by swapping the map of available versions under a lock.
A request holds a reference to the version it started on: a version leaving the map is closed only when its last
in-flight request is done, so a hot swap fails no request. Old versions are unloaded only once an aspired version is
available (TF Serving's availability-preserving policy), so a newest version that fails to load (half-written, bad
graph) leaves the previous one serving; it is retried only when its directory changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving import schema as S
from serving.model_config import ModelEntry
from serving.server.inference import replay_warmup
from serving.server.servable import Servable
from serving.server.status import ServingStatusError, invalid, not_found
from serving.warmup import read_warmup

State = get_model_status_pb2.ModelVersionStatus.State
Log = Callable[[str], None]


@dataclasses.dataclass
class VersionState:
    version: int
    state: int
    error_code: int = 0
    error_message: str = ""
    fingerprint: tuple | None = None  # the directory as it was when a load failed


@dataclasses.dataclass(eq=False)
class _Handle:
    servable: Servable
    refs: int = 0
    retired: bool = False


def _fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under ``path``: changes when the directory is (re)written."""
    out = []
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            out.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def scan_versions(base_path: str) -> dict[int, str]:
    """``{version: directory}`` of numeric subdirectories holding a SavedModel file."""
    return {
        v: path
        for v, path in S.version_dirs(base_path).items()
        if any(os.path.exists(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt"))
    }


class ModelManager:
    """The loaded versions of one model.

    Args:
        entry: name, base path, version policy and labels (``serving.model_config.ModelEntry``).
        max_batch_size: passed to each ``Servable``.
        log: where load/unload messages go.
    """

    def __init__(self, entry: ModelEntry, *, max_batch_size: int = 0, log: Log = print):
        self.entry = entry
        self.max_batch_size = max_batch_size
        self.log = log
        self._available: dict[int, _Handle] = {}
        self._states: dict[int, VersionState] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.entry.name

    # -- which versions ------------------------------------------------------------------------------------------------
    def aspired(self, on_disk: dict[int, str]) -> set[int]:
        versions = sorted(on_disk)
        if self.entry.policy == "latest":
            return set(versions[-self.entry.num_latest :])
        if self.entry.policy == "all":
            return set(versions)
        return set(self.entry.versions) & set(versions)

    def poll(self) -> None:
        """Load aspired versions that are new (or changed since a failed load), unload the ones no longer aspired."""
        with self._poll_lock:
            on_disk = scan_versions(self.entry.base_path)
            aspired = self.aspired(on_disk)
            for version in sorted(aspired, reverse=True):
                if version in self._available:
                    continue
                fingerprint = _fingerprint(on_disk[version])
                state = self._states.get(version)
                if state and state.error_code and state.fingerprint == fingerprint:
                    continue
                self._load(version, on_disk[version], fingerprint)
            available = set(self._available)
            serving_aspired = bool(available & aspired)
            for version in sorted(available):
                if version not in on_disk or (version not in aspired and serving_aspired):
                    self._unload(version)

    def _load(self, version: int, path: str, fingerprint: tuple) -> None:
        with self._lock:
            self._states[version] = VersionState(version, State.LOADING)
        servable = None
        try:
            servable = Servable(self.name, version, path, max_batch_size=self.max_batch_size)
            warmed = replay_warmup(servable, read_warmup(path))
        except Exception as e:  # any failure leaves the version unloaded, with the reason in its status
            if servable is not None:
                servable.close()
            code = e.code if isinstance(e, ServingStatusError) else grpc.StatusCode.UNKNOWN
            message = f"Loading servable {self.name} version {version} from {path} failed: {type(e).__name__}: {e}"
            with self._lock:
                self._states[version] = VersionState(version, State.END, code.value[0], message, fingerprint)
            self.log(message)
            return
        with self._lock:
            available = dict(self._available)
            available[version] = _Handle(servable)
            self._available = available
            self._states[version] = VersionState(version, State.AVAILABLE)
        self.log(f"model {self.name}: version {version} AVAILABLE ({warmed} warm-up requests replayed)")

    def _unload(self, version: int) -> None:
        with self._lock:
            handle = self._available.get(version)
            if handle is None:
                return
            available = dict(self._available)
            del available[version]
            self._available = available
            handle.retired = True
            self._states[version] = VersionState(version, State.UNLOADING)
            close_now = handle.refs == 0
        if close_now:
            self._close(handle)

    def _close(self, handle: _Handle) -> None:
        handle.servable.close()
        version = handle.servable.version
        with self._lock:
            state = self._states.get(version)
            if state is not None and state.state == State.UNLOADING:
                self._states[version] = VersionState(version, State.END)
        self.log(f"model {self.name}: version {version} unloaded")

    # -- requests ------------------------------------------------------------------------------------------------------
    def resolve(self, version: int | None, label: str | None) -> int | None:
        """The version a request names (None: the latest available)."""
        if label:
            if label not in self.entry.labels:
                raise invalid(f"Unrecognized servable version label: {label}")
            return self.entry.labels[label]
        return version

    @contextlib.contextmanager
    def acquire(self, version: int | None = None, label: str | None = None) -> Iterator[Servable]:
        """The servable for a request, held (not unloaded) until the block ends."""
        wanted = self.resolve(version, label)
        with self._lock:
            if wanted is None:
                if not self._available:
                    raise not_found(f"Servable not found for request: Latest({self.name})")
                handle = self._available[max(self._available)]
            else:
                handle = self._available.get(wanted)
                if handle is None:
                    raise not_found(f"Servable not found for request: Specific({self.name}, {wanted})")
            handle.refs += 1
        try:
            yield handle.servable
        finally:
            with self._lock:
                handle.refs -= 1
                close_now = handle.retired and handle.refs == 0
            if close_now:
                self._close(handle)

    def available_versions(self) -> list[int]:
        return sorted(self._available)

    def statuses(self, version: int | None = None, label: str | None = None) -> list[VersionState]:
        wanted = self.resolve(version, label)
        with self._lock:
            states = dict(self._states)
        if not states:
            raise not_found(f"Could not find any versions of model {self.name}")
        if wanted is None:
            return [states[v] for v in sorted(states)]
        if wanted not in states:
            raise not_found(f"Could not find version {wanted} of model {self.name}")
        return [states[wanted]]

    def close(self) -> None:
        for version in list(self._available):
            self._unload(version)
