"""Every option of `vidrestore train` in one frozen dataclass, validated once, saved beside each run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from vidrestore.errors import OptionError

ADV_LOSSES = ("hinge", "nonsat")
LR_SCHEDULES = ("constant", "cosine")
HOLE_NORMS = ("batch", "sample")


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run. Paths are strings so the config round-trips through JSON.

    Data sources are specs ``[kind:]path`` with kind ``images`` (folder of any depth),
    ``videos`` (a clip file or a folder of them) or ``frames`` (a folder of one-folder-per-clip
    frame sequences, or one such folder); without a kind, video files and folders holding video
    files are ``videos`` and other folders are ``images``.
    """

    # data
    data: tuple[str, ...] = ()
    val_data: tuple[str, ...] = ()  # empty: hold out val_fraction of data
    val_fraction: float = 0.1  # images by a hash of their path in their folder, clips by their last frames
    clip_length: int = 1  # T consecutive frames per clip sample; images are clips of length 1
    crop_size: int = 160
    min_scale: float = 0.2  # smallest resize factor (frames shrink so that big holes fit the crop)
    mask_mix: str = "logo=3,blob=3,box=1,brush=1,scratch=1,blotch=1"  # damage kind=weight
    moving_prob: float = 0.5  # chance that a mask moves along the clip (box, blob, brush)
    mask_dir: str | None = None  # folder of mask images (white = hole) mixed into the masks
    mask_dir_prob: float = 0.5  # chance of drawing a mask from mask_dir when it is given
    mask_dilate: int = 0  # grow each hole by a random 0..N px, as `fix --dilate` grows masks (fix: 3)
    hflip: bool = True
    soften_prob: float = 0.0  # chance that a crop is shrunk and enlarged again, as `fix` enlarges small video
    soften_max: float = 2.0  # largest shrink factor of a softened crop (drawn log-uniform from 1)
    batch_size: int = 8  # clip samples per process and step
    num_workers: int = 2
    seed: int = 0
    # model
    model: str = "small"  # a key of GENERATOR_VARIANTS
    device: str = "auto"  # auto, cpu, cuda, cuda:N (under torchrun: the local GPU)
    amp: bool = True  # mixed precision, only used on CUDA
    init_weights: str | None = None  # generator .safetensors (+ .json card) to start from; fresh optimisers
    disc_width: int = 64  # channels of the first discriminator layers (32 is enough on the CPU)
    # schedule (GLCIC: generator warm-up, discriminator warm-up, then joint)
    steps: int = 10000
    warmup_steps: int = 2000  # reconstruction-only generator steps
    disc_warmup_steps: int = 200  # discriminator-only steps after the warm-up
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    lr_schedule: str = "constant"  # constant, or cosine: both learning rates decay to 0 at the last step
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    max_minutes: float = 0.0  # stop (checkpoint + export) after this much wall time; 0 = off
    # loss weights
    hole_weight: float = 6.0  # L1 inside the holes
    hole_l2_weight: float = 0.0  # squared error inside the holes (pulls uncertain fills to the mean)
    valid_weight: float = 1.0  # L1 outside the holes
    hole_norm: str = "batch"  # batch: every hole pixel counts the same; sample: every sample's holes do
    local_weight: float = 1.0  # gradient consistency on the hole neighbourhood
    local_band: int = 8  # width in pixels of the neighbourhood around a hole
    adv_weight: float = 0.01
    adv_loss: str = "hinge"  # hinge or nonsat (non-saturating)
    feature_match_weight: float = 0.0  # L1 between discriminator features of real and filled crops
    local_patch: int = 0  # side of the local discriminator's patch; 0 = crop_size // 2
    perceptual_weight: float = 0.0
    perceptual_weights: str | None = None  # safetensors of torchvision VGG16/19 `features`
    temporal_weight: float = 0.0  # flow-warped consistency on clips (needs clip_length >= 2)
    # output, logging, checkpoints
    run_dir: str = "runs/train"
    export: str | None = None  # exported generator .safetensors; None = <run_dir>/generator.safetensors
    resume: str | None = None  # a checkpoint file or a run folder (its newest checkpoint)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    sample_every: int = 500  # PNG grids of input / output / target
    val_every: int = 1000
    val_samples: int = 24  # held-out frames, cycling over val_kinds
    val_kinds: str = "logo,blob,scratch,blotch"
    val_dilate: int = 3  # holes grown as `vidrestore fix --dilate` grows them
    tensorboard: bool = True  # used when tensorboard is installed
    quiet: bool = False  # no progress bar

    def __post_init__(self) -> None:
        if isinstance(self.data, (str, Path)) or isinstance(self.val_data, (str, Path)):
            raise OptionError("data and val_data are lists of paths, not one string")
        positive = (
            "clip_length",
            "crop_size",
            "batch_size",
            "steps",
            "checkpoint_every",
            "keep_checkpoints",
            "log_every",
            "sample_every",
            "val_every",
            "disc_width",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise OptionError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in (
            "warmup_steps",
            "disc_warmup_steps",
            "num_workers",
            "val_samples",
            "local_band",
            "local_patch",
            "val_dilate",
            "mask_dilate",
            "hole_weight",
            "hole_l2_weight",
            "valid_weight",
            "local_weight",
            "adv_weight",
            "feature_match_weight",
            "perceptual_weight",
            "temporal_weight",
            "grad_clip",
            "max_minutes",
            "lr_g",
            "lr_d",
        ):
            if getattr(self, name) < 0:
                raise OptionError(f"--{_flag(name)} must not be negative, got {getattr(self, name)}")
        for name in ("moving_prob", "mask_dir_prob", "soften_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionError(f"--{_flag(name)} must be in [0, 1], got {getattr(self, name)}")
        for name in ("val_fraction", "beta1"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise OptionError(f"--{_flag(name)} must be in [0, 1), got {getattr(self, name)}")
        if self.soften_max < 1.0:
            raise OptionError(f"--soften-max must be at least 1, got {self.soften_max}")
        if not 0.0 < self.min_scale <= 1.0:
            raise OptionError(f"--min-scale must be in (0, 1], got {self.min_scale}")
        if self.adv_loss not in ADV_LOSSES:
            raise OptionError(f"--adv-loss must be one of {', '.join(ADV_LOSSES)}, got {self.adv_loss!r}")
        if self.hole_norm not in HOLE_NORMS:
            raise OptionError(f"--hole-norm must be one of {', '.join(HOLE_NORMS)}, got {self.hole_norm!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise OptionError(
                f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.perceptual_weight > 0 and not self.perceptual_weights:
            raise OptionError(
                "--perceptual-weight needs --perceptual-weights (a VGG .safetensors file); "
                "nothing is downloaded"
            )
        if self.temporal_weight > 0 and self.clip_length < 2:
            raise OptionError("--temporal-weight needs --clip-length 2 or more")
        parse_mask_mix(self.mask_mix)
        parse_kinds(self.val_kinds)

    def lr_factor(self, step: int) -> float:
        """Multiplier of both learning rates at 0-based ``step`` (a function of it, so resumes agree)."""
        if self.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step / self.steps, 1.0)))
        return 1.0

    @property
    def local_patch_size(self) -> int:
        return self.local_patch or self.crop_size // 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"], d["val_data"] = list(self.data), list(self.val_data)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"unknown training option(s): {', '.join(unknown)}")
        values = dict(values)
        for key in ("data", "val_data"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a JSON file, with keyword overrides applied on top."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OptionError(f"cannot read training config {path}: {exc}") from None
    values.update(overrides)
    return TrainConfig.from_dict(values)


def parse_mask_mix(spec: str) -> dict[str, float]:
    """'logo=3,blob=3,scratch' -> {'logo': 3.0, 'blob': 3.0, 'scratch': 1.0}, checked against DAMAGE_KINDS."""
    from vidrestore.damage import DAMAGE_KINDS

    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in DAMAGE_KINDS:
            raise OptionError(
                f"unknown mask kind {name!r} in --mask-mix; choose from {', '.join(DAMAGE_KINDS)}"
            )
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise OptionError(f"bad weight {weight!r} for {name} in --mask-mix") from None
        if mix[name] < 0:
            raise OptionError(f"negative weight for {name} in --mask-mix")
    if not mix or sum(mix.values()) <= 0:
        raise OptionError("--mask-mix names no mask kind with a positive weight")
    return mix


def parse_kinds(spec: str) -> tuple[str, ...]:
    """'logo,blob' -> ('logo', 'blob'), checked against DAMAGE_KINDS."""
    from vidrestore.damage import DAMAGE_KINDS

    kinds = tuple(k.strip() for k in spec.split(",") if k.strip())
    bad = [k for k in kinds if k not in DAMAGE_KINDS]
    if bad or not kinds:
        raise OptionError(f"bad --val-kinds {spec!r}; choose from {', '.join(DAMAGE_KINDS)}")
    return kinds


def _flag(name: str) -> str:
    return name.replace("_", "-")
