"""Discriminators for adversarial training of the generator (never imported by inference).

Two critics in the GLCIC arrangement (Iizuka et al. 2017): a global one over the whole crop and a local
one over a patch centred on the hole. Both use spectral normalisation (Miyato et al. 2018) instead of
BatchNorm, which keeps hinge-loss training stable without batch statistics; the global one is an
SN-PatchGAN (DeepFill v2) that scores overlapping patches, so large crops give many signals at once.
Losses and the training loop live in ``vidrestore.train``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2))


def _conv_stack(cin: int, widths: list[int]) -> nn.Sequential:
    """5x5 stride-2 spectral-norm convolutions with leaky ReLU: each halves the resolution."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [_sn_conv(cin, width, 5, 2), nn.LeakyReLU(0.2, inplace=True)]
        cin = width
    return nn.Sequential(*layers)


def _stack_features(stack: nn.Sequential, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run ``stack`` and keep the output of each of its layers (conv + leaky ReLU) -> (last, all)."""
    kept: list[Tensor] = []
    for module in stack:
        x = module(x)
        if isinstance(module, nn.LeakyReLU):
            kept.append(x)
    return x, kept


def _with_mask(image: Tensor, mask: Tensor | None, use_mask: bool) -> Tensor:
    if not use_mask:
        return image
    if mask is None:
        raise ValueError("this discriminator was built with use_mask=True; pass the hole mask too")
    return torch.cat([image, mask.to(image.dtype)], dim=1)


class GlobalDiscriminator(nn.Module):
    """SN-PatchGAN over the whole crop: image N3HW (+ mask N1HW) -> patch logits N1(H/2^L)(W/2^L)."""

    def __init__(self, width: int = 64, layers: int = 6, use_mask: bool = True) -> None:
        super().__init__()
        self.use_mask = use_mask
        widths = [width * min(2**i, 4) for i in range(layers)]
        self.features = _conv_stack(3 + int(use_mask), widths)
        self.head = _sn_conv(widths[-1], 1, 3, 1)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.features(_with_mask(image, mask, self.use_mask)))

    def forward_with_features(self, image: Tensor, mask: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the output of every layer of ``features`` (for feature matching)."""
        x, kept = _stack_features(self.features, _with_mask(image, mask, self.use_mask))
        return self.head(x), kept


class LocalDiscriminator(nn.Module):
    """GLCIC local critic: the patch around the hole (N3SS, + mask) -> one logit per sample, shape N."""

    def __init__(self, width: int = 64, layers: int = 4, use_mask: bool = True) -> None:
        super().__init__()
        self.use_mask = use_mask
        widths = [width * 2 ** min(i, 3) for i in range(layers)]
        self.features = _conv_stack(3 + int(use_mask), widths)
        self.head = spectral_norm(nn.Linear(widths[-1], 1))

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self.features(_with_mask(image, mask, self.use_mask))
        return self.head(x.mean(dim=(2, 3))).squeeze(1)

    def forward_with_features(self, image: Tensor, mask: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the output of every layer of ``features`` (for feature matching)."""
        x, kept = _stack_features(self.features, _with_mask(image, mask, self.use_mask))
        return self.head(x.mean(dim=(2, 3))).squeeze(1), kept


def hole_patch_origins(mask: Tensor, size: int) -> Tensor:
    """Top-left (y, x) of a ``size`` square centred on each sample's hole, kept inside the image.

    mask: N1HW, 1 = missing; samples without a hole get the centre patch. Returns int64 N x 2, so the
    same patches can be cut from real and generated images with ``take_patches``.
    """
    n, _, h, w = mask.shape
    if size > h or size > w:
        raise ValueError(f"patch size {size} does not fit images of {h}x{w}")
    origins = torch.empty(n, 2, dtype=torch.int64)
    for i in range(n):
        ys, xs = torch.nonzero(mask[i, 0] > 0.5, as_tuple=True)
        cy = (int(ys.min()) + int(ys.max())) // 2 if len(ys) else h // 2
        cx = (int(xs.min()) + int(xs.max())) // 2 if len(xs) else w // 2
        origins[i, 0] = min(max(cy - size // 2, 0), h - size)
        origins[i, 1] = min(max(cx - size // 2, 0), w - size)
    return origins


def take_patches(images: Tensor, origins: Tensor, size: int) -> Tensor:
    """Cut the ``size`` squares at ``origins`` (from ``hole_patch_origins``) out of NCHW ``images``."""
    return torch.stack(
        [img[:, y : y + size, x : x + size] for img, (y, x) in zip(images, origins.tolist(), strict=True)]
    )
