"""Presets: an architecture + hyperparameters + loss + update scheme. Each is named by its architecture and
how it conditions on the class; `source` names the tutorial it reproduces. The names of earlier versions
(seed001-mlp ... seed004-dcgan) keep working as aliases, so old run directories still open."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from cgan_core.errors import ConfigError
from cgan_core.step import nets_conv, nets_mlp, nets_resnet
from cgan_core.step.schemes import (
    JOINT_FRESH_DATA_LABELS,
    JOINT_REGENERATE,
    JOINT_REUSE,
    SEPARATE_FRESH,
    SEPARATE_FRESH_HALF_BATCH,
    Scheme,
)

# Every architecture a generator file may name, for rebuilding it from its metadata alone.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        nets_mlp.Seed001Generator, nets_mlp.Seed001Discriminator,
        nets_mlp.Seed002Generator, nets_mlp.Seed002Discriminator,
        nets_conv.Seed003Generator, nets_conv.Seed003Discriminator,
        nets_conv.Seed004Generator, nets_conv.Seed004Discriminator,
        nets_conv.FastGenerator, nets_conv.ProjectionDiscriminator,
        nets_resnet.ResNetGenerator, nets_resnet.ResNetDiscriminator,
    )
}


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    generator: str
    discriminator: str
    latent_dim: int
    batch_size: int
    lr_g: float
    lr_d: float
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "bce"  # a LossKind by name (losses.py)
    label_smoothing: float = 0.0
    d_steps: int = 1
    scheme: Scheme = JOINT_REUSE  # how one step updates D and G (schemes.py)
    ema_decay: float = 0.0  # 0 keeps no EMA of G
    mode_seeking: float = 0.0  # weight of MSGAN's diversity term in G's loss (Mao et al., 2019); 0 = off
    # Weight of a classification term on a projection D's class scores (P2GAN, Han et al. 2021): D learns to
    # read the class of real images and G to draw the class asked for; 0 = off. Needs a D with class_scores.
    class_loss: float = 0.0
    channels_last: bool = False
    arch_kwargs: dict = field(default_factory=dict)
    guard: dict = field(default_factory=dict)  # the preset's own guard bounds, over the loss type's
    # The recipe's framework defaults: Keras's Adam epsilon is 1e-7 (PyTorch's 1e-8), and Keras's
    # binary cross-entropy on a sigmoid output clips probabilities to [1e-7, 1 - 1e-7], i.e. logits to
    # +-16.118 (0 = no clip; a from_logits=True loss has none).
    adam_eps: float = 1e-8
    logit_clip: float = 0.0
    # The forwards' arithmetic: "fp32", "bf16" (autocast; weights, optimizer and losses stay fp32), or "auto"
    # (bf16 where the device computes it natively). A preset uses bf16 only where its measured quality does
    # not drop (BENCHMARKS.md).
    precision: str = "fp32"
    augment: str = "none"  # DiffAugment's policy for D's inputs (augment.py); "none" = off
    summary: str = ""  # one line for a user who has not read the tutorial

    def build(self, num_classes: int, image_shape: tuple[int, int, int], latent_dim: int) -> tuple[nn.Module, nn.Module]:
        g = ARCHITECTURES[self.generator](latent_dim, num_classes, image_shape, **self.arch_kwargs)
        d = ARCHITECTURES[self.discriminator](num_classes, image_shape, **self.arch_kwargs)
        return g, d


KERAS_LOGIT_CLIP = 16.118  # log((1 - 1e-7) / 1e-7)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "studio-fast", "cgan-studio: small BN generator, projection discriminator with minibatch std, mode seeking, EMA of G",
            "FastGenerator", "ProjectionDiscriminator", latent_dim=64, batch_size=64, lr_g=4e-4, lr_d=4e-4,
            beta1=0.5, loss="bce", ema_decay=0.9999, mode_seeking=0.05, channels_last=True, arch_kwargs={"width": 64},
            precision="auto",  # bf16 where native: gradients within cosine 0.99 of fp32, 95% at 27 s against 30 s
            summary="the studio's own: quick to learn on a CPU; projection D, mode seeking, EMA of G",
        ),
        Preset(
            "mlp-label-product", "seed 001: F. Rodriguez, 'GANs - Conditional GANs with MNIST (Part 4)', Keras MLP",
            "Seed001Generator", "Seed001Discriminator", latent_dim=100, batch_size=128, lr_g=2e-4, lr_d=2e-4,
            label_smoothing=0.1, scheme=SEPARATE_FRESH, adam_eps=1e-7,
            logit_clip=KERAS_LOGIT_CLIP,
            summary="MLP; the class embedding multiplies the noise (G) and the image (D); label smoothing 0.1",
            # One-sided smoothing 0.1: BCE against 0.9 cannot fall below ~0.325, so "D wins" sits higher.
            guard={"d_loss_floor": 0.36, "d_real_ceiling": 0.88},
        ),
        Preset(
            "mlp-label-concat", "seed 002: 'Step by Step Implementation of Conditional GANs', PyTorch MLP",
            "Seed002Generator", "Seed002Discriminator", latent_dim=100, batch_size=100, lr_g=2e-4, lr_d=2e-4,
            beta1=0.9, scheme=JOINT_REGENERATE,
            summary="MLP; a 10-d class embedding concatenated to the noise and to the image; dropout in D",
            # Its G loss swings above 6 for up to 40 steps in a row and recovers (10-minute soak): a
            # sustained condition must hold three times that long here.
            guard={"window": 120},
        ),
        Preset(
            "conv-onehot-channels", "seeds 000 and 003: Keras 'Conditional GAN' (S. Paul), one-hot channels",
            "Seed003Generator", "Seed003Discriminator", latent_dim=128, batch_size=64, lr_g=3e-4, lr_d=3e-4,
            beta1=0.9, scheme=JOINT_FRESH_DATA_LABELS, channels_last=True,
            adam_eps=1e-7, precision="auto",  # 1.6x fp32's speed here; quality within seed-to-seed spread (BENCHMARKS.md)
            summary="convolutional; the class as one-hot input channels; generated labels follow the data",
            # Near step 1,800 D wins outright for 71 steps (a full 20-epoch CLI run, guard off) and the recipe
            # recovers on its own; a rollback there halved both rates for good and doubled the final Frechet
            # distance. A sustained condition must hold three times that long (in the studio's one-thread
            # trajectory the phase lasted 219+ steps: a replay that meets it again is advice, guard.py).
            guard={"window": 210},
        ),
        Preset(
            "dcgan-label-channel", "seed 004: J. Brownlee, 'How to Develop a Conditional GAN (cGAN) From Scratch', Keras DCGAN",
            "Seed004Generator", "Seed004Discriminator", latent_dim=100, batch_size=128, lr_g=2e-4, lr_d=2e-4,
            scheme=SEPARATE_FRESH_HALF_BATCH, channels_last=True,
            adam_eps=1e-7, logit_clip=KERAS_LOGIT_CLIP, precision="auto",  # 1.6x; the same losses step by step as fp32
            summary="DCGAN; the class as an extra image channel from a 50-d embedding; D on half-batches",
        ),
        Preset(
            "resnet-projection", "cgan-studio for RGB images of 32-128 px: SNGAN's residual networks (Miyato et al. "
            "2018) with class-conditional BatchNorm in G, a spectral-norm projection discriminator, the hinge loss, "
            "P2GAN's classification term (Han et al. 2021), MSGAN's mode seeking (Mao et al. 2019), DiffAugment (Zhao et "
            "al. 2020) at StyleGAN2-ADA's adaptive strength (Karras et al. 2020) and an EMA of G",
            # Batch 16 and both rates 4e-4: more steps in the minutes and more done in each. With the augmentation
            # adaptive (off until D overfits) they took 64 px from 17% to 61% of the classes read right after 10
            # CPU-minutes (pilots, BENCHMARKS.md: "Learning in the minutes at 64 px").
            "ResNetGenerator", "ResNetDiscriminator", latent_dim=128, batch_size=16, lr_g=4e-4, lr_d=4e-4,
            beta1=0.0, beta2=0.999, loss="hinge", ema_decay=0.999, channels_last=True,
            augment="adaptive:color,translation,cutout",
            arch_kwargs={"max_width": 256},  # the full size's width follows the side (nets_resnet.full_size_width)
            # With it (and G's class rows scaled, nets_resnet.CLASS_LR_MULTIPLIER) an MNIST classifier read the
            # class of 40% of the samples after 10 CPU-minutes at 32 px, against 15% without; mode seeking
            # keeps each class's samples varied (FD/floor 17 against 37, grids alike in class; BENCHMARKS.md).
            class_loss=1.0, mode_seeking=0.05,
            summary="residual G and D for RGB images of 32 px and more; projection D with spectral norm that also "
                    "learns to classify, hinge loss, augmentation of D's inputs that rises when D overfits",
        ),
    ]
}
DEFAULT_PRESET = "studio-fast"
# Colour images of 32 px and more train by default on the preset built for them (issue 27): studio-fast was
# designed on 28 px greyscale digits.
RGB_PRESET, RGB_MIN_SIDE = "resnet-projection", 32
# Earlier names, after the seed documents the recipes came from: they still open old runs.
ALIASES = {"seed001-mlp": "mlp-label-product", "seed002-mlp": "mlp-label-concat",
           "seed003-conv-onehot": "conv-onehot-channels", "seed004-dcgan": "dcgan-label-channel"}


def default_preset(image_shape: tuple[int, int, int]) -> str:
    """The preset a run trains when none is named: RGB_PRESET for colour images of 32 px and more, else
    studio-fast."""
    channels, height, width = image_shape
    return RGB_PRESET if channels == 3 and min(height, width) >= RGB_MIN_SIDE else DEFAULT_PRESET


def canonical_name(name: str) -> str:
    """A preset's current name, also when given by an alias."""
    return ALIASES.get(name, name)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[canonical_name(name)]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}: available are {', '.join(PRESETS)}") from None
