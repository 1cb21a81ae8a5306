"""Generator and discriminators: shapes, ranges, the residual-over-pre-fill contract, determinism."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

from vidrestore.models import GENERATOR_VARIANTS, GeneratorConfig, build_generator, count_parameters
from vidrestore.models.discriminator import (
    GlobalDiscriminator,
    LocalDiscriminator,
    hole_patch_origins,
    take_patches,
)
from vidrestore.models.generator import pyramid_fill, telea_fill, telea_prefill

TINY = GENERATOR_VARIANTS["tiny"]


def inputs(n: int = 2, h: int = 32, w: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, h, w, generator=g)
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, h // 4 : h // 2, w // 3 : w // 2] = 1
    return image, mask


def randomise_output_layer(model: torch.nn.Module, std: float = 0.05) -> None:
    """A fresh generator returns its pre-fill; this makes the network's own contribution visible."""
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=std)


@pytest.mark.parametrize("name", sorted(GENERATOR_VARIANTS))
def test_every_variant_gives_an_image_of_the_input_shape(name: str) -> None:
    config = GENERATOR_VARIANTS[name]
    model = build_generator(config).eval()
    randomise_output_layer(model)
    image, mask = inputs(h=2 * config.stride, w=3 * config.stride)
    with torch.inference_mode():
        out = model(image, mask, telea_fill(image, mask) if model.needs_telea else None)
    assert out.shape == image.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert model.config is config


def test_variant_sizes_are_as_documented() -> None:
    small = count_parameters(build_generator(GENERATOR_VARIANTS["small"]))
    base = count_parameters(build_generator(GENERATOR_VARIANTS["base"]))
    assert 0.5e6 < small < 2e6
    assert base > 3 * small
    assert GENERATOR_VARIANTS["base"].working_size > GENERATOR_VARIANTS["small"].working_size


def test_fresh_generator_returns_the_prefill_and_keeps_known_pixels() -> None:
    model = build_generator(TINY).eval()
    image, mask = inputs()
    with torch.inference_mode():
        out = model(image, mask)
    assert torch.equal(out, pyramid_fill(image, mask, TINY.stride).clamp(0, 1))
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])


TINY_TELEA = GENERATOR_VARIANTS["tiny-telea"]


def test_fresh_telea_generator_returns_the_telea_fill() -> None:
    image = torch.zeros(1, 3, 32, 48)
    for x0 in range(0, 48, 12):
        image[..., x0 : x0 + 6] = 1.0
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., 15:17, :] = 1
    model = build_generator(TINY_TELEA).eval()
    with torch.inference_mode():
        out = model(image, mask, telea_fill(image, mask))
    assert torch.equal(out, telea_fill(image, mask).clamp(0, 1))
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])
    assert (out - image).abs()[mask.expand_as(out) > 0].mean() < 0.2  # stripes roughly continued


def test_telea_prefill_needs_seven_input_channels() -> None:
    with pytest.raises(ValueError, match="in_channels 7"):
        GeneratorConfig("bad", prefill="telea+pyramid")
    with pytest.raises(ValueError, match="unknown prefill"):
        GeneratorConfig("bad", prefill="magic")


@pytest.mark.parametrize("config", [TINY, TINY_TELEA], ids=["pyramid", "telea+pyramid"])
def test_hole_content_is_ignored(config: GeneratorConfig) -> None:
    torch.manual_seed(1)
    model = build_generator(config).eval()
    randomise_output_layer(model)
    image, mask = inputs()
    garbage = torch.where(mask > 0, torch.rand_like(image), image)
    telea = telea_fill if config.prefill == "telea+pyramid" else lambda *_: None
    with torch.inference_mode():
        assert torch.equal(model(image, mask, telea(image, mask)), model(garbage, mask, telea(garbage, mask)))


