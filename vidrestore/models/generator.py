"""The hole-filling generator: a GLCIC-style encoder / dilated middle / decoder with gated convolutions.

Differences from the plain GLCIC generator (Iizuka et al. 2017), each for a known reason:
- gated convolutions (DeepFill v2, Yu et al. 2019) so features learn to ignore blanked pixels; the
  "light" variant uses one gate channel per layer (HiFill's LWGC-sc, Yi et al. 2020) to halve the cost;
- no normalisation layers, so inference behaves exactly like training (no BatchNorm statistics);
- a residual over a cheap deterministic pre-fill: a zero last layer returns the pre-fill, so an
  undertrained model degrades to a classical fill instead of noise. ``prefill="pyramid"`` is a smooth
  push-pull fill, shift-equivariant by the network's stride; ``"telea+pyramid"`` starts from OpenCV's
  Telea fill (keeps edges across thin holes, where the smooth fill loses ~0.8 dB) and also shows the
  network the smooth fill, so it can learn where each is better. Telea is OpenCV on 8-bit host
  images, so callers compute it beforehand (``telea_prefill`` on uint8 crops, ``telea_fill`` on
  tensors) and pass it in: ``forward`` itself is torch only, never syncs with the host, and runs on
  any device, on ``meta`` tensors and under ``torch.compile``;
- decoder upsamples by nearest + conv (no checkerboard) and emits the full-resolution residual from the
  1/2-resolution features with a pixel shuffle, because full-resolution convolutions dominate CPU time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

PREFILL_CHANNELS = {"pyramid": 4, "telea+pyramid": 7}
TELEA_RADIUS = 3  # pixels; 2.5x cheaper than radius 5 (the classical baseline) on a large hole


@dataclass(frozen=True)
class GeneratorConfig:
    """Hyperparameters of an ``InpaintGenerator``; saved in every model card to rebuild the model."""

    variant: str = "small"
    widths: tuple[int, ...] = (24, 48, 96, 160)  # channels at 1/2, 1/4, 1/8 ... resolution; stride = 2**len
    dilations: tuple[int, ...] = (1, 2, 4, 4)  # residual gated convs at the coarsest level
    light_gates: bool = True  # one gate channel per layer (cheap) instead of one per feature channel
    working_size: int = 256  # longest side the engine feeds the network; larger crops are downscaled
    in_channels: int = 4  # pre-filled RGB image(s) + the mask: 4 for "pyramid", 7 for "telea+pyramid"
    prefill: str = "pyramid"  # "pyramid" or "telea+pyramid"; old model cards without it are "pyramid"
    # a patch-copy layer at 1/8 resolution (``PatchCopy``): hole features rebuilt from the most
    # similar known features of the same crop; old model cards without it have none
    attention: bool = False

    def __post_init__(self) -> None:
        # JSON model cards give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be positive, got {self.widths}")
        expected = PREFILL_CHANNELS.get(self.prefill)
        if expected is None:
            raise ValueError(f"unknown prefill {self.prefill!r}; choose from {', '.join(PREFILL_CHANNELS)}")
        if self.in_channels != expected:
            raise ValueError(f"prefill {self.prefill!r} needs in_channels {expected}, got {self.in_channels}")
        if self.working_size % self.stride:
            raise ValueError(f"working_size {self.working_size} is not a multiple of stride {self.stride}")

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this (one halving per encoder level)."""
        return 2 ** len(self.widths)


