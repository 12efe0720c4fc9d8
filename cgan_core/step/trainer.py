"""The training step of a class-conditional GAN: plain code, no threads, no UI.

`Trainer.step()` runs one step of the preset's update scheme and returns its stats as a device
tensor: nothing in the step syncs with the host, so on CUDA the caller decides when to read them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from cgan_core.data import ImageDataset, load_dataset
from cgan_core.step import losses
from cgan_core.step.augment import Augmentation, augment_inputs, parse_policy
from cgan_core.step.config import TrainConfig
from cgan_core.step.device import native_bf16, pick_device
from cgan_core.step.fastcpu import use_fast_cpu_paths
from cgan_core.step.inputs import StepInputs
from cgan_core.step.judge import Judge, bf16_autocast
from cgan_core.step.losses import DLosses
from cgan_core.step.presets import get_preset

if TYPE_CHECKING:
    from cgan_core.step.distributed import World

# r_t: E[sign(D's logit on real)], StyleGAN2-ADA's overfitting heuristic (Karras et al. 2020): near 0 while D
# cannot tell its training images apart from fakes, towards 1 as D grows sure of every real image.
# aug_p: the probability of each augmentation of D's inputs (augment.py; adaptive ones follow r_t).
STAT_NAMES = ("d1", "d2", "g", "d_real", "d_fake", "grad_d", "grad_g", "r_t", "aug_p")
EMA_RAMP = 18  # the EMA's decay at step t is (1 + t) / (EMA_RAMP + t): a window of about t / (EMA_RAMP - 1)


@dataclass(frozen=True)
class StepStats:
    """One step's stats, on the training device. Reading a field is a host sync."""

    step: int
    values: torch.Tensor  # (len(STAT_NAMES),)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(STAT_NAMES, self.values.tolist()))  # .tolist() is a host sync

    def __getattr__(self, name: str) -> float:
        if name in STAT_NAMES:
            return float(self.values[STAT_NAMES.index(name)])
        raise AttributeError(name)


def _grad_norm(module: nn.Module, device: torch.device) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _placed(net: nn.Module, device: torch.device, memory_format: torch.memory_format, world: World | None) -> nn.Module:
    """A network on the training device, in the step's memory format, with the CPU's fast paths."""
    net.to(device).to(memory_format=memory_format)
    if device.type == "cpu":  # slow cases of oneDNN and of CPU bernoulli_; see fastcpu.py
        use_fast_cpu_paths(net)
    if world is not None and device.type == "cuda":  # SyncBatchNorm is CUDA-only; on the CPU BN stays per rank
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return net