def test_telea_prefill_of_uint8_crops_is_the_tensor_fill() -> None:
    """The engine fills uint8 crops on the host; training fills float batches: the same numbers."""
    image, mask = inputs(n=3)
    image = (image * 255).round() / 255
    mask[2] = 0  # an image without holes comes back as it was
    crops = (image * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    filled = telea_prefill(crops, mask[:, 0].numpy() > 0.5)
    assert (filled[2] == crops[2]).all()
    as_tensor = torch.from_numpy(filled).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(as_tensor, telea_fill(image, mask))


def test_sizes_off_the_stride_are_rejected() -> None:
    model = build_generator(TINY)
    image, mask = inputs(h=30, w=48)
    with pytest.raises(ValueError, match="multiple of the stride"):
        model(image, mask)


def test_same_seed_same_model_same_output() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = build_generator(TINY).eval()
        randomise_output_layer(model)
        with torch.inference_mode():
            outs.append(model(*inputs()))
    assert torch.equal(outs[0], outs[1])


def test_samples_do_not_influence_each_other() -> None:
    torch.manual_seed(2)
    model = build_generator(TINY).eval()
    randomise_output_layer(model)
    image, mask = inputs(n=3)
    with torch.inference_mode():
        batched = model(image, mask)
        alone = model(image[1:2], mask[1:2])
    torch.testing.assert_close(batched[1:2], alone, atol=1e-5, rtol=0)


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(3)
    model = build_generator(TINY)
    randomise_output_layer(model)
    image, mask = inputs()
    target = torch.rand_like(image)
    ((model(image, mask) - target).abs() * mask).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_config_survives_a_json_round_trip() -> None:
    config = GENERATOR_VARIANTS["base"]
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    assert GeneratorConfig(**as_json) == config
    assert config.stride == 8
    with pytest.raises(ValueError, match="multiple of stride"):
        GeneratorConfig(working_size=100)


def test_prefill_keeps_known_pixels_and_fills_flat_areas_flat() -> None:
    image = torch.full((1, 3, 32, 32), 0.3)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 4:28, 2:20] = 1
    filled = pyramid_fill(torch.where(mask > 0, torch.rand_like(image), image), mask)
    torch.testing.assert_close(filled, image)
    everything = pyramid_fill(image, torch.ones(1, 1, 32, 32))
    torch.testing.assert_close(everything, torch.full_like(image, 0.5))


def test_prefill_of_a_crop_matches_the_whole_image_for_a_stride_aligned_crop() -> None:
    """The pre-fill is shift-equivariant by the stride, so cropping around a hole does not change it."""
    g = torch.Generator().manual_seed(4)
    image = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 136, 136, generator=g), 9, 1)  # smooth, 128x128
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., 60:68, 52:70] = 1
    whole = pyramid_fill(image, mask)
    crop = pyramid_fill(image[..., 32:96, 24:104], mask[..., 32:96, 24:104])
    hole = mask[..., 32:96, 24:104].expand_as(crop) > 0
    torch.testing.assert_close(crop[hole], whole[..., 32:96, 24:104][hole], atol=2e-3, rtol=0)


def test_discriminators_score_crops_and_patches() -> None:
    torch.manual_seed(5)
    image, mask = inputs(n=2, h=64, w=64)
    global_d = GlobalDiscriminator(width=8, layers=4)
    local_d = LocalDiscriminator(width=8, layers=3)
    assert global_d(image, mask).shape == (2, 1, 4, 4)
    origins = hole_patch_origins(mask, 32)
    patches = take_patches(image, origins, 32)
    assert patches.shape == (2, 3, 32, 32)
    assert local_d(patches, take_patches(mask, origins, 32)).shape == (2,)
    assert any("parametrizations" in n for n, _ in global_d.named_parameters())
    with pytest.raises(ValueError, match="use_mask"):
        local_d(patches)
    assert GlobalDiscriminator(width=8, layers=2, use_mask=False)(image).shape == (2, 1, 16, 16)


def test_hole_patches_are_centred_on_the_hole_and_stay_inside() -> None:
    mask = torch.zeros(3, 1, 64, 64)
    mask[0, :, 30:34, 40:44] = 1  # centre (31, 41)
    mask[1, :, 0:4, 60:64] = 1  # corner: clamped
    origins = hole_patch_origins(mask, 16)  # sample 2 has no hole: centre patch
    assert origins.tolist() == [[23, 33], [0, 48], [24, 24]]


def test_inference_imports_no_training_code() -> None:
    code = (
        "import sys, vidrestore.inpaint.engine, vidrestore.models;"
        "training = ('vidrestore.train', 'vidrestore.models.discriminator');"
        "bad = [m for m in sys.modules if m.startswith(training)];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
