"""``LocalServer``: the gRPC services, the REST endpoint and the pollers around one ``ServerCore``.

A development and test server that speaks TF Serving's protocols. Production serves the same SavedModels with
``tensorflow/serving`` (``serving/deploy``). Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import os
import threading
from concurrent import futures

import grpc

from serving import schema as S
from serving.model_config import ModelEntry, read_model_config
from serving.server.core import ServerCore
from serving.server.grpc_service import add_services
from serving.server.manager import Log
from serving.server.rest import RestServer


class LocalServer:
    """Serve ``entries`` (or the models of ``config_file``) over gRPC and REST.

    Args:
        entries: the models; or None with ``config_file``.
        config_file: a ``models.config`` text proto, re-read when it changes (every ``config_poll_seconds``).
        host: the interface to bind (127.0.0.1 by default: loopback only).
        port, rest_port: 0 for ephemeral ports (see ``.port`` / ``.rest_port``); ``rest_port=None`` disables REST.
        poll_seconds: how often base paths are scanned for new versions (0: only at start and on reload).
        max_batch_size: the largest dim 0 accepted per request (0: no limit).
        workers: gRPC worker threads.
    """

    def __init__(
        self,
        entries: list[ModelEntry] | None = None,
        *,
        config_file: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rest_port: int | None = 0,
        poll_seconds: float = 1.0,
        config_poll_seconds: float = 0.0,
        max_batch_size: int = 1024,
        workers: int = 8,
        log: Log = print,
    ):
        if (entries is None) == (config_file is None):
            raise ValueError("give either entries or config_file")
        self.config_file = config_file
        self.log = log
        self.core = ServerCore(
            entries if entries is not None else read_model_config(config_file), max_batch_size=max_batch_size, log=log
        )
        try:
            self._start_front_ends(host, port, rest_port, workers)
        except Exception:
            self.core.close()
            raise
        self.core.start_polling(poll_seconds)
        self._stop = threading.Event()
        self._config_thread = None
        if config_file and config_poll_seconds > 0:
            self._config_thread = threading.Thread(target=self._watch_config, args=(config_poll_seconds,), daemon=True)
            self._config_thread.start()

    def _start_front_ends(self, host: str, port: int, rest_port: int | None, workers: int) -> None:
        self.grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asmg-serving-grpc"),
            options=[
                ("grpc.max_receive_message_length", S.MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", S.MAX_MESSAGE_BYTES),
            ],
        )
        add_services(self.grpc, self.core)
        self.host = host
        try:
            self.port = self.grpc.add_insecure_port(f"{host}:{port}")
        except RuntimeError as e:  # grpcio raises (older versions returned 0) when the address cannot be bound
            raise OSError(f"cannot bind gRPC to {host}:{port} (an IPv4 host name or address): {e}") from None
        self.grpc.start()
        self.rest = None
        try:
            self.rest = RestServer(self.core, host, rest_port) if rest_port is not None else None
        except Exception:
            self.grpc.stop(0)
            raise
        self.rest_port = self.rest.port if self.rest else None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def _watch_config(self, interval: float) -> None:
        last = os.stat(self.config_file).st_mtime_ns
        while not self._stop.wait(interval):
            try:
                mtime = os.stat(self.config_file).st_mtime_ns
                if mtime != last:
                    last = mtime
                    self.core.reload_config(read_model_config(self.config_file))
            except Exception as e:  # keep serving the previous config
                self.log(f"config reload from {self.config_file} failed: {type(e).__name__}: {e}")

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting requests, let in-flight ones finish (up to ``grace`` s), unload every version."""
        self._stop.set()
        if self._config_thread is not None:
            self._config_thread.join(timeout=30)
        self.grpc.stop(grace).wait()
        if self.rest:
            self.rest.stop()
        self.core.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
