"""SML, sequential meta-learning with a transfer network (Zhang et al. SIGIR 2020; docs/method.md §4.5).

The served model is W_i = f(W_{i-1}, Ŵ_i): a ``TransferCNN`` per variable group merges the previous parameters with
newly learned ones. Per iteration i (the paper's order; ``serve`` then ``observe``):

    serve(i):    W_prev := W_{i-1};  Ŵ starts at W_{i-1} and is trained on D_i *through* f (f fixed)
                 (base_epochs shuffled epochs, Adam at base_lr); serve f(W_prev, Ŵ), scored on D_{i+1}
    observe(i):  train f on D_{i+1} with Ŵ fixed (transfer_epochs epochs, Adam at transfer_lr); after each epoch
                 Ŵ := f(W_prev, Ŵ), which becomes W_i, the "previous" model of the next iteration

Variable groups: every embedding table has one network shared by all its rows; every dense tensor is flattened
into a single row with a network of its own; tables listed together (SML-MF's [embedding, bias]) are transferred
on their concatenated columns. Both optimizers' states persist across periods. At the first iteration Ŵ and
W_prev are the pretrained model and f is freshly (randomly) initialised, as in the paper's code.

Only the table rows a batch touches go through f during training (``row_gather``): f is row-wise, so values and
gradients equal those of the paper's whole-table computation.

Fragility (as in the paper's design, not a bug): the first served model is f_random(W_prev, Ŵ), a random
re-parameterisation of the pretrained model. Depending on the initialisation (``seed``) and on how many optimiser
steps a period offers, f either learns to reproduce good parameters within a few periods or the first transfer
epoch drives the MLP's ReLUs dead, after which the output is constant (AUC 0.5) for good.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from asmg_tf.generator.functional import substituted
from asmg_tf.generator.row_gather import RowTable, touched_rows
from asmg_tf.generator.spec import DENSE, TABLE, VariableSpec, model_spec
from asmg_tf.layers.transfer_cnn import TransferCNN
from asmg_tf.models import features as F
from asmg_tf.models.features import make_dataset
from asmg_tf.models.weights import named_trainable_variables, set_weights
from asmg_tf.training.loop import make_optimizer, period_seed
from asmg_tf.training.state import create_slots
from asmg_tf.updaters.base import UpdateMethod
from asmg_tf.updaters.baseline_presets import baseline_options, check_resumed_options


@dataclasses.dataclass(frozen=True, eq=False)
class TransferGroup:
    """Variables transferred by one network: a dense tensor (one row of P scalars), or tables with the same rows
    whose columns are concatenated in the listed order."""

    specs: tuple[VariableSpec, ...]

    def __post_init__(self) -> None:
        kinds = {s.kind for s in self.specs}
        if not self.specs or len(kinds) != 1:
            raise ValueError(f"a transfer group needs variables of one kind, got {self.specs}")
        if self.kind == DENSE and len(self.specs) != 1:
            raise ValueError(f"dense tensors are transferred one at a time, got {self.specs}")
        if len({s.num_rows for s in self.specs}) != 1:
            raise ValueError(f"tables transferred together need the same rows, got {self.specs}")

    @property
    def kind(self) -> str:
        return self.specs[0].kind

    @property
    def width(self) -> int:
        """d: the length of one transferred row."""
        return sum(s.num_coords for s in self.specs)

    def rows(self, values: Mapping[str, tf.Tensor], ids: tf.Tensor | None = None) -> tf.Tensor:
        """``[R, d]``: every row (or rows ``ids`` of the tables) with the group's columns side by side."""
        parts = [s.to_rows(tf.convert_to_tensor(values[s.key])) for s in self.specs]
        if ids is not None:
            parts = [tf.gather(p, ids) for p in parts]
        return tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]

    def split(self, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        """Inverse of ``rows``: ``{key: value}`` (tables keep their row count, dense tensors their shape)."""
        parts = tf.split(rows, [s.num_coords for s in self.specs], axis=-1) if len(self.specs) > 1 else [rows]
        return {s.key: s.from_rows(p) for s, p in zip(self.specs, parts)}


def single_groups(specs: Sequence[VariableSpec]) -> list[TransferGroup]:
    """One group per variable (SML on Embedding&MLP)."""
    return [TransferGroup((s,)) for s in specs]


class TransferNetworks(tf.Module):
    """One ``TransferCNN`` per group, built for its row width. ``sizes[g]`` is (n1, n2, l1) of group g."""

    def __init__(self, groups: Sequence[TransferGroup], sizes: Sequence[Sequence[int]], name: str = "transfer"):
        super().__init__(name=name)
        if len(groups) != len(sizes):
            raise ValueError(f"{len(groups)} groups but {len(sizes)} transfer sizes")
        self.networks = []
        for g, (n1, n2, l1) in zip(groups, sizes):
            net = TransferCNN(n1, n2, l1, name=f"transfer_{len(self.networks)}")
            net(tf.zeros([1, g.width]), tf.zeros([1, g.width]))
            self.networks.append(net)


class TransferredModel:
    """A base model read through the transfer: W = f(W_prev, Ŵ), where Ŵ are the model's own variables.

    Args:
        model: the built base model holding Ŵ (trained through f by ``base_step``).
        groups: its variable groups (``single_groups`` or SML-MF's pairs).
        networks: one transfer network per group.
        row_gather: send only the table rows a batch touches through f.
    """

    def __init__(
        self, model: tf.keras.Model, groups: Sequence[TransferGroup], networks: TransferNetworks, *, row_gather=True
    ):
        self.model, self.groups, self.networks = model, list(groups), networks
        self.specs = model_spec(model)
        self.row_gather = bool(row_gather)
        self.new = named_trainable_variables(model)
        grouped = sorted(s.key for g in self.groups for s in g.specs)
        if grouped != sorted(self.new):
            raise ValueError(f"transfer groups cover {grouped}, the model has {sorted(self.new)}")
        self.prev = {k: tf.Variable(v, trainable=False, name=f"prev_{i}") for i, (k, v) in enumerate(self.new.items())}
        # W_prev is state between serve(i) and observe(i) (where runs save): checkpointed with the method
        self.previous = tf.Module(name="previous")
        self.previous.values = list(self.prev.values())

    def remember_previous(self) -> None:
        """W_prev := Ŵ (the start of an iteration: Ŵ holds W_{i-1})."""
        for k, v in self.new.items():
            self.prev[k].assign(v)

    def weights(self) -> dict[str, tf.Tensor]:
        """f(W_prev, Ŵ) for every variable, whole tables."""
        out: dict[str, tf.Tensor] = {}
        for g, net in zip(self.groups, self.networks.networks):
            out.update(g.split(net(g.rows(self.prev), g.rows(self.new))))
        return out

    def commit(self) -> None:
        """Ŵ := f(W_prev, Ŵ)."""
        for k, v in self.weights().items():
            self.new[k].assign(v)

    def substitutes(self, batch: Mapping[str, tf.Tensor]) -> dict[str, object]:
        """f(W_prev, Ŵ) for what ``batch`` needs: gathered rows (``RowTable``) for tables, whole dense tensors."""
        touched = touched_rows(self.specs, self.model, [batch]) if self.row_gather else {}
        out: dict[str, object] = {}
        for g, net in zip(self.groups, self.networks.networks):
            if g.kind == TABLE and self.row_gather:
                plans = {s.key: touched[s.key] for s in g.specs}
                ids = plans[g.specs[0].key].ids
                for plan in plans.values():  # tables transferred together (MF's [embedding, bias]) share ids
                    tf.debugging.assert_equal(plan.ids, ids, message="tables of one transfer group saw other ids")
                rows = net(g.rows(self.prev, ids), g.rows(self.new, ids))
                out.update({k: RowTable(k, plans[k], v) for k, v in g.split(rows).items()})
            else:
                out.update(g.split(net(g.rows(self.prev), g.rows(self.new))))
        return out

    def loss(self, batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """Mean sigmoid cross-entropy of the transferred model on ``batch``."""
        with substituted(self.specs, self.substitutes(batch)):
            logits = self.model(batch)
        labels = tf.cast(batch[F.LABEL], logits.dtype)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def train_step_function(loss_fn, variables: Sequence[tf.Variable], optimizer, element_spec):
    """A ``tf.function`` doing one optimiser step of ``loss_fn(batch)`` on ``variables`` only."""

    def step(batch):
        with tf.GradientTape() as tape:
            loss = loss_fn(batch)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return tf.function(step, input_signature=[element_spec], autograph=False)


class SML(UpdateMethod):
    """Per-kind options (docs/method.md §4.5): ``base_lr``, ``transfer_lr``, ``emb`` [n1, n2, l1] of the table networks,
    ``mlp`` [n1, n2] and ``mlp_l1`` (one l1 per dense tensor, in the model's variable order) of the dense-tensor
    networks, ``base_epochs``, ``transfer_epochs``; plus ``row_gather`` (True) and ``seed`` (123, the transfer
    networks' initialisation)."""

    family = "sml"

    def __init__(self, ctx, **options):
        super().__init__(ctx, **options)
        extra = {"row_gather": bool(options.pop("row_gather", True)), "seed": int(options.pop("seed", 123))}
        self.config = {**baseline_options(self.family, ctx.kind, options), **extra}
        if min(self.config["base_epochs"], self.config["transfer_epochs"]) < 1:
            raise ValueError(f"{self.family}: base_epochs and transfer_epochs must be >= 1, got {self.config}")
        self._steps: dict[str, tf.types.experimental.GenericFunction] = {}

    # -- hooks for the base model (SML-MF overrides them) ---------------------------------------------------------
    def pretrained_base(self) -> tuple[tf.keras.Model, tf.keras.optimizers.Optimizer]:
        """The pretrained base model and its Adam state, continuing at base_lr."""
        return self.ctx.pretrained(self.config["base_lr"])

    def new_base(self) -> tuple[tf.keras.Model, tf.keras.optimizers.Optimizer]:
        """A fresh base model (+ optimizer at base_lr) of the same architecture."""
        return self.ctx.new_trainable(self.config["base_lr"])

    def make_groups(self, specs: Sequence[VariableSpec]) -> list[TransferGroup]:
        return single_groups(specs)

    def transfer_sizes(self, groups: Sequence[TransferGroup]) -> list[list[int]]:
        """(n1, n2, l1) per group: ``emb`` for tables; ``mlp`` + the next ``mlp_l1`` entry for dense tensors."""
        dense = [g for g in groups if g.kind == DENSE]
        mlp_l1 = list(self.config.get("mlp_l1", []))
        if len(mlp_l1) != len(dense):
            raise ValueError(
                f"{self.family}: the model has {len(dense)} dense tensors "
                f"({[g.specs[0].key for g in dense]}) but mlp_l1 lists {len(mlp_l1)} widths; set "
                f"--option {self.name or self.family}.mlp_l1=[...]"
            )
        l1 = iter(mlp_l1)
        return [list(self.config["emb"]) if g.kind == TABLE else [*self.config["mlp"], next(l1)] for g in groups]

    # -- set-up ---------------------------------------------------------------------------------------------------
    def _setup(self, model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        groups = self.make_groups(model_spec(model))
        tf.keras.utils.set_random_seed(self.config["seed"])
        self.networks = TransferNetworks(groups, self.transfer_sizes(groups))
        self.transfer_optimizer = make_optimizer(self.config["transfer_lr"])
        self.transferred = TransferredModel(model, groups, self.networks, row_gather=self.config["row_gather"])
        self.serving, _ = self.new_base()
        self._steps = {}
        create_slots(self.networks, self.transfer_optimizer)  # zero slots now: a state saved before any transfer
        # step restores exactly

    def start(self) -> None:
        self._setup(*self.pretrained_base())

    def restore(self, extra_state: dict) -> None:
        check_resumed_options(self.name or self.family, extra_state.get("config"), self.config)
        model, optimizer = self.new_base()
        create_slots(model, optimizer)
        self._setup(model, optimizer)

    # -- training -------------------------------------------------------------------------------------------------
    def _epoch(self, which: str, t: int, seed: int) -> float:
        """One shuffled epoch on period t of the base (``which="base"``) or the transfer networks."""
        data = self.ctx.period(t)
        ds = make_dataset(data, self.ctx.item_categories, self.ctx.config.batch_size, shuffle=True, seed=seed)
        if which not in self._steps:
            variables, opt = (
                (list(self.transferred.new.values()), self.optimizer)
                if which == "base"
                else (self.networks.trainable_variables, self.transfer_optimizer)
            )
            self._steps[which] = train_step_function(self.transferred.loss, variables, opt, ds.element_spec)
        losses = [self._steps[which](batch) for batch in ds]
        return float(np.mean([float(x) for x in losses])) if losses else float("nan")

    def _seed(self, t: int, epoch: int, which: str) -> int:
        return period_seed(self.ctx.config.seed, t) + 100_000 * epoch + (0 if which == "base" else 50_000)

    def serve(self, i: int) -> tf.keras.Model:
        self.transferred.remember_previous()
        for e in range(self.config["base_epochs"]):
            self._epoch("base", i, self._seed(i, e, "base"))
        set_weights(self.serving, {k: v.numpy() for k, v in self.transferred.weights().items()})
        return self.serving

    def observe(self, i: int) -> None:
        for e in range(self.config["transfer_epochs"]):
            self._epoch("transfer", i + 1, self._seed(i + 1, e, "transfer"))
            self.transferred.commit()

    # -- state ----------------------------------------------------------------------------------------------------
    def trackables(self) -> dict[str, tf.Module]:
        return {
            "model": self.model,
            "optimizer": self.optimizer,
            "transfer": self.networks,
            "transfer_optimizer": self.transfer_optimizer,
            "previous": self.transferred.previous,
        }

    def extra_state(self) -> dict:
        return {"config": self.config}
