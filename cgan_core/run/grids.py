"""What a run shows of its generator, all computed on copies or under no_grad, never changing it:
the fixed-noise grid (live or of a snapshot), a copy of the weights for the explorer, and the
within-class diversity the guard's collapse check reads."""
from __future__ import annotations

import copy

import numpy as np
import torch

from cgan_core.output.checkpoint import generator_metadata
from cgan_core.output.metrics import within_class_diversity
from cgan_core.output.sampling import make_grid, to_uint8
from cgan_core.run.events import GeneratorCopy, SampleGrid
from cgan_core.step.trainer import Trainer


def grid(trainer: Trainer, per_class: int, snapshot: dict | None = None) -> SampleGrid:
    """The fixed-noise grid, one row per class, of the live generator or of a snapshot's weights."""
    z, labels = trainer.inputs.fixed_grid_batch(per_class)
    if snapshot is None:
        step, output = trainer.step_count, trainer.generate(z, labels)
    else:
        model = copy.deepcopy(trainer.sampler).eval()  # a copy: the live generator is never touched
        model.load_state_dict(snapshot["ema" if trainer.ema is not None else "g"])
        with torch.no_grad():
            step, output = int(snapshot["step"]), model(z, labels).float()
    images = to_uint8(output, trainer.g.output_range).cpu().numpy()
    names = tuple(trainer.dataset.class_names)
    return SampleGrid(step, make_grid(images, per_class), names, per_class, images.shape[2] + 2)


def weights_copy(trainer: Trainer, run_dir: str) -> GeneratorCopy:
    """numpy copies of the sampling generator's weights, with its file metadata."""
    sampler = trainer.sampler
    arrays = {k: v.detach().cpu().numpy().copy() for k, v in sampler.state_dict().items()}
    meta = generator_metadata(sampler, trainer.dataset.class_names, {"step": trainer.step_count})
    return GeneratorCopy(trainer.step_count, arrays, meta, run_dir)


def sample_diversity(trainer: Trainer) -> np.ndarray:
    """Within-class diversity of the fixed-noise samples (16 a class), in the generator's range."""
    z, labels = trainer.inputs.fixed_grid_batch(len(trainer.inputs.fixed_z))
    return within_class_diversity(trainer.generate(z, labels), labels, trainer.dataset.num_classes)


def real_diversity(trainer: Trainer, per_class: int = 64) -> np.ndarray:
    """The same measure on real images of each class: the reference a collapse is judged against."""
    data = trainer.dataset
    picks = torch.cat([torch.nonzero(data.labels == c).flatten()[:per_class] for c in range(data.num_classes)])
    images = trainer.inputs.to_model_range(data.images[picks])
    return within_class_diversity(images, data.labels[picks], data.num_classes)