GENERATOR_VARIANTS: dict[str, GeneratorConfig] = {
    # For unit tests and smoke runs only: 15k parameters.
    "tiny": GeneratorConfig("tiny", widths=(8, 16, 16), dilations=(2, 4), working_size=64),
    # The same, starting from Telea like "small": tests and smoke runs of the Telea pre-fill path.
    "tiny-telea": GeneratorConfig(
        "tiny-telea",
        widths=(8, 16, 16),
        dilations=(2, 4),
        working_size=64,
        in_channels=7,
        prefill="telea+pyramid",
    ),
    # The same with the patch-copy layer: tests of starting a copy variant from its base's weights.
    "tiny-copy": GeneratorConfig(
        "tiny-copy", widths=(8, 16, 16), dilations=(2, 4), working_size=64, attention=True
    ),
    # CPU default: 1.32M parameters, most of them at 1/16 resolution where they are cheap (0.65 GMAC per
    # 256x256 crop). Stride 16 rather than 8 cut its CPU time per crop by 40% for more parameters.
    # Measured (benchmarks/gan_throughput.py, 2-core AVX-512 Xeon): 20.6 CPU-ms per 256x256 crop on one
    # thread, i.e. ~48 crops/s per core when the machine is otherwise idle.
    # Starts from Telea: 10 ms of CPU per 256x256 crop with a large hole, on top of the network.
    "small": GeneratorConfig("small", in_channels=7, prefill="telea+pyramid"),
    # "small" with a patch-copy layer at 1/8 resolution (1.34M parameters): an experiment, not the
    # default; 3,000 CPU fine-tuning steps gave the same figures as without it (docs/experiments.md)
    "small-copy": GeneratorConfig("small-copy", in_channels=7, prefill="telea+pyramid", attention=True),
    # GPU: full gates, wider, deeper middle, larger working size for big holes (4.87M parameters,
    # 6.4 GMAC per 256x256 crop, 25 GMAC per 512x512; 91 CPU-ms per 256x256 crop on one thread).
    "base": GeneratorConfig(
        "base",
        widths=(48, 96, 192),
        dilations=(1, 2, 4, 8, 16, 1),
        light_gates=False,
        working_size=512,
    ),
}


class GatedConv2d(nn.Module):
    """``act(features) * sigmoid(gate)`` from one convolution that emits both (DeepFill v2 gating)."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1, light: bool = True
    ) -> None:
        super().__init__()
        self.cout = cout
        gates = 1 if light else cout
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(cin, cout + gates, kernel, stride, pad, dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        features, gate = self.conv(x).split([self.cout, self.conv.out_channels - self.cout], dim=1)
        return F.leaky_relu(features, 0.2) * torch.sigmoid(gate)


class PatchCopy(nn.Module):
    """Rebuilds the features of hole positions from the known positions they most resemble
    (contextual attention, DeepFill v1, Yu et al. 2018), so texture the crop shows can be copied
    into the hole instead of averaged.

    Similarity is the cosine of learned embeddings; each hole position takes a softmax-weighted
    mix (sharpened by ``scale``) of the features at known positions. The result enters through a
    zero-initialised 1x1 convolution, so a model that gains the layer starts out unchanged.
    """

    def __init__(self, channels: int, embed: int = 32, scale: float = 10.0) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, embed, 1)
        self.key = nn.Conv2d(channels, embed, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.scale = scale
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x NCHW features, mask N1HW at full resolution (1 = missing): x with its hole positions
        added to from the known ones."""
        n, c, h, w = x.shape
        hole = F.adaptive_max_pool2d(mask, (h, w))  # a position touching the hole is a hole
        q = F.normalize(self.query(x).flatten(2), dim=1)  # N E HW
        k = F.normalize(self.key(x).flatten(2), dim=1)
        scores = torch.bmm(q.transpose(1, 2), k) * self.scale  # N HW(query) HW(key)
        known = 1.0 - hole.flatten(2)  # N 1 HW
        # known keys only (a crop with none gets a uniform mix of everything, not NaN)
        scores = scores - (1.0 - known) * 1e4
        copied = torch.bmm(x.flatten(2), scores.softmax(dim=-1).transpose(1, 2)).view(n, c, h, w)
        return x + hole * self.out(copied)


