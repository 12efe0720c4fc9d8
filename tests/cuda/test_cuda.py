"""The product's first promise, "on CUDA when there is one": each preset steps on the GPU without a host sync,
bf16 autocast, exact resume with the CUDA RNG in the checkpoint, checkpoints that cross between CUDA and the
CPU, sampling and ONNX export of a CUDA-trained generator, and one NCCL rank through torchrun."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from cgan_core.output.checkpoint import load_checkpoint, save_generator
from cgan_core.run.loop import train
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS
from cgan_core.step.trainer import Trainer
from tests.runs import straight_and_resumed

pytestmark = pytest.mark.cuda


def _cuda_trainer(preset: str, tiny_mnist, **config) -> Trainer:
    return Trainer(TrainConfig(preset=preset, device="cuda", batch_size=16, seed=1, **config), tiny_mnist)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_steps_on_cuda_without_a_host_sync(preset, tiny_mnist):
    trainer = _cuda_trainer(preset, tiny_mnist)
    assert trainer.device.type == "cuda" and next(trainer.g.parameters()).is_cuda
    trainer.step()  # the first step builds what it caches (cuDNN plans, lazy buffers)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any .item(), .cpu() or host-read inside a step raises
    try:
        stats = [trainer.step() for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for s in stats:
        assert all(torch.isfinite(torch.as_tensor(v)) for v in s.as_dict().values()), s.as_dict()


def test_bf16_autocast_on_cuda_keeps_fp32_master_weights(tiny_mnist):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no native bf16")
    trainer = _cuda_trainer("studio-fast", tiny_mnist, precision="bf16")
    assert trainer.low_precision
    losses = [trainer.step().as_dict() for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(list(x.values()))).all() for x in losses)
    assert all(p.dtype == torch.float32 for p in trainer.g.parameters())


def test_exact_resume_on_cuda(tmp_path, tiny_mnist, deterministic):
    """20 steps straight, or 10 + checkpoint + resume + 10: the same weights bit for bit (the CUDA RNG
    state travels in the checkpoint)."""
    def config(steps):
        return TrainConfig(preset="studio-fast", device="cuda", batch_size=16, steps=steps, seed=4, stats_every=5)

    straight, rest = straight_and_resumed(config, tmp_path, tiny_mnist)
    assert "cuda_rng" in load_checkpoint(tmp_path / "b" / "checkpoints" / "step-000000010.pt")
    for net in ("g", "d"):
        for a, b in zip(getattr(straight.trainer, net).parameters(), getattr(rest.trainer, net).parameters()):
            assert torch.equal(a, b), net


def test_a_checkpoint_written_on_cuda_resumes_on_the_cpu_and_back(tmp_path, tiny_mnist):
    def config(device, steps):
        return TrainConfig(preset="studio-fast", device=device, batch_size=16, steps=steps, seed=2)

    on_gpu = TrainingRun(config("cuda", 6), out=tmp_path / "r", dataset=tiny_mnist)
    train(on_gpu)
    on_gpu.close()
    on_cpu = TrainingRun(config("cpu", 9), resume=tmp_path / "r", dataset=tiny_mnist,
                         overrides={"steps": 9, "device": "cpu"})
    assert on_cpu.trainer.device.type == "cpu" and on_cpu.step_count == 6
    train(on_cpu)
    on_cpu.close()
    back = TrainingRun(config("cuda", 12), resume=tmp_path / "r", dataset=tiny_mnist,
                       overrides={"steps": 12, "device": "cuda"})
    assert back.trainer.device.type == "cuda" and back.step_count == 9
    train(back)
    back.close()
    assert back.step_count == 12 and all(torch.isfinite(p).all() for p in back.trainer.g.parameters())


def test_sampling_and_onnx_export_of_a_cuda_trained_generator(tmp_path, tiny_mnist, cli_here):
    trainer = _cuda_trainer("studio-fast", tiny_mnist)
    for _ in range(3):
        trainer.step()
    gen = tmp_path / "g.safetensors"
    save_generator(gen, trainer.sampler, tiny_mnist.class_names, {"preset": "studio-fast", "dataset": "mnist"})
    rc, _, err = cli_here("sample", gen, "--per-class", 2, "--out", tmp_path / "s.npz")  # read back on the CPU
    assert rc == 0, err
    rc, out, err = cli_here("export", gen, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert rc == 0, err
    assert json.loads(out)["max_abs_error_vs_torch"] <= 1e-4


def test_the_cli_trains_on_cuda_by_default(tmp_path, cli_here):
    rc, out, err = cli_here("train", "--preset", "mlp-label-concat", "--batch-size", 16, "--steps", 5,
                            "--out", tmp_path / "r")
    assert rc == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["device"] in ("auto", "cuda")
    assert "cuda" in err  # the device line names the GPU


ONE_RANK = """
import torch
from cgan_core.data import ImageDataset, load_mnist
from cgan_core.step import distributed
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer

world = distributed.join("cuda", timeout=60)
assert world.backend == "nccl", world.backend
full = load_mnist("test")
data = ImageDataset("mnist", full.images[:256].clone(), full.labels[:256].clone(), list(full.class_names))
trainer = Trainer(TrainConfig(preset="studio-fast", device="cuda", batch_size=16), data, world=world)
for _ in range(3):
    trainer.step()
mean = world.average_(torch.ones(3, device=world.device))
assert torch.equal(mean.cpu(), torch.ones(3)), mean
print("nccl-ok", world.describe())
"""


def test_one_nccl_rank_through_torchrun(tmp_path):
    script = tmp_path / "one_rank.py"
    script.write_text(ONE_RANK)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--standalone",
                           str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nccl-ok" in done.stdout
