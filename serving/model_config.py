"""``models.config`` for TF Serving: a ``ModelServerConfig`` text proto (``model_config_list``).

Written atomically; read back by ``asmg serve`` and by ``tensorflow_model_server --model_config_file=...``
(reloaded every ``--model_config_file_poll_wait_seconds`` or through ``ModelService.HandleReloadConfigRequest``).

Version policies: ``latest`` (the N largest versions), ``all``, ``specific`` (listed versions). Labels name versions,
e.g. ``{"stable": 1700000000, "canary": 1700086400}``: clients ask for a label and a roll-out is a config edit.
TF Serving only lets a label point at a version that is loaded (AVAILABLE), so a canary uses the ``specific``
policy with both versions listed (``canary_entry``).
"""

from __future__ import annotations

import dataclasses

from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2 as fs_pb2
from tensorflow_serving.config import model_server_config_pb2 as config_pb2

from asmg_tf.files import write_text


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One served model.

    Args:
        name: the model name clients use (``ModelSpec.name``).
        base_path: the folder holding ``<integer version>/`` directories (absolute, or as the server sees it).
        policy: ``"latest"``, ``"all"`` or ``"specific"``.
        versions: for ``latest`` the count N (default 1); for ``specific`` the version numbers.
        labels: ``{label: version}``, e.g. ``stable`` / ``canary``.
    """

    name: str
    base_path: str
    policy: str = "latest"
    versions: tuple[int, ...] = ()
    labels: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model needs a name")
        if self.policy not in ("latest", "all", "specific"):
            raise ValueError(f"policy must be latest, all or specific, got {self.policy!r}")
        if self.policy == "specific" and not self.versions:
            raise ValueError(f"{self.name}: the specific policy needs at least one version")
        if self.policy == "latest" and len(self.versions) > 1:
            raise ValueError(
                f"{self.name}: the latest policy takes one number (how many versions), got {self.versions}"
            )
        if self.policy == "specific":
            missing = {k: v for k, v in self.labels.items() if v not in self.versions}
            if missing:
                raise ValueError(f"{self.name}: labels {missing} point at versions the specific policy does not load")

    @property
    def num_latest(self) -> int:
        return self.versions[0] if self.policy == "latest" and self.versions else 1

    def to_proto(self) -> config_pb2.ModelConfig:
        config = config_pb2.ModelConfig(name=self.name, base_path=self.base_path, model_platform="tensorflow")
        policy = config.model_version_policy
        if self.policy == "latest":
            policy.latest.CopyFrom(
                fs_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy.Latest(num_versions=self.num_latest)
            )
        elif self.policy == "all":
            policy.all.SetInParent()
        else:
            policy.specific.versions.extend(self.versions)
        for label, version in sorted(self.labels.items()):
            config.version_labels[label] = int(version)
        return config

    @classmethod
    def from_proto(cls, config: config_pb2.ModelConfig) -> ModelEntry:
        if config.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{config.name}: model_platform {config.model_platform!r} is not supported (tensorflow)")
        which = config.model_version_policy.WhichOneof("policy_choice")
        if which == "all":
            policy, versions = "all", ()
        elif which == "specific":
            policy, versions = "specific", tuple(config.model_version_policy.specific.versions)
        else:
            n = config.model_version_policy.latest.num_versions if which == "latest" else 0
            policy, versions = "latest", ((n,) if n else ())
        return cls(config.name, config.base_path, policy, versions, dict(config.version_labels))


def canary_entry(name: str, base_path: str, stable: int, canary: int) -> ModelEntry:
    """Serve ``stable`` and ``canary`` side by side under those labels (``specific`` policy)."""
    return ModelEntry(
        name, base_path, "specific", tuple(sorted({stable, canary})), {"stable": stable, "canary": canary}
    )


def to_proto(entries: list[ModelEntry]) -> config_pb2.ModelServerConfig:
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    config = config_pb2.ModelServerConfig()
    config.model_config_list.config.extend(e.to_proto() for e in entries)
    return config


def from_proto(config: config_pb2.ModelServerConfig) -> list[ModelEntry]:
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("only model_config_list configs are supported")
    return [ModelEntry.from_proto(c) for c in config.model_config_list.config]


def format_config(entries: list[ModelEntry]) -> str:
    return text_format.MessageToString(to_proto(entries))


def write_model_config(path: str, entries: list[ModelEntry]) -> str:
    """Write ``entries`` as a ``models.config`` text proto, atomically (temp file + rename)."""
    write_text(path, format_config(entries))
    return path


def read_model_config(path: str) -> list[ModelEntry]:
    """Parse a ``models.config`` text proto; errors name the file."""
    with open(path) as f:
        text = f.read()
    try:
        config = text_format.Parse(text, config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a ModelServerConfig text proto: {e}") from None
    return from_proto(config)
