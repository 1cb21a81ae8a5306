"""Held-out validation with the figures of `vidrestore eval` (vidrestore.metrics), against Telea and NS.

The validation set is fixed at the start of a run: whole held-out frames, each with the masks of
one damage kind drawn as `vidrestore eval` draws them, grown by ``dilate`` as `fix` grows them, and
filled through the inference engine (``GanInpainter``: its crops, scaling and feathered paste).
The classical baselines are measured once on the same frames. Unlike eval, no damage is
painted and frames are single (no temporal propagation): this tracks the network alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vidrestore.damage import make_masks
from vidrestore.errors import InputError
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.inpaint.crops import CropSettings
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.metrics import psnr, ssim
from vidrestore.models.generator import InpaintGenerator
from vidrestore.train.sources import Item, read_frames

BASELINES = ("telea", "ns")


@dataclass
class ValidationSet:
    """Held-out full frames (uint8 (H, W, 3)), their holes (bool (H, W)) and damage kinds."""

    frames: list[np.ndarray]
    holes: list[np.ndarray]
    kinds: list[str]
    dilate: int
    baselines: dict[str, dict[str, float]]  # kind -> {"telea": dB, "ns": dB}

    def __len__(self) -> int:
        return len(self.frames)

    def inpaint_masks(self, i: int) -> np.ndarray:
        """The hole of frame ``i`` grown as `vidrestore fix --dilate` grows it (bool (1, H, W))."""
        hole = self.holes[i].view(np.uint8)
        if self.dilate > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.dilate + 1,) * 2)
            hole = cv2.dilate(hole, kernel)
        return hole.astype(bool)[None]


def build_validation_set(
    items: list[Item], n_samples: int, kinds: tuple[str, ...], seed: int, dilate: int = 3
) -> ValidationSet:
    """Frames spread evenly over ``items``, one damage kind each (cycling), then the baselines."""
    candidates = [(it, f) for it in items for f in range(it.start, it.stop)]
    if not candidates:
        raise InputError("the validation split is empty; give --val-data or a larger --val-fraction")
    frames, holes, names = [], [], []
    for i, pick in enumerate(np.linspace(0, len(candidates) - 1, n_samples).round().astype(int)):
        rng = np.random.default_rng([seed, 99991, i])
        kind = kinds[i % len(kinds)]
        item, index = candidates[pick]
        try:
            frame = read_frames(item, index, 1)[0]
        except InputError:
            continue
        hole = make_masks(kind, 1, frame.shape[0], frame.shape[1], rng)[0]
        if hole.any():
            frames.append(frame)
            holes.append(hole)
            names.append(kind)
    if not frames:
        raise InputError("no validation frame could be read")
    vset = ValidationSet(frames, holes, names, dilate, {})
    for method in BASELINES:
        inpainter = ClassicalInpainter(method)
        outputs = [inpainter.inpaint(f[None], vset.inpaint_masks(i))[0] for i, f in enumerate(frames)]
        for kind, value in per_kind_psnr(vset, outputs).items():
            vset.baselines.setdefault(kind, {})[method] = value
    return vset


def per_kind_psnr(vset: ValidationSet, outputs: list[np.ndarray]) -> dict[str, float]:
    """Hole PSNR per kind, pooled over all hole pixels of the kind's frames as eval pools a clip."""
    result = {}
    for kind in dict.fromkeys(vset.kinds):
        sel = [i for i, k in enumerate(vset.kinds) if k == kind]
        ref = np.concatenate([vset.frames[i][vset.holes[i]] for i in sel])
        out = np.concatenate([outputs[i][vset.holes[i]] for i in sel])
        result[kind] = psnr(ref, out)
    return result


@torch.no_grad()
def evaluate_generator(
    generator: InpaintGenerator, vset: ValidationSet, device: torch.device
) -> dict[str, float]:
    """Hole PSNR per kind through the inference engine (crops as `vidrestore fix` cuts them), the
    margin over the better of Telea and NS, and SSIM over the frames."""
    # as `fix` sets it up: the seam band no wider than the masks were grown (the frames here are the
    # clean targets, so a wider band would show the network the answer)
    settings = CropSettings.for_model(generator.config, feather=min(CropSettings.feather, vset.dilate))
    # a copy: the engine may change the memory layout
    # fp32 always: checkpoints are compared by these figures, whatever CPU measured them
    engine = GanInpainter(copy.deepcopy(generator), device=device, precision="fp32", settings=settings)
    outputs = [engine.inpaint(f[None], vset.inpaint_masks(i))[0] for i, f in enumerate(vset.frames)]
    metrics: dict[str, float] = {}
    for kind, value in per_kind_psnr(vset, outputs).items():
        best = max(vset.baselines[kind].values())
        metrics[f"val_psnr_hole_{kind}"] = round(value, 3)
        metrics[f"val_margin_{kind}"] = round(value - best, 3)
    scores = [ssim(f, o) for f, o in zip(vset.frames, outputs, strict=True)]
    metrics["val_ssim"] = round(float(np.mean(scores)), 4)
    return metrics


def baseline_table(vset: ValidationSet) -> dict[str, dict[str, float]]:
    """kind -> {"telea": dB, "ns": dB}, rounded, for logs and the model card."""
    return {k: {m: round(v, 3) for m, v in d.items()} for k, d in vset.baselines.items()}
