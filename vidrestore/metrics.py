"""Quality figures shared by `vidrestore eval`, training validation and benchmarks.

All functions take uint8 RGB numpy arrays (T, H, W, 3) and bool masks (T, H, W), True = hole,
so that every quality claim in the project is computed by the same code.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def psnr(reference: np.ndarray, output: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB over all pixels, or only where ``region`` (broadcast over channels) is True."""
    diff = reference.astype(np.float64) - output.astype(np.float64)
    sq = diff * diff
    if region is not None:
        if not region.any():
            return math.inf
        sq = sq[np.broadcast_to(region[..., None], sq.shape)]
    mse = float(sq.mean())
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian, sigma 1.5) on luma, averaged over frames."""
    if reference.ndim == 3:  # a single (H, W, 3) frame
        reference, output = reference[None], output[None]
    scores = [_ssim_luma(_luma(r), _luma(o)) for r, o in zip(reference, output, strict=True)]
    return float(np.mean(scores))


def flicker(reference: np.ndarray, output: np.ndarray, masks: np.ndarray) -> float:
    """Mean |Δt(output) − Δt(reference)| inside the holes, in 8-bit levels.

    Δt is the frame-to-frame change; a steady fill changes like the clean clip does, a flickering
    fill adds change of its own. Pixels count when they are in the hole in either frame of a pair.
    """
    if len(reference) < 2:
        return 0.0
    ref = reference.astype(np.float32)
    out = output.astype(np.float32)
    d = np.abs((out[1:] - out[:-1]) - (ref[1:] - ref[:-1])).mean(axis=-1)
    region = masks[1:] | masks[:-1]
    return float(d[region].mean()) if region.any() else 0.0


def quality_report(reference: np.ndarray, output: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """The four figures `vidrestore eval` prints, keyed by name."""
    return {
        "psnr_hole": psnr(reference, output, masks),
        "psnr_full": psnr(reference, output),
        "ssim": ssim(reference, output),
        "flicker": flicker(reference, output, masks),
    }


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


def _ssim_luma(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())
