"""A user's model module file, the TFX way: packaged as a wheel into the pipeline root when the pipeline is built
(TFX's ``udf_utils``, as for the Trainer's ``module_file``), installed and imported where a component runs.

Importing the module registers its ranker (``@asmg_tf.models.register_ranker``), so ``--model NAME`` finds it.
A component that builds models declares ``MODULE_PARAMETERS`` and calls ``add_module_dependency`` in its
constructor, and its executor calls ``import_user_module(exec_properties)`` first.
"""

from __future__ import annotations

from typing import Any

from tfx.types.component_spec import ExecutionParameter

MODULE_FILE = "module_file"  # the file as given (cleared once TFX packaged it)
MODULE_PATH = "module_path"  # "module@<pipeline_root>/_wheels/<wheel>" after packaging
MODULE_PARAMETERS = {
    MODULE_FILE: ExecutionParameter(type=str, optional=True),
    MODULE_PATH: ExecutionParameter(type=str, optional=True),
}


def add_module_dependency(component) -> None:
    """Have TFX package ``component``'s module file into the pipeline root (when it has one)."""
    from tfx.components.util import udf_utils

    if component.exec_properties.get(MODULE_FILE) and udf_utils.should_package_user_modules():
        udf_utils.add_user_module_dependency(component, MODULE_FILE, MODULE_PATH)


def import_user_module(exec_properties: dict[str, Any]) -> None:
    """Import the component's user module (from its wheel, or from the file when it was not packaged)."""
    from tfx.utils import import_utils

    if exec_properties.get(MODULE_PATH):  # installs the wheel for the import, as TFX's Trainer does
        import_utils.import_func_from_module(exec_properties[MODULE_PATH], "__name__")
    elif exec_properties.get(MODULE_FILE):
        import_utils.import_func_from_source(exec_properties[MODULE_FILE], "__name__")


def check_model_module(path: str, model: str) -> None:
    """Fail early (before any run) when ``path`` cannot be the pipeline's model module for ``model``: it must exist,
    import, register ``model`` and define ``run_fn`` (TFX's Trainer calls ``run_fn`` of its module file; ``from
    pipeline.trainer_module import run_fn`` is the package's)."""
    from asmg_tf.models.registry import import_model_module, ranker_class

    module = import_model_module(path)  # errors name the file
    ranker_class(model)  # registered by the module (or shipped)
    if not hasattr(module, "run_fn"):
        raise ValueError(
            f"model module {path!r} defines no run_fn: TFX's Trainer calls run_fn of its module file; add "
            "`from pipeline.trainer_module import run_fn  # noqa: F401`"
        )
