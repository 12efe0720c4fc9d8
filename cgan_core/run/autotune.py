"""Automatic mode of a fork: a population-based schedule on one machine.

Every `every` steps the run forks around its current value of one live hyperparameter (the `around` names
take turns, one per decision): the value kept, divided by `factor` and multiplied by it. The three variants
train `steps` steps each from the same state on the same batches and noise (live_fork.py), are measured by
live quality, and the run goes on from a variant only when it is clearly better than the value kept (by
more than a measurement's noise: clearly_better). Otherwise the value kept stays, so a recipe that is doing
well is not pushed around by noise, and continuing from it is bit-identical to the run that never forked.
Each decision is a Forked event (a marker on the plot) and leaves the state before it as a snapshot, so it
can be rolled back like any other step.

    --autotune every=2000 around=lr_g,lr_d [factor=2] [steps=250]
"""
from __future__ import annotations

from dataclasses import dataclass

from cgan_core.errors import UsageError
from cgan_core.run import commands as cmd
from cgan_core.run.events import VariantsReady
from cgan_core.step.config import LIVE_FIELDS, BestBy

# Rates and betas are scaled; D steps per G step is a whole number, so it moves by one instead (fork.py).
TUNABLE = tuple(name for name in LIVE_FIELDS if name != "d_steps")
MIN_EVERY = 10


@dataclass(frozen=True)
class Autotune:
    every: int  # steps between decisions
    around: tuple[str, ...]  # the live hyperparameters tuned, one per decision in turn
    factor: float = 2.0  # each is tried at value / factor and value * factor beside its current value
    steps: int = 0  # each variant's horizon; 0: an eighth of `every`

    def __post_init__(self) -> None:
        if not MIN_EVERY <= self.every <= cmd.MAX_VARIANT_STEPS:
            raise UsageError(f"--autotune every={self.every}: between {MIN_EVERY} and {cmd.MAX_VARIANT_STEPS:,} steps")
        unknown = [name for name in self.around if name not in TUNABLE]
        if not self.around or unknown:
            raise UsageError(f"--autotune around={','.join(self.around)}: name one or more of {', '.join(TUNABLE)}")
        if not 1.0 < self.factor <= 10.0:
            raise UsageError(f"--autotune factor={self.factor:g}: between 1 (excluded) and 10")
        if not 0 <= self.steps < self.every:
            raise UsageError(f"--autotune steps={self.steps}: fewer than every={self.every} (0: every / 8)")

    @property
    def horizon(self) -> int:
        return self.steps or max(1, self.every // 8)

    @classmethod
    def parse(cls, items: list[str]) -> Autotune:
        """`every=2000 around=lr_g,lr_d factor=2 steps=250` (each a separate word, or joined by spaces)."""
        values: dict[str, str] = {}
        for item in " ".join(items).split():
            key, sep, value = item.partition("=")
            if not sep or key not in ("every", "around", "factor", "steps") or not value or key in values:
                raise UsageError(f"--autotune {item}: write every=N around=NAME[,NAME] [factor=F] [steps=N], each once")
            values[key] = value
        if "every" not in values or "around" not in values:
            raise UsageError("--autotune: every=N and around=NAME[,NAME] are both needed (e.g. every=2000 around=lr_d)")
        try:
            return cls(int(values["every"]), tuple(n.strip().replace("-", "_") for n in values["around"].split(",")),
                       float(values.get("factor", 2.0)), int(values.get("steps", 0)))
        except ValueError:
            raise UsageError(f"--autotune {' '.join(items)}: every and steps are whole numbers, factor a number") from None

    def tuned_at(self, step: int) -> str:
        """The hyperparameter the decision at `step` tunes (they take turns; a resumed run keeps the order)."""
        return self.around[(step // self.every) % len(self.around)]

    def fork_at(self, step: int) -> cmd.TryVariants:
        """The fork of the decision at `step`: the value kept first, so that it wins ties."""
        name = self.tuned_at(step)
        return cmd.TryVariants((f"{name}=1x,{1 / self.factor:.6g}x,{self.factor:.6g}x",), self.horizon)


class Autotuner:
    """When a decision falls due, and which variant it keeps. The loop opens and closes the forks."""

    def __init__(self, settings: Autotune) -> None:
        self.settings = settings
        self.decided_at: int | None = None  # the fork step of the newest decision: never twice at one step
        self.opened: cmd.TryVariants | None = None  # the command of the newest decision

    def due(self, step: int) -> bool:
        return step > 0 and step % self.settings.every == 0 and step != self.decided_at

    def fork(self, step: int) -> cmd.TryVariants:
        self.decided_at, self.opened = step, self.settings.fork_at(step)
        return self.opened

    @staticmethod
    def choose(ready: VariantsReady, by: BestBy = BestBy.CLASSIFIER) -> cmd.ChooseVariant:
        """A variant that beats the value kept by more than a measurement's noise (clearly_better, by the
        run's --best-by), the best of them; else the value kept (the first variant); the best by live
        quality when the kept one has no measurement (it stopped); the run as it was when none has one."""
        kept_result, kept = ready.results[0], ready.quality[0]
        if kept is None:
            if ready.best is not None:
                return cmd.ChooseVariant(ready.best)
            return cmd.ChooseVariant(kept_result.label if kept_result.diverged_at is None else "")
        better = [((q[0] if by is BestBy.CLASSIFIER else 0.0), -q[1], r.label)
                  for r, q in zip(ready.results[1:], ready.quality[1:]) if q is not None and clearly_better(q, kept, by)]
        return cmd.ChooseVariant(max(better)[2] if better else kept_result.label)


# Live quality scores 50 fixed-noise samples a class: one sample is 0.2 points of accuracy, and the binomial
# spread near 97% is about 0.8 points. The first autotuned runs (BENCHMARKS.md) switched rates on 0.2 points.
ACCURACY_MARGIN = 0.01
FRECHET_MARGIN = 0.15  # a 1,000-sample Fréchet estimate moves by about 15% between draws (evaluate.py)


def clearly_better(candidate: tuple[float, float], kept: tuple[float, float], by: BestBy = BestBy.CLASSIFIER) -> bool:
    """(accuracy, distance) against the value kept's. By the classifier: a point of accuracy more, or as
    accurate (within a point) and a 15% lower Fréchet distance. Independently: a 15% lower per-class
    distance (in random features), whatever the classifier says."""
    accuracy, frechet = candidate
    if by is BestBy.INDEPENDENT:
        return frechet <= kept[1] * (1 - FRECHET_MARGIN)
    if accuracy >= kept[0] + ACCURACY_MARGIN:
        return True
    return accuracy >= kept[0] - ACCURACY_MARGIN and frechet <= kept[1] * (1 - FRECHET_MARGIN)