class InpaintGenerator(nn.Module):
    """Predicts a full RGB image from an image with a hole and its mask; see ``forward``."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        w, light = config.widths, config.light_gates
        self.stem = GatedConv2d(config.in_channels, w[0], 5, stride=2, light=light)
        self.down = nn.ModuleList(
            GatedConv2d(a, b, 3, stride=2, light=light) for a, b in zip(w, w[1:], strict=False)
        )
        self.middle = nn.ModuleList(
            GatedConv2d(w[-1], w[-1], 3, dilation=d, light=light) for d in config.dilations
        )
        self.up = nn.ModuleList(GatedConv2d(b, a, 3, light=light) for a, b in zip(w, w[1:], strict=False))
        self.refine = GatedConv2d(w[0], w[0], 3, light=light)
        self.copy = PatchCopy(w[-2]) if config.attention and len(w) >= 2 else None
        self.to_residual = nn.Conv2d(w[0], 3 * 4, 3, padding=1)  # 2x2 pixel shuffle -> full resolution
        nn.init.zeros_(self.to_residual.weight)
        nn.init.zeros_(self.to_residual.bias)

    @property
    def needs_telea(self) -> bool:
        """True when ``forward`` needs the Telea fill of its input (see ``telea_prefill``)."""
        return self.config.prefill == "telea+pyramid"

    def forward(self, image: Tensor, mask: Tensor, telea: Tensor | None = None) -> Tensor:
        """image N3HW float in [0, 1] (hole content ignored), mask N1HW with 1 = missing.

        ``telea`` N3HW: the image with its holes filled by ``telea_fill`` / ``telea_prefill``, computed
        on the CPU beforehand; required when ``needs_telea``, unused otherwise.
        H and W must be multiples of ``config.stride``. Returns the predicted image N3HW in [0, 1]
        everywhere; callers composite it into the hole.
        """
        stride = self.config.stride
        if image.shape[-2] % stride or image.shape[-1] % stride:
            raise ValueError(f"input {tuple(image.shape[-2:])} is not a multiple of the stride {stride}")
        mask = mask.to(image.dtype)
        prefill = pyramid_fill(image, mask, stride)
        if self.needs_telea:
            if telea is None:
                raise ValueError(
                    "this generator starts from a Telea fill: pass telea=telea_fill(image, mask), "
                    "computed on the CPU"
                )
            local = torch.where(mask > 0.5, telea.to(image.dtype), image)
            x = self.stem(torch.cat([local, prefill, mask], dim=1))
            prefill = local
        else:
            x = self.stem(torch.cat([prefill, mask], dim=1))
        skips = [x]
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        for layer in self.middle:
            x = x + layer(x)
        for i, (layer, skip) in enumerate(zip(reversed(self.up), reversed(skips[:-1]), strict=True)):
            x = F.interpolate(layer(x), scale_factor=2.0, mode="nearest") + skip
            if i == 0 and self.copy is not None:
                x = self.copy(x, mask)
        residual = F.pixel_shuffle(self.to_residual(self.refine(x)), 2)
        return (prefill + residual).clamp(0.0, 1.0)


def build_generator(config: GeneratorConfig) -> InpaintGenerator:
    """A freshly initialised generator (weights are loaded separately, see ``models.weights``)."""
    return InpaintGenerator(config)


def pyramid_fill(image: Tensor, mask: Tensor, stride: int = 8, threshold: float = 0.25) -> Tensor:
    """Push-pull fill: known pixels kept, holes filled from mask-normalised averages at growing scales.

    Cheap (a few passes over the image), deterministic and smooth; the network learns only the residual
    on top of it. Down to 1/``stride`` the pyramid is decimated (2x2 averages), beyond that it is
    undecimated (a trous [1,2,1] smoothing with doubling dilation), so the fill is equivariant to shifts
    by multiples of ``stride`` like the network itself: a crop gives the same fill as the whole frame
    wherever the averaging reaches no further than the crop. A scale is trusted once at least
    ``threshold`` of its footprint is known. A fully masked image is filled with mid-grey.

    The number of levels follows from the shape alone (undecimated ones until their reach spans
    the image twice), never from the data, so the fill never reads a value back to the host. Levels
    coarser than the first one trusted everywhere are overwritten exactly (a blend weight of 1), so
    the result is the same as stopping there.
    """
    valid = 1.0 - mask
    decimated = [torch.cat([image * valid, valid], dim=1)]
    for _ in range(stride.bit_length() - 1):
        decimated.append(F.avg_pool2d(decimated[-1], 2))
    # Undecimated levels carry a fifth channel: how much of the footprint lies inside the image, so
    # the image border does not count as unknown (and does not force wider, less local averages).
    coarse = decimated[-1]
    undecimated = [torch.cat([coarse, torch.ones_like(coarse[:, :1])], dim=1)]
    dilation, limit = 1, 2 * max(coarse.shape[-2:])
    while dilation < limit:
        undecimated.append(_smooth_a_trous(undecimated[-1], dilation))
        dilation *= 2
    filled = torch.full_like(coarse[:, :3], 0.5)
    for level in reversed(undecimated):
        filled = _trust(filled, level, threshold)
    for level in reversed(decimated[:-1]):
        filled = F.interpolate(filled, scale_factor=2.0, mode="bilinear", align_corners=False)
        filled = _trust(filled, level, threshold)
    return torch.where(mask > 0.5, filled, image)


def telea_prefill(images: np.ndarray, holes: np.ndarray, radius: int = TELEA_RADIUS) -> np.ndarray:
    """OpenCV Telea fill of uint8 (N, H, W, 3) images' bool (N, H, W) holes, on the host: the input a
    ``telea+pyramid`` generator starts from. Known pixels are returned unchanged; images without
    holes are not copied.
    """
    filled = images
    for i in np.flatnonzero(holes.reshape(len(holes), -1).any(axis=1)):
        if filled is images:
            filled = images.copy()
        hole = holes[i].astype(np.uint8) * 255
        filled[i] = cv2.inpaint(np.ascontiguousarray(images[i]), hole, radius, cv2.INPAINT_TELEA)
    return filled


def telea_fill(image: Tensor, mask: Tensor, radius: int = TELEA_RADIUS) -> Tensor:
    """``telea_prefill`` of float N3HW images (quantised to 8 bits) with N1HW masks, returned on the
    images' device; known pixels are returned unchanged. Runs on the CPU: call it where the data are
    prepared (the training data pipeline), not inside a device-resident forward pass.

    A fixed input transform, not learned: no gradient flows through it.
    """
    images = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    images = images.permute(0, 2, 3, 1).cpu().contiguous().numpy()
    holes = (mask.detach()[:, 0] > 0.5).cpu().numpy()
    filled = torch.from_numpy(telea_prefill(images, holes, radius))
    out = filled.to(image.device).permute(0, 3, 1, 2).to(image.dtype) / 255
    return torch.where(mask > 0.5, out, image)


def _known_fraction(level: Tensor) -> Tensor:
    """Share of a level's in-image footprint that is known (channel 3, over coverage when present)."""
    return level[:, 3:4] / level[:, 4:5].clamp_min(1e-6) if level.shape[1] == 5 else level[:, 3:4]


def _trust(coarser: Tensor, level: Tensor, threshold: float) -> Tensor:
    """Blend a level's normalised colour over the coarser fill where enough of it is known."""
    colour = level[:, :3] / level[:, 3:4].clamp_min(1e-6)
    return torch.lerp(coarser, colour, (_known_fraction(level) / threshold).clamp(max=1.0))


def _smooth_a_trous(x: Tensor, d: int) -> Tensor:
    """Separable [1, 2, 1] / 4 smoothing with taps ``d`` apart, zeros outside the image."""
    p = F.pad(x, (d, d, d, d))
    rows = p[..., : -2 * d, :] + 2 * p[..., d:-d, :] + p[..., 2 * d :, :]
    return (rows[..., : -2 * d] + 2 * rows[..., d:-d] + rows[..., 2 * d :]) / 16


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters, as written in model cards."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
