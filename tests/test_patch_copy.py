"""The patch-copy layer: hole features rebuilt from the known features they resemble."""

from __future__ import annotations

import torch

from vidrestore.models import GENERATOR_VARIANTS, build_generator
from vidrestore.models.generator import PatchCopy, telea_fill


def test_a_fresh_layer_changes_nothing() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 12)
    mask = torch.zeros(2, 1, 64, 96)
    mask[:, :, 16:40, 24:60] = 1
    torch.testing.assert_close(PatchCopy(16)(x, mask), x, atol=0, rtol=0)


def test_a_hole_position_copies_the_known_feature_it_resembles() -> None:
    """Two kinds of known feature, a hole position whose feature is close to one of them: with an
    identity output and sharp similarity it becomes (nearly) twice that feature, and only hole
    positions change."""
    layer = PatchCopy(4, embed=4, scale=50.0)
    with torch.no_grad():
        for conv in (layer.query, layer.key, layer.out):
            conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
            conv.bias.zero_()
    a, b = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 1.0, 0, 0])
    x = torch.zeros(1, 4, 4, 4)
    x[0, :, :, :2] = a.view(4, 1, 1)  # left half: texture a
    x[0, :, :, 2:] = b.view(4, 1, 1)  # right half: texture b
    x[0, :, 1, 2] = torch.tensor([0.1, 0.9, 0, 0])  # a hole position that looks like b
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 8:16, 16:24] = 1  # exactly position (1, 2) at 1/8 resolution
    out = layer(x, mask)
    torch.testing.assert_close(out[0, :, 1, 2], x[0, :, 1, 2] + b, atol=1e-3, rtol=0)
    changed = (out - x).abs().sum(dim=1)[0] > 0
    assert changed.nonzero().tolist() == [[1, 2]]


def test_a_crop_without_known_features_gives_finite_output() -> None:
    layer = PatchCopy(8)
    torch.nn.init.normal_(layer.out.weight)
    out = layer(torch.randn(1, 8, 4, 4), torch.ones(1, 1, 32, 32))
    assert torch.isfinite(out).all()


def test_the_copy_variant_starts_from_the_small_model_unchanged() -> None:
    """Weights of "small" load into "small-copy" (all but the new layer) and give the same image:
    the layer enters through a zero output."""
    torch.manual_seed(1)
    small = build_generator(GENERATOR_VARIANTS["small"]).eval()
    with torch.no_grad():
        torch.nn.init.normal_(small.to_residual.weight, std=0.05)
    copy = build_generator(GENERATOR_VARIANTS["small-copy"]).eval()
    missing, unexpected = copy.load_state_dict(small.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("copy.") for k in missing) and missing
    image = torch.rand(2, 3, 64, 96)
    mask = torch.zeros(2, 1, 64, 96)
    mask[:, :, 16:48, 32:80] = 1
    telea = telea_fill(image, mask)
    with torch.no_grad():
        torch.testing.assert_close(copy(image, mask, telea), small(image, mask, telea), atol=0, rtol=0)
