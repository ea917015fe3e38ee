"""SML-MF: SML on a matrix-factorisation base model with its own pretraining (docs/method.md §4.6).

* Pretraining: MF on periods 1..pretrain_end for ``pretrain_epochs`` epochs at ``pretrain_lr``, keeping the epoch
  with the best AUC on the first update period (never a test period); cached under the context's cache folder.
* Transfer: one network per entity on its concatenated [embedding, bias] rows (d = 8 + 1).
* Per period: ``base_epochs`` epochs of Ŵ, then ``transfer_epochs`` epochs of f, each followed by Ŵ := f(W_prev, Ŵ)
  as in the paper's code. The paper reports the best of the 5 base epochs by next-period AUC, i.e. selected on
  the test data; we serve the model after the last base epoch instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import tensorflow as tf

from asmg_tf.generator.spec import VariableSpec
from asmg_tf.models.mf import MatrixFactorization
from asmg_tf.training.loop import compile_model, ensure_built, make_optimizer
from asmg_tf.training.pretrain import pretrain_cached
from asmg_tf.updaters.sml import SML, TransferGroup

if TYPE_CHECKING:
    from asmg_tf.updaters.context import Context

#: the MF variables transferred together: [embedding, bias] of users and of items
MF_GROUPS = (
    ("user_embedding/embeddings", "user_bias/embeddings"),
    ("item_embedding/embeddings", "item_bias/embeddings"),
)


def new_mf(ctx: Context, learning_rate: float) -> tuple[MatrixFactorization, tf.keras.optimizers.Optimizer]:
    """A fresh, built, compiled MF model sized for the context's data, and its Adam optimizer."""
    tf.keras.utils.set_random_seed(ctx.config.seed)
    model = MatrixFactorization(ctx.period_set().num_users, ctx.period_set().num_items, ctx.config.embedding_dim)
    ensure_built(model)
    optimizer = make_optimizer(learning_rate)
    compile_model(model, optimizer)
    return model, optimizer


def pretrained_mf(
    ctx: Context, *, pretrain_lr: float, epochs: int, learning_rate: float
) -> tuple[MatrixFactorization, tf.keras.optimizers.Optimizer]:
    """MF pretrained as SML-MF's own starting point (weights and Adam state), computed once per data, settings
    and pretraining options; the optimizer continues at ``learning_rate``."""
    model, optimizer = new_mf(ctx, pretrain_lr)
    pretrain_cached(
        ctx.cache_path(f"sml_mf-pretrain-lr{pretrain_lr:g}-e{epochs}"),
        model,
        optimizer,
        ctx.period_set(),
        ctx.config.replace(pretrain_epochs=epochs),
        what=f"sml_mf: pretraining MF at lr {pretrain_lr:g}",
        log=ctx.log,
    )
    optimizer.learning_rate = learning_rate
    return model, optimizer


class SMLMF(SML):
    """Options (per data kind): ``pretrain_lr``, ``pretrain_epochs``, ``base_lr``, ``transfer_lr``,
    ``emb`` [n1, n2, l1], ``base_epochs``, ``transfer_epochs``; plus ``row_gather`` (True)."""

    needs_period_set = True  # pretrains its own MF model on the pretraining periods (asmg bench only)

    family = "sml_mf"

    def pretrained_base(self):
        c = self.config
        return pretrained_mf(
            self.ctx, pretrain_lr=c["pretrain_lr"], epochs=c["pretrain_epochs"], learning_rate=c["base_lr"]
        )

    def new_base(self):
        return new_mf(self.ctx, self.config["base_lr"])

    def make_groups(self, specs: Sequence[VariableSpec]) -> list[TransferGroup]:
        by_key = {s.key: s for s in specs}
        missing = sorted({k for pair in MF_GROUPS for k in pair} - set(by_key))
        if missing:
            raise ValueError(f"sml_mf: the MF model lacks {missing}; it has {sorted(by_key)}")
        return [TransferGroup(tuple(by_key[k] for k in pair)) for pair in MF_GROUPS]
