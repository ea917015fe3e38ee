"""The ASMG meta model-generator: spec of a base model's variables, the generator, its training and its state."""

from asmg_tf.generator.functional import substituted
from asmg_tf.generator.meta_generator import GRU, LINEAR, MetaGenerator
from asmg_tf.generator.meta_train import MetaTrainer, loss_weights, num_batches
from asmg_tf.generator.row_gather import RowPlan, RowTable, touched_rows
from asmg_tf.generator.spec import DENSE, TABLE, UnsupportedModelError, VariableSpec, model_spec
from asmg_tf.generator.state import GeneratorState

__all__ = [
    "DENSE",
    "GRU",
    "GeneratorState",
    "LINEAR",
    "MetaGenerator",
    "MetaTrainer",
    "RowPlan",
    "RowTable",
    "TABLE",
    "UnsupportedModelError",
    "VariableSpec",
    "loss_weights",
    "model_spec",
    "num_batches",
    "substituted",
    "touched_rows",
]
