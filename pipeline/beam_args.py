"""Beam options for the pipeline's Beam components: where Beam's workers get their Python packages.

TFX's Beam executors, given options that name no worker environment (``--extra_package(s)``, ``--setup_file``,
``--requirements_file``, ``--sdk_container_image``, ``--worker_harness_container_image``), repackage the whole TFX
installation as an sdist for remote workers, in a fresh temporary folder that nobody removes: about 50 MB of /tmp
and a few seconds per Beam component per run, even on the in-process DirectRunner, which stages nothing (a day of
tests filled a 250 GB disk). That sdist would not help our workers anyway: they also need ``asmg_tf``. So unless
the options already say how workers get their packages, we say it: they run the asmg image (``make image``;
Kubeflow: the compiled pipeline's image), which has TFX and asmg_tf installed. The DirectRunner ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence

from asmg_tf import __version__

#: the image ``make image`` builds (scripts/image.sh; ASMG_IMAGE overrides it there)
DEFAULT_WORKER_IMAGE = f"asmg:{__version__}"
#: Beam options after which TFX leaves worker dependencies alone (tfx.utils.dependency_utils)
DEPENDENCY_OPTIONS = (
    "extra_package",
    "extra_packages",
    "setup_file",
    "requirements_file",
    "sdk_container_image",
    "worker_harness_container_image",
)


def _option_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0].replace("-", "_")


def with_worker_environment(args: Sequence[str], image: str | None = None) -> list[str]:
    """``args`` plus ``--sdk_container_image=<image>`` (default: the local ``make image`` tag), unless they already
    name how Beam's workers get their packages."""
    args = list(args)
    if any(_option_name(a) in DEPENDENCY_OPTIONS for a in args if a.startswith("-")):
        return args
    return [*args, f"--sdk_container_image={image or DEFAULT_WORKER_IMAGE}"]
