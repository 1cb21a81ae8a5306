"""The packaged generator on a CUDA device: no host syncs, reduced precision and channels-last
within 0.05 dB of fp32, torch.compile, flat memory over many batches. Skipped without CUDA."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vidrestore.damage import make_masks
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.inpaint.registry import InpaintOptions
from vidrestore.metrics import psnr
from vidrestore.models import load_generator
from vidrestore.models.generator import telea_fill

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def scene(n: int = 6, h: int = 360, w: int = 640, seed: int = 0) -> np.ndarray:
    """Textured frames with edges and gradients that pan, so fills have structure to continue."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 128 + 90 * np.sin((xx + 5 * i) / 29) * np.cos(yy / 41)
        g = 128 + 90 * np.cos((yy - 3 * i) / 19)
        b = np.where((xx + 4 * i) % 160 < 80, 200.0, 60.0)
        frames.append(np.stack([r, g, b], -1) + rng.normal(0, 3, (h, w, 3)))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def damage(n: int = 6, h: int = 360, w: int = 640) -> np.ndarray:
    """A static logo box on every frame, plus large moving blobs."""
    masks = make_masks("blob", n, h, w, np.random.default_rng(3))
    masks[:, 20:70, w - 170 : w - 30] = True
    return masks


def engine(precision: str = "fp32") -> GanInpainter:
    """The packaged generator as `fix --device cuda --dilate 0` sets it up."""
    return GanInpainter.from_options(InpaintOptions(device="cuda", feather=0, precision=precision))


def test_forward_never_synchronises_with_the_host() -> None:
    model, _ = load_generator(None, "cuda")
    image = torch.rand(4, 3, 256, 256, device="cuda")
    mask = torch.zeros(4, 1, 256, 256, device="cuda")
    mask[..., 64:192, 32:224] = 1
    telea = telea_fill(image, mask)  # host-side preparation, before the check
    with torch.inference_mode():
        model(image, mask, telea)  # warm-up: cuDNN algorithm search may sync
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            out = model(image, mask, telea)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert out.shape == image.shape and out.is_cuda


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_is_within_a_twentieth_of_a_db_of_fp32(precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    frames, masks = scene(), damage()
    reference = engine().inpaint(frames, masks)
    reduced = engine(precision=precision).inpaint(frames, masks)
    assert np.array_equal(reduced[~masks], frames[~masks])
    assert abs(psnr(frames, reduced, masks) - psnr(frames, reference, masks)) <= 0.05


def test_channels_last_matches_the_default_layout() -> None:
    frames, masks = scene(), damage()
    nhwc = engine()
    nchw = GanInpainter(copy.deepcopy(nhwc.model), "cuda", settings=nhwc.settings, channels_last=False)
    assert nhwc.channels_last and not nchw.channels_last
    a, b = nchw.inpaint(frames, masks), nhwc.inpaint(frames, masks)
    assert abs(psnr(frames, a, masks) - psnr(frames, b, masks)) <= 0.05
    assert psnr(a, b, masks) > 45


def test_compiled_forward_matches_eager_on_cuda() -> None:
    torch._dynamo.reset()
    model, _ = load_generator(None, "cuda")
    image = torch.rand(2, 3, 256, 256, device="cuda")
    mask = torch.zeros(2, 1, 256, 256, device="cuda")
    mask[..., 64:192, 32:224] = 1
    telea = telea_fill(image, mask)
    compiled = torch.compile(model, fullgraph=True)
    with torch.inference_mode():
        expected = model(image, mask, telea)
        torch.testing.assert_close(compiled(image, mask, telea), expected, atol=1e-3, rtol=0)


def test_device_memory_stays_flat_over_many_batches() -> None:
    inpainter = engine(precision="fp16")
    frames, masks = scene(n=4), damage(n=4)
    inpainter.inpaint(frames, masks)  # warm-up: allocator pools, cuDNN workspaces
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    inpainter.inpaint(frames, masks)
    first = torch.cuda.max_memory_allocated()
    for seed in range(10):
        inpainter.inpaint(scene(n=4, seed=seed), masks)
    assert torch.cuda.max_memory_allocated() <= 1.05 * first
    assert torch.cuda.memory_allocated() <= first
