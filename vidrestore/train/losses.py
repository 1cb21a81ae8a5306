"""Training losses of the GLCIC-style inpainter (Iizuka et al. 2017) and the temporal term.

Shapes: images N3HW float in [0, 1]; masks N1HW with 1 = missing; flow N2HW in pixels (dx, dy).
``pred`` is the raw generator output, ``composite = image * (1 - mask) + pred * mask``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.errors import OptionError

_EPS = 1e-8


def composite(image: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Known pixels from ``image``, hole pixels from ``pred``."""
    return image * (1 - mask) + pred * mask


def _masked_mean(err: torch.Tensor, region: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """Mean of ``err`` (N3HW) over ``region`` (N1HW, 0..1), 0 when it is empty.

    ``per_sample``: the mean of each sample, averaged over the samples whose region is not empty, so
    every sample counts the same whatever its hole size and a batch with one big logo box does not
    drown out the small blotches and thin scratches beside it.
    """
    weight = region.expand_as(err)
    if not per_sample:
        return (err * weight).sum() / (weight.sum() + _EPS)
    area = weight.sum(dim=(1, 2, 3))
    values = (err * weight).sum(dim=(1, 2, 3)) / (area + _EPS)
    present = (area > 0).to(err.dtype)
    return (values * present).sum() / present.sum().clamp_min(1.0)


def masked_l1(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| over the pixels where ``region`` (N1HW, 0..1) is set; 0 when it is empty."""
    return _masked_mean((a - b).abs(), region, per_sample=False)


def reconstruction_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    hole_weight: float,
    valid_weight: float,
    per_sample: bool = False,
    hole_l2_weight: float = 0.0,
) -> torch.Tensor:
    """L1 inside the holes and outside them, each normalised by its own area, then weighted.

    ``per_sample`` normalises the hole terms by each sample's own hole area (see ``_masked_mean``)
    instead of the batch's. ``hole_l2_weight`` adds the mean squared error inside the holes: L1
    pulls an uncertain fill towards the median of what could be there, which for a large hole over
    two very different regions (a dark pillar beside a bright window) is one of them; squared error
    pulls it towards their mean, the fill with the best PSNR.
    """
    hole = _masked_mean((pred - target).abs(), mask, per_sample)
    loss = hole_weight * hole + valid_weight * masked_l1(pred, target, 1 - mask)
    if hole_l2_weight > 0:
        loss = loss + hole_l2_weight * _masked_mean((pred - target).square(), mask, per_sample)
    return loss


def hole_neighbourhood(mask: torch.Tensor, band: int) -> torch.Tensor:
    """The holes grown by ``band`` pixels (square dilation) -> N1HW in {0, 1}."""
    if band <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * band + 1, stride=1, padding=band)


def local_consistency_loss(
    comp: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, band: int
) -> torch.Tensor:
    """L1 between image gradients of the composite and of the target on the hole neighbourhood.

    Gradients straddling the hole border see the seam between kept and generated pixels, which
    plain L1 inside the hole does not; this is the "locally consistent" part of GLCIC made
    explicit as a loss.
    """
    region = hole_neighbourhood(mask, band)
    dx_c, dy_c = _gradients(comp)
    dx_t, dy_t = _gradients(target)
    rx = torch.maximum(region[..., :, 1:], region[..., :, :-1])
    ry = torch.maximum(region[..., 1:, :], region[..., :-1, :])
    return masked_l1(dx_c, dx_t, rx) + masked_l1(dy_c, dy_t, ry)


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Hinge (Lim & Ye 2017) or non-saturating (Goodfellow et al. 2014) loss of a discriminator."""
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "nonsat":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def generator_adversarial_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's side of ``discriminator_loss``."""
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "nonsat":
        return F.softplus(-fake_logits).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def feature_matching_loss(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Mean over a discriminator's layers of the mean |fake - real| of that layer's features.

    Feature matching (Salimans et al. 2016; pix2pixHD, Wang et al. 2018): the generator is pulled
    towards images whose discriminator features, layer by layer, are those of the real image, a
    denser signal than the logits alone. The real features are detached (targets, not trained).
    """
    if len(fake) != len(real) or not fake:
        raise ValueError(f"feature lists differ or are empty ({len(fake)} vs {len(real)} layers)")
    total = fake[0].new_zeros(())
    for f, r in zip(fake, real, strict=True):
        total = total + (f.float() - r.detach().float()).abs().mean()
    return total / len(fake)


def warp_tensor(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp NCHW ``image`` by N2HW ``flow``: out[y, x] = image[y + dy, x + dx] (bilinear).

    Matches ``vidrestore.temporal.flow.warp``; borders repeat, and gradients flow into ``image``.
    """
    n, _, h, w = image.shape
    ys = torch.arange(h, device=image.device, dtype=image.dtype)
    xs = torch.arange(w, device=image.device, dtype=image.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    px = gx + flow[:, 0].to(image.dtype)
    py = gy + flow[:, 1].to(image.dtype)
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def temporal_consistency_loss(
    current: torch.Tensor,
    previous: torch.Tensor,
    flow: torch.Tensor,
    valid: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Mean |out_t - warp(out_{t-1}, flow_{t->t-1})| over hole pixels of frame t that are not occluded.

    ``flow`` and ``valid`` (N1HW, 1 = passes the forward-backward check) come from the clean
    frames, so a fill that moves with the scene costs nothing and a flickering fill does.
    """
    warped = warp_tensor(previous, flow)
    return masked_l1(current, warped, mask * valid)


# torchvision's VGG `features` layout up to the third block: channels per conv, "M" = max-pool
_VGG_BLOCKS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256),
}


class PerceptualLoss(nn.Module):
    """L1 between VGG features (relu1_2, relu2_2, relu3_3/3_4) of output and target.

    Built from a user-supplied safetensors file holding torchvision's ``vgg16().features`` or
    ``vgg19().features`` state dict (keys ``features.N.weight`` or ``N.weight``); nothing is
    downloaded. Layers past the third block are ignored.
    """

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights_path))
        except Exception as exc:  # safetensors raises several types for missing/corrupt files
            raise OptionError(f"cannot read perceptual weights {weights_path}: {exc}") from None
        state = {k.removeprefix("features."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if k.split(".")[0].isdigit()}
        if not state:
            raise OptionError(
                f"{weights_path} holds no torchvision VGG `features` layers (keys like 0.weight)"
            )
        n_convs = len({k.split(".")[0] for k in state if k.endswith(".weight")})
        arch = "vgg19" if n_convs >= 16 else "vgg16"
        layers: list[nn.Module] = []
        self.taps: list[int] = []
        in_ch = 3
        for item in _VGG_BLOCKS[arch]:
            if item == "M":
                self.taps.append(len(layers) - 1)  # the ReLU before each pool
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(item)
        self.taps.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)
        wanted = {k: v for k, v in state.items() if int(k.split(".")[0]) < len(layers)}
        try:
            self.features.load_state_dict(wanted, strict=True)
        except RuntimeError as exc:
            raise OptionError(
                f"{weights_path} is not a torchvision VGG16/19 features state dict: {exc}"
            ) from None
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([output, target]) - self.mean) / self.std
        loss = x.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                a, b = x.chunk(2)
                loss = loss + (a - b).abs().mean()
            if i >= self.taps[-1]:
                break
        return loss

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self
