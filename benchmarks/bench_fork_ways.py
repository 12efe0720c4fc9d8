"""Three ways to train a fork's K variants, in images per second per variant (issue 25 asks which to adopt):

- in turn: K models stepped one after another in one process (what `branch` and the studio do);
- one process each: K processes of one torch thread side by side on the machine's cores;
- stacked: one model whose parameters carry a leading variant dimension (torch.func.stack_module_state),
  run with vmap(functional_call), and an Adam written over the stacked tensors with one learning rate per
  variant, so the K variants' matrix products become K-batched ones.

Each way runs the canonical D-then-G step (BCE, fake.detach() for D) of the preset's own networks, for
the same seconds, in alternating segments; the stacked way needs networks without BatchNorm (vmap
cannot update running statistics), so the MLP recipe with dropout (mlp-label-concat) and the conv one's
D are what it covers. Run it alone:

    .venv/bin/python -m benchmarks.bench_fork_ways [--variants 3] [--seconds 10] [--rounds 3] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from cgan_core.step.presets import get_preset

PRESET = "mlp-label-concat"


def networks():
    from cgan_core.step import nets_mlp

    preset = get_preset(PRESET)
    g = getattr(nets_mlp, preset.generator)(preset.latent_dim, 10, (1, 28, 28))
    d = getattr(nets_mlp, preset.discriminator)(10, (1, 28, 28))
    return g, d, preset.batch_size, preset.latent_dim


def batch(size: int, latent: int):
    return torch.rand(size, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (size,)), torch.randn(size, latent)


def in_turn(k: int, seconds: float) -> float:
    """Images per second per variant, the K models stepped one after another."""
    g0, d0, size, latent = networks()
    models = [(copy.deepcopy(g0), copy.deepcopy(d0)) for _ in range(k)]
    opts = [(torch.optim.Adam(g.parameters(), 2e-4, betas=(0.9, 0.999)),
             torch.optim.Adam(d.parameters(), 2e-4 * (i + 1), betas=(0.9, 0.999))) for i, (g, d) in enumerate(models)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        real, labels, z = batch(size, latent)
        for (g, d), (opt_g, opt_d) in zip(models, opts):
            fake = g(z, labels)
            ones, zeros = torch.ones(size), torch.zeros(size)
            loss_d = F.binary_cross_entropy_with_logits(d(real, labels), ones) + \
                F.binary_cross_entropy_with_logits(d(fake.detach(), labels), zeros)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d.requires_grad_(False)  # G's step computes no gradient for D, as in the stacked way
            loss_g = F.binary_cross_entropy_with_logits(d(fake, labels), ones)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            d.requires_grad_(True)
            opt_g.step()
        steps += 1
    return steps * size / (time.perf_counter() - start)


class StackedAdam:
    """Adam over stacked parameters (leading dim = variant), with one learning rate per variant."""

    def __init__(self, params: dict, lrs: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lrs, self.betas, self.eps, self.t = params, lrs, betas, eps, 0
        self.m = {n: torch.zeros_like(p) for n, p in params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in params.items()}

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for name, p in self.params.items():
            m, v = self.m[name], self.v[name]
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            lr = (self.lrs / (1 - b1 ** self.t)).view(-1, *[1] * (p.dim() - 1))
            p.sub_(lr * m / (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps))
            p.grad = None


def stacked(k: int, seconds: float) -> float:
    """Images per second per variant, the K models as one vmapped model."""
    g0, d0, size, latent = networks()
    gs, ds = [copy.deepcopy(g0) for _ in range(k)], [copy.deepcopy(d0) for _ in range(k)]
    g_params, _ = stack_module_state(gs)
    d_params, _ = stack_module_state(ds)
    base_g, base_d = copy.deepcopy(g0).to("meta"), copy.deepcopy(d0).to("meta")
    run_g = vmap(lambda p, z, c: functional_call(base_g, p, (z, c)), in_dims=(0, None, None), randomness="different")
    run_d = vmap(lambda p, x, c: functional_call(base_d, p, (x, c)), in_dims=(0, 0, None), randomness="different")
    opt_g = StackedAdam(g_params, torch.full((k,), 2e-4))
    opt_d = StackedAdam(d_params, 2e-4 * torch.arange(1, k + 1, dtype=torch.float32))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        real, labels, z = batch(size, latent)
        fake = run_g(g_params, z, labels)  # (K, B, 1, 28, 28)
        ones, zeros = torch.ones(k, size), torch.zeros(k, size)
        reals = real.expand(k, *real.shape)
        loss_d = F.binary_cross_entropy_with_logits(run_d(d_params, reals, labels), ones, reduction="sum") / size + \
            F.binary_cross_entropy_with_logits(run_d(d_params, fake.detach(), labels), zeros, reduction="sum") / size
        loss_d.backward()  # the variants' losses are independent: the sum's gradient is each one's own
        opt_d.step()
        for p in d_params.values():
            p.requires_grad_(False)
        loss_g = F.binary_cross_entropy_with_logits(run_d(d_params, fake, labels), ones, reduction="sum") / size
        loss_g.backward()
        for p in d_params.values():
            p.requires_grad_(True)
        opt_g.step()
        steps += 1
    return steps * size / (time.perf_counter() - start)


def one_process_each(k: int, seconds: float) -> float:
    """Images per second per variant, K processes of one thread each, side by side."""
    code = ("import sys, torch; torch.set_num_threads(1); from benchmarks.bench_fork_ways import in_turn; "
            "print(in_turn(1, float(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(seconds)], stdout=subprocess.PIPE, text=True)
             for _ in range(k)]
    return sum(float(p.communicate()[0]) for p in procs) / k


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for _ in range(args.rounds):
            alone = in_turn(1, args.seconds)
            rows.append({"threads": threads, "alone": alone, "in_turn": in_turn(args.variants, args.seconds),
                         "stacked": stacked(args.variants, args.seconds)})
    for _ in range(args.rounds):
        rows.append({"threads": "1 per process", "one_process_each": one_process_each(args.variants, args.seconds)})
    for row in rows:
        print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
