"""ASMG (docs/method.md §3): a meta generator reads the last k IU models and generates the serving model.

Per iteration i (test-then-train, docs/method.md §3.6):
    serve(i):   Θ*_i = step-T output of the generator on the IU models Θ_{i-T+1..i} from h_{i-T} -> scored on D_{i+1}
    observe(i): one epoch of meta-training, step j's output scored on D_{i-T+j+1}; then (carry-over variants)
                h_{i-T+1} = the state after step 1, recomputed with the updated weights.
The IU chain (``ctx.iu_weights``) is only read; the generated model is a plain instance of the base model.

Variants (all options can be overridden, e.g. ``--option asmg_gru_multi.k=4``):

| name              | generator | window k       | initial state       | loss weights |
| asmg_gru_multi    | GRU       | 3              | carried             | linear       |
| asmg_gru_unif     | GRU       | 3              | carried             | uniform      |
| asmg_gru_single   | GRU       | 3              | carried             | last only    |
| asmg_gru_zero     | GRU       | 3              | zeros               | linear       |
| asmg_gru_full     | GRU       | "full" (i - 10)| zeros               | linear       |
| asmg_linear       | softmax   | 3              | -                   | last only    |

Options: k (int or "full"), hidden_size (H, 4), lr (1e-2, TF1 Adam), batch_size (meta_bs; default the base
batch size, as in the paper), loss_weight (linear/uniform/exp/last), row_gather (True), seed (generator
initialisation and meta-training shuffles; default: the base model's seed, 123 unless ``--seed``), epochs (meta
epochs per iteration, 1 as in the paper). ``residual``, ``extrapolate`` and ``normalize`` (a generator that corrects
the newest input, not in the paper) are set by ``asmg_plus`` (``asmg_tf.updaters.asmg_plus``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time

import tensorflow as tf

from asmg_tf.generator.meta_generator import GRU, LINEAR, MetaGenerator
from asmg_tf.generator.meta_train import LOSS_WEIGHTS, MetaTrainer, loss_weights
from asmg_tf.generator.spec import model_spec
from asmg_tf.generator.state import GeneratorState
from asmg_tf.generator.streaming import CHUNK_ROWS, WindowRows, write_generated
from asmg_tf.training.loop import make_optimizer
from asmg_tf.updaters.base import UpdateMethod
from asmg_tf.updaters.baseline_presets import check_resumed_options

FULL = "full"


@dataclasses.dataclass(frozen=True)
class ASMGConfig:
    generator: str = GRU
    k: int | str = 3
    hidden_size: int = 4
    lr: float = 1e-2
    batch_size: int | None = None
    loss_weight: str = "linear"
    carry_state: bool = True
    row_gather: bool = True
    seed: int = 123
    epochs: int = 1
    residual: bool = False
    extrapolate: bool = False
    normalize: bool = False

    def __post_init__(self) -> None:
        if self.generator not in (GRU, LINEAR):
            raise ValueError(f"generator must be {GRU!r} or {LINEAR!r}, got {self.generator!r}")
        if not (self.k == FULL or (isinstance(self.k, int) and self.k >= 1)):
            raise ValueError(f"k must be a positive int or {FULL!r}, got {self.k!r}")
        if self.k == FULL and self.generator == LINEAR:
            raise ValueError("the linear generator needs a fixed window k")
        if self.loss_weight not in LOSS_WEIGHTS:
            raise ValueError(f"loss_weight must be one of {LOSS_WEIGHTS}, got {self.loss_weight!r}")
        if self.hidden_size < 1 or self.lr <= 0 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError(f"need hidden_size >= 1, lr > 0, batch_size >= 1; got {self}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if (self.residual or self.extrapolate or self.normalize) and self.generator != GRU:
            raise ValueError("residual, extrapolate and normalize apply to the GRU generator only")
        for name in ("extrapolate", "normalize"):
            if getattr(self, name) and not self.residual:
                raise ValueError(f"{name} needs residual")
        if self.normalize and self.k == 1:
            raise ValueError("normalize reads the changes between the window's models: it needs k >= 2 or 'full'")
        if self.k == FULL and self.carry_state:
            raise ValueError(
                "k='full' windows all start at the first update period, so there is no state to carry: "
                "set carry_state=false"
            )


#: method name -> the paper's settings of that variant (docs/method.md §3.7)
VARIANTS: dict[str, dict] = {
    "asmg_gru_multi": {},
    "asmg_gru_unif": {"loss_weight": "uniform"},
    "asmg_gru_single": {"loss_weight": "last"},
    "asmg_gru_zero": {"carry_state": False},
    "asmg_gru_full": {"k": FULL, "carry_state": False},
    "asmg_linear": {"generator": LINEAR, "loss_weight": "last", "carry_state": False},
}
#: options a user may set (generator kind and carry-over define the variant itself)
OPTIONS = ("k", "hidden_size", "lr", "batch_size", "loss_weight", "row_gather", "seed", "epochs")


class ASMG(UpdateMethod):
    """The ASMG update method; ``variant`` is one of ``variants``, options (``allowed_options``) override its settings."""

    variants: dict[str, dict] = VARIANTS
    allowed_options: tuple[str, ...] = OPTIONS
    uses_iu_chain = True

    def __init__(self, ctx, variant: str = "asmg_gru_multi", **options):
        super().__init__(ctx, **options)
        if variant not in self.variants:
            raise ValueError(f"unknown ASMG variant {variant!r}; available: {sorted(self.variants)}")
        unknown = sorted(set(options) - set(self.allowed_options))
        if unknown:
            raise ValueError(f"{variant}: unknown option(s) {unknown}; available: {list(self.allowed_options)}")
        self.variant = variant
        # the generator's seed follows the base model's unless given: a replicate with another --seed is another draw
        # of the whole method (the preset seed, 123, is the generator's former fixed default: same runs as before)
        seed = ASMGConfig.seed if ctx is None else ctx.config.seed  # no context: a rule tested on its own
        self.config = self._make_config({"seed": seed, **self.variants[variant], **options})
        self._state: GeneratorState | None = None
        #: the iteration whose generated model ``self._serving`` holds (None: not generated in this process)
        self._generated: int | None = None
        #: table rows generated at once (``serve``): memory, not results
        self.chunk_rows = CHUNK_ROWS
        self.meta_seconds: dict[str, float] = {}

    def _make_config(self, settings: dict) -> ASMGConfig:
        return ASMGConfig(**settings)

    # -- protocol ---------------------------------------------------------------------------------------------------
    def first_iteration(self) -> int:
        start = self.ctx.protocol.update_start
        return start if self.config.k == FULL else start + self.config.k - 1

    def window_periods(self, i: int) -> list[int]:
        """The IU models read in iteration i, oldest first."""
        first = self.ctx.protocol.update_start if self.config.k == FULL else i - self.config.k + 1
        if first < self.ctx.protocol.update_start:
            raise ValueError(f"iteration {i} needs IU models from period {first}, before the first update period")
        return list(range(first, i + 1))

    def start(self) -> None:
        cfg = self.config
        self._serving, _ = self.ctx.new_trainable()
        self._template, _ = self.ctx.new_trainable()
        specs = model_spec(self._template)
        generator = MetaGenerator(
            specs,
            cfg.generator,
            cfg.hidden_size,
            window=None if cfg.k == FULL else cfg.k,
            seed=cfg.seed,
            residual=cfg.residual,
            extrapolate=cfg.extrapolate,
            normalize=cfg.normalize,
        )
        self._state = GeneratorState(generator, make_optimizer(cfg.lr), carry_state=cfg.carry_state)
        # Adam's (zero) slots exist from the start, so a state saved before the first meta step restores exactly
        self._state.ensure_slots()
        self._trainer = MetaTrainer(self._template, generator, self._state.optimizer, row_gather=cfg.row_gather)

    def _load_window(self, i: int) -> dict:
        """The window of iteration i whole, for meta-training."""
        models = [self.ctx.iu_weights(t) for t in self.window_periods(i)]
        return MetaGenerator.window_tensors(models, self._state.generator.specs)

    def serve(self, i: int) -> tf.keras.Model:
        # chunk by chunk of table rows, straight into the serving model: memory of one model plus a chunk, whatever
        # k and the table sizes (asmg_tf.generator.streaming); meta-training (observe) reads its window whole
        window = WindowRows([self.ctx.iu_rows(t) for t in self.window_periods(i)])
        write_generated(self._serving, self._state.generator, window, self._state.initial_state(), self.chunk_rows)
        self._generated = i
        return self._serving

    def carried_inputs(self, i: int) -> tuple[list[int], list[int]]:
        """The IU models of the window at i (the next window is the same shifted by one; all for k = "full") and the
        meta-training targets at i that exist (observe(i) needs them, the newest comes with period i+1)."""
        at = max(i, self.first_iteration())
        return [t for t in self.window_periods(at) if t <= i], [t for t in self.targets(at)[0] if t <= i]

    def targets(self, i: int) -> tuple[list[int], list[int], list[float]]:
        """(target periods, 0-based window steps, loss weights) of iteration i; zero-weight steps are dropped."""
        periods = self.window_periods(i)
        kind = "last" if self.config.generator == LINEAR else self.config.loss_weight
        weights = loss_weights(kind, len(periods))
        keep = [j for j, w in enumerate(weights) if w > 0]
        return [periods[j] + 1 for j in keep], keep, [weights[j] for j in keep]

    def observe(self, i: int) -> None:
        window, state = self._load_window(i), self._state.initial_state()  # whole, for meta-training only
        target_periods, steps, weights = self.targets(i)
        start, meta_steps = time.perf_counter(), 0
        targets = [self.ctx.period(t) for t in target_periods]
        # normalize reads the changes between the window's models: a one-model window has none (no gradient)
        epochs = 0 if self.config.normalize and len(self.window_periods(i)) < 2 else self.config.epochs
        for epoch in range(epochs):
            result = self._trainer.train_epoch(
                window,
                state,
                targets,
                steps,
                weights,
                self.ctx.item_categories,
                self.config.batch_size or self.ctx.config.batch_size,
                seed=[self.config.seed, i] + ([epoch] if epoch else []),  # epoch 0 keeps the paper's shuffles
            )
            meta_steps += result["steps"]
        if self._state.carry_state:
            self._state.set_hidden(self._state.generator.state_after_first_step(window, state))
        self.meta_seconds[str(i)] = time.perf_counter() - start
        self._state.meta_steps.assign_add(meta_steps)
        self._state.last_iteration.assign(i)

    # -- state ------------------------------------------------------------------------------------------------------
    def trackables(self) -> dict[str, tf.Module]:
        return {"asmg": self._state}

    def extra_state(self) -> dict:
        return {"variant": self.variant, "config": dataclasses.asdict(self.config), "meta_seconds": self.meta_seconds}

    def restore(self, extra_state: dict) -> None:
        saved = extra_state.get("config")
        # a setting added since the run was saved means the behaviour before it existed: its paper value (off) in
        # ASMGConfig, so a later change of a method's default cannot make an older run look like the current one
        defaults = _as_json({**dataclasses.asdict(type(self.config)()), **dataclasses.asdict(ASMGConfig())})
        check_resumed_options(
            self.variant, None if saved is None else {**defaults, **saved}, _as_json(dataclasses.asdict(self.config))
        )
        self.start()
        self.meta_seconds = dict(extra_state.get("meta_seconds", {}))


def _as_json(obj: dict) -> dict:
    """``obj`` as it reads back from JSON (tuples become lists), for comparing with a saved config."""
    return json.loads(json.dumps(obj))


#: registry entries for ``asmg_tf.updaters.METHODS``
ASMG_METHODS = {name: functools.partial(ASMG, variant=name) for name in VARIANTS}