class Trainer:
    """The step. In a distributed run (`world`), G and D train through DDP wrappers (`g_train`, `d_train`);
    `g` and `d` are always the plain modules, for sampling, the EMA and checkpoints."""

    def __init__(self, config: TrainConfig, dataset: ImageDataset | None = None, warn=lambda msg: None,
                 world: World | None = None) -> None:
        self.config = config.resolved()  # the preset under its current name, also when given by an alias
        self.preset = get_preset(self.config.preset)
        self.world = world
        self.ranks = world.size if world is not None else 1  # the processes that share each global batch
        self.device = world.device if world is not None else pick_device(self.config.device)
        c = self.config
        data = dataset if dataset is not None else load_dataset(c.dataset, image_size=c.image_size, color=c.color, warn=warn)
        self.dataset = data.to(self.device)
        self.hparams = self.config.hparams()
        seed = self.config.seed
        torch.manual_seed(seed)  # model initialisation and dropout draw from torch's global RNG
        self.memory_format = torch.channels_last if self.preset.channels_last else torch.contiguous_format
        g, d = self.preset.build(data.num_classes, data.image_shape, self.config.latent_dim)
        self.augmentation = Augmentation(parse_policy(self.config.augment), self.device)
        augment_inputs(d, self.augmentation)  # DiffAugment where the run asks, fixed or adaptive (augment.py)
        self.g, self.d = (_placed(net, self.device, self.memory_format, world) for net in (g, d))
        self.g_train, self.d_train = self.g, self.d
        if world is not None:
            self.g_train, self.d_train = world.wrap(self.g), world.wrap(self.d)  # broadcasts rank 0's weights
        # The EMA starts from G as rank 0 has it, so it is the same on every rank.
        self.ema = copy.deepcopy(self.g).eval().requires_grad_(False) if self.preset.ema_decay else None
        # Fused Adam: one kernel per step on CUDA, and on the CPU a single pass instead of ~10 foreach ops.
        fused = self.device.type in ("cuda", "cpu") or None
        betas = (self.hparams["beta1"], self.hparams["beta2"])
        eps = self.preset.adam_eps  # the recipe's framework's epsilon (Keras: 1e-7)
        self.opt_g, self.opt_d = (torch.optim.Adam(net.parameters(), lr=self.hparams[lr], betas=betas, eps=eps, fused=fused)
                                  for net, lr in ((self.g, "lr_g"), (self.d, "lr_d")))
        self.inputs = StepInputs(self.dataset, self.config.latent_dim, seed, self.g.output_range,
                                 bool(self.preset.mode_seeking), self.memory_format, world)
        self.step_count = 0
        # bf16 autocast of the training forwards: oneDNN's bf16 kernels (avx512_bf16, AMX) or CUDA's;
        # the weights, the optimizer, the EMA, the losses and sampling stay in fp32.
        precision = self.config.precision
        self.low_precision = precision == "bf16" or (precision == "auto" and native_bf16(self.device))
        stochastic = (nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d)
        # With unchanged weights, a G without dropout or BatchNorm maps the same z and labels to the same images.
        self.g_is_deterministic = not any(isinstance(m, stochastic) for m in self.g.modules())
        self.loss = losses.gan_loss(self.config.loss)  # the loss type's three functions, chosen once
        self.judge = Judge(self.d, self.preset, self.loss, self.device, self.low_precision)

    # ---- hyperparameters -------------------------------------------------------------------
    def set_hparams(self, **changes) -> dict[str, tuple]:
        """Change live hyperparameters; returns {name: (old, new)} for those that changed.

        Learning rates and betas are written into the live optimizers' param groups, so their
        moment estimates are kept. The values were checked where they entered (a command checks itself
        when built, a checkpoint's when loaded): records.HParams.
        """
        changed = {k: (self.hparams[k], v) for k, v in changes.items() if self.hparams[k] != v}
        self.hparams.update(changes)
        for opt, lr in ((self.opt_g, self.hparams["lr_g"]), (self.opt_d, self.hparams["lr_d"])):
            for group in opt.param_groups:
                group["lr"] = lr
                group["betas"] = (self.hparams["beta1"], self.hparams["beta2"])
        return changed

    # ---- the step: one function per update scheme (schemes.py), and the primitives they are written in ----
    def step(self) -> StepStats:
        """One training step of the preset's update scheme: d_steps D updates, then one G update."""
        self._begin_step()
        d, g_value = self.preset.scheme.step(self)
        self._update_ema()
        return self._finish_step(d, g_value, learnt_d=True, learnt_g=True)

    def step_d_only(self) -> StepStats:
        """The studio's "Step D only": D learns as the recipe's D does; G is only measured."""
        self._begin_step()
        learn_d = self.learn_d_separate if self.preset.scheme.separate_d else self.learn_d_joint
        for _ in range(self.d_steps):
            real, y_real = self.inputs.real_batch(self.d_batch)
            z, y = self.inputs.latent(self.d_batch)
            fake = self.forward_g(z, y, graph=False)
            d = learn_d(real, y_real, fake, y)
        with torch.no_grad():
            g_value = self.loss.g(self.judge.logits(fake, y))
        return self._finish_step(d, g_value, learnt_d=True, learnt_g=False)

    def step_g_only(self) -> StepStats:
        """The studio's "Step G only": D is only measured; G learns from the fakes D was measured on."""
        self._begin_step()
        real, y_real = self.inputs.real_batch(self.d_batch)
        z, y = self.inputs.latent(self.d_batch)
        fake = self.forward_g(z, y)
        with torch.no_grad():
            d = self._d_joint_losses(real, y_real, fake.detach(), y)
        g_value = self.learn_g(fake, y, z)
        self._update_ema()
        return self._finish_step(d, g_value, learnt_d=False, learnt_g=True)

    def _begin_step(self) -> None:
        if self.world is not None:  # dropout masks: a per-rank counter stream, so a resume replays them exactly
            torch.manual_seed(self.world.dropout_seed(self.config.seed, self.step_count))

    def _finish_step(self, d: DLosses, g_value: torch.Tensor, learnt_d: bool, learnt_g: bool) -> StepStats:
        self.step_count += 1
        zero = torch.zeros((), device=self.device)
        with torch.no_grad():  # a network that only was measured has no gradient of this step
            grad_d = _grad_norm(self.d, self.device) if learnt_d else zero
            grad_g = _grad_norm(self.g, self.device) if learnt_g else zero
            values = torch.stack([d.d1, d.d2, g_value, torch.sigmoid(d.out_real).mean(),
                                  torch.sigmoid(d.out_fake).mean(), grad_d, grad_g,
                                  torch.sign(d.out_real.float()).mean(), self.augmentation.p]).float()
        if self.world is not None:  # the run's losses are the means over every rank's batch
            self.world.average_(values)
        if learnt_d:  # from the mean over the ranks: p stays the same on every rank
            self.augmentation.adapt(values[STAT_NAMES.index("r_t")], self.config.batch_size * self.ranks)
        return StepStats(self.step_count, values)

    @property
    def images_seen(self) -> int:
        return self.inputs.images_seen

    @property
    def epoch_progress(self) -> float:
        return self.inputs.batches.epoch_progress

    @property
    def d_steps(self) -> int:
        return int(self.hparams["d_steps"])

    @property
    def d_batch(self) -> int:
        """The images of each kind that one D update sees: the batch, or the recipe's fraction of it."""
        return max(1, int(self.config.batch_size * self.preset.scheme.d_batch_fraction))

    @property
    def g_batch(self) -> int:
        """G's batch: the configured one (D's may be a half of it)."""
        return self.config.batch_size

    def forward_g(self, z: torch.Tensor, labels: torch.Tensor, graph: bool = True) -> torch.Tensor:
        """A training forward of G (in bf16 when the run asks; D then reads bf16 images). Without a graph
        it runs the plain module: DDP expects one backward per forward of its wrapper."""
        with torch.set_grad_enabled(graph), self._autocast():
            return (self.g_train if graph else self.g)(z, labels)

    def _autocast(self) -> torch.autocast:
        return bf16_autocast(self.device, self.low_precision)

    def _d_joint_losses(self, real, y_real, fake, y_fake) -> DLosses:
        """d1 and d2 from one D forward pass over real and fake together, only measured."""
        return self.judge.joint(real, y_real, fake, y_fake, self.hparams["label_smoothing"], with_classes=False)[0]

    def learn_d_joint(self, real, y_real, fake, y_fake) -> DLosses:
        """One D update on (d1 + d2) / 2, from one pass over real and fake together."""
        self.opt_d.zero_grad(set_to_none=True)
        d, class_term = self.judge.joint(real, y_real, fake, y_fake, self.hparams["label_smoothing"], self.d_train)
        ((d.d1 + d.d2) * 0.5 + class_term).backward()
        self.opt_d.step()
        return d.detached()

    def learn_d_separate(self, real, y_real, fake, y_fake) -> DLosses:
        """Two D updates, as Keras' train_on_batch(real) then train_on_batch(fake)."""
        self.opt_d.zero_grad(set_to_none=True)
        out_real, scores = self.judge.read(real, y_real, self.d_train)
        d1 = self.loss.d_real(out_real, self.hparams["label_smoothing"])
        (d1 + self.judge.class_term(scores, y_real)).backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        out_fake = self.judge.logits(fake, y_fake, self.d_train)
        d2 = self.loss.d_fake(out_fake)
        d2.backward()
        self.opt_d.step()
        return DLosses(d1, d2, out_real, out_fake).detached()

    def learn_g(self, fake: torch.Tensor, y_fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """One G update through D's judgement of `fake` (which must carry G's graph); returns g."""
        self.opt_g.zero_grad(set_to_none=True)
        self.d.requires_grad_(False)  # G's backward needs D's input gradients, not its weight gradients
        try:
            logits, scores = self.judge.read(fake, y_fake)  # the plain D: its DDP hooks must not fire here
            g_value = self.loss.g(logits)
            total = g_value + self.judge.class_term(scores, y_fake)  # G makes the class asked for recognisable
            if self.preset.mode_seeking:  # g stays the adversarial loss; the diversity term is added
                total = total + self.preset.mode_seeking * losses.mode_seeking(fake.float(), z)
            total.backward()
        finally:
            self.d.requires_grad_(True)
        self.opt_g.step()
        return g_value.detach()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # A power-function average (Karras et al. 2024, EDM2): at step t it weighs about the last t/17 steps,
        # so early on it follows G closely instead of averaging in the random init, and later it averages
        # longer. studio-fast's Frechet distance was lower or equal at 9 marks of 3 runs than with the former
        # (1 + t) / (10 + t) ramp capped at 0.999 (BENCHMARKS.md); the preset's ema_decay still caps it.
        decay = min(self.preset.ema_decay, (1 + self.step_count) / (EMA_RAMP + self.step_count))
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.g.parameters()), 1.0 - decay)
        for ema_buf, buf in zip(self.ema.buffers(), self.g.buffers()):
            ema_buf.copy_(buf)

    # ---- sampling ----------------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The generator to sample from: the EMA where the preset keeps one."""
        return self.ema if self.ema is not None else self.g

    @torch.no_grad()
    def generate(self, z: torch.Tensor, c: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """Images in the generator's output range, in eval mode (BatchNorm uses running stats)."""
        model = self.sampler if use_ema else self.g
        was_training = model.training
        model.eval()
        try:
            return model(z.to(self.device), c.to(self.device)).float()
        finally:
            model.train(was_training)

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly; only tensors and plain types (weights_only-safe)."""
        state = {
            "step": self.step_count,
            "g": self.g.state_dict(),
            "d": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "hparams": dict(self.hparams),
            **self.inputs.state_dict(),
            **self.augmentation.state_dict(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.inputs.load_state_dict(state)
        self.augmentation.load_state_dict(state)
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step_count = int(state["step"])
        self.set_hparams(**state["hparams"])
