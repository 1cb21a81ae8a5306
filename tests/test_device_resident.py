"""The generator's forward pass is torch only: no host reads, runs on ``meta``, traces whole for
``torch.compile``, and gives what the shipped weights gave when the Telea pre-fill ran inside it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from vidrestore.models import GENERATOR_VARIANTS, build_generator, load_generator
from vidrestore.models.generator import (
    _known_fraction,
    _smooth_a_trous,
    _trust,
    pyramid_fill,
    telea_fill,
)

TINY_TELEA = GENERATOR_VARIANTS["tiny-telea"]
# sha256 of weights/default.safetensors when REFERENCE was recorded (with the Telea fill still
# inside forward, before it moved to the callers).
PACKAGED_SHA = "b9b68c13907c541f1630123a77eb21179a9f782206422a09d7f22241f447528c"
REFERENCE = {
    "hole_means": [0.508464, 0.430239],
    "pixel_0_32_50": [0.529101, 0.475666, 0.519042],
    "pixel_1_10_48": [0.485953, 0.501719, 0.026397],
}


# Ops that hand a tensor's value to Python: ``.item()``, ``float(t)``, ``bool(t)``, ``torch.equal``
# (under inference mode ``item`` is dispatched itself instead of ``_local_scalar_dense``).
_READS = {
    torch.ops.aten._local_scalar_dense.default,
    torch.ops.aten.item.default,
    torch.ops.aten.is_nonzero.default,
    torch.ops.aten.equal.default,
}


class HostReads(TorchDispatchMode):
    """Records every op that hands a tensor's value to Python, which on a GPU waits for the device."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in _READS:
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


def pattern() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 64x96 8-bit images (gradients, waves) with a box hole and a thin vertical scratch."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(96.0), indexing="ij")
    a = torch.stack([xx / 96, yy / 64, 0.5 + 0.4 * torch.sin(xx / 5) * torch.cos(yy / 7)])
    b = torch.stack([0.5 + 0.4 * torch.sin((xx + yy) / 6), 1 - xx / 96, (yy / 64) ** 2])
    image = (torch.stack([a, b]).clamp(0, 1) * 255).round() / 255
    mask = torch.zeros(2, 1, 64, 96)
    mask[0, :, 20:44, 30:70] = 1
    mask[1, :, :, 47:50] = 1
    return image, mask


def trained_like(config=TINY_TELEA, seed: int = 0) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    """A random generator whose last layer is not zero, so the network's own part shows."""
    torch.manual_seed(seed)
    model = build_generator(config).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=0.05)
    return model


@pytest.mark.parametrize("name", ["tiny", "tiny-telea"])
def test_forward_never_reads_a_value_back_to_the_host(name: str) -> None:
    model = trained_like(GENERATOR_VARIANTS[name])
    image, mask = pattern()
    telea = telea_fill(image, mask)  # the caller's host-side preparation, outside the check
    with torch.inference_mode(), HostReads() as probe:
        out = model(image, mask, telea)
    assert probe.reads == [] and out.shape == image.shape


def test_the_packaged_generator_runs_on_meta_tensors() -> None:
    model, _ = load_generator()
    model = model.to("meta")
    image = torch.empty(3, 3, 256, 192, device="meta")
    mask = torch.empty(3, 1, 256, 192, device="meta")
    inputs = (image, mask, torch.empty_like(image)) if model.needs_telea else (image, mask)
    out = model(*inputs)
    assert out.device.type == "meta" and out.shape == (3, 3, 256, 192) and out.dtype == torch.float32


def test_the_packaged_generator_gives_the_outputs_recorded_before_the_prefill_moved() -> None:
    model, card = load_generator()
    if card.get("sha256") != PACKAGED_SHA:
        pytest.skip("the packaged weights changed since REFERENCE was recorded; record it again")
    image, mask = pattern()
    with torch.inference_mode():
        out = model(image, mask, telea_fill(image, mask))
    hole = mask.expand_as(out) > 0
    means = [float(out[i][hole[i]].mean()) for i in range(2)]
    assert means == pytest.approx(REFERENCE["hole_means"], abs=1e-5)
    assert out[0, :, 32, 50].tolist() == pytest.approx(REFERENCE["pixel_0_32_50"], abs=1e-5)
    assert out[1, :, 10, 48].tolist() == pytest.approx(REFERENCE["pixel_1_10_48"], abs=1e-5)


def test_a_telea_generator_asks_for_its_prefill() -> None:
    model = build_generator(TINY_TELEA)
    with pytest.raises(ValueError, match="telea=telea_fill"):
        model(*pattern())


def early_stopping_pyramid_fill(
    image: torch.Tensor, mask: torch.Tensor, stride: int, threshold: float = 0.25
) -> torch.Tensor:
    """The fill as it was: undecimated levels added only until every pixel's footprint was trusted,
    a decision read back from the data at every level."""
    valid = 1.0 - mask
    decimated = [torch.cat([image * valid, valid], dim=1)]
    for _ in range(stride.bit_length() - 1):
        decimated.append(F.avg_pool2d(decimated[-1], 2))
    coarse = decimated[-1]
    undecimated = [torch.cat([coarse, torch.ones_like(coarse[:, :1])], dim=1)]
    dilation, limit = 1, 2 * max(coarse.shape[-2:])
    while dilation < limit and float(_known_fraction(undecimated[-1]).amin()) < threshold:
        undecimated.append(_smooth_a_trous(undecimated[-1], dilation))
        dilation *= 2
    filled = torch.full_like(coarse[:, :3], 0.5)
    for level in reversed(undecimated):
        filled = _trust(filled, level, threshold)
    for level in reversed(decimated[:-1]):
        filled = F.interpolate(filled, scale_factor=2.0, mode="bilinear", align_corners=False)
        filled = _trust(filled, level, threshold)
    return torch.where(mask > 0.5, filled, image)


@pytest.mark.parametrize("stride", [8, 16])
def test_fixed_depth_prefill_equals_the_early_stopping_one_exactly(stride: int) -> None:
    g = torch.Generator().manual_seed(7)
    for h, w, box in [(64, 96, (20, 44, 30, 70)), (128, 128, (0, 120, 0, 128)), (32, 48, (0, 0, 0, 0)),
                      (64, 64, (0, 64, 0, 64)), (256, 160, (100, 110, 0, 160))]:
        image = torch.rand(2, 3, h, w, generator=g)
        mask = torch.zeros(2, 1, h, w)
        mask[0, :, box[0] : box[1], box[2] : box[3]] = 1
        mask[1] = (torch.rand(1, h, w, generator=g) > 0.6).float()  # scattered holes
        expected = early_stopping_pyramid_fill(image, mask, stride)
        assert torch.equal(pyramid_fill(image, mask, stride), expected)


def test_forward_traces_as_one_graph_for_torch_compile() -> None:
    """fullgraph=True raises at the first graph break (a host read, numpy, OpenCV)."""
    torch._dynamo.reset()
    model = trained_like()
    image, mask = pattern()
    telea = telea_fill(image, mask)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.inference_mode():
        assert torch.equal(compiled(image, mask, telea), model(image, mask, telea))


@pytest.mark.slow
def test_torch_compile_with_inductor_matches_eager() -> None:
    torch._dynamo.reset()
    model = trained_like()
    image, mask = pattern()
    telea = telea_fill(image, mask)
    compiled = torch.compile(model, fullgraph=True)
    with torch.inference_mode():
        expected = model(image, mask, telea)
        torch.testing.assert_close(compiled(image, mask, telea), expected, atol=1e-5, rtol=0)
