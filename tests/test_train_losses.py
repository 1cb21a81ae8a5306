"""Training losses: hand-checked values, the temporal term, optional perceptual loss from local weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vidrestore.errors import OptionError
from vidrestore.temporal.flow import consistent_flow_mask, optical_flow, warp
from vidrestore.train import TrainConfig
from vidrestore.train import losses as L


def _hole(n: int = 2, h: int = 16, w: int = 16) -> torch.Tensor:
    m = torch.zeros(n, 1, h, w)
    m[:, :, 4:10, 5:12] = 1
    return m


def test_reconstruction_weights_hole_and_valid_regions_separately():
    target = torch.zeros(1, 3, 16, 16)
    mask = _hole(1)
    pred = target + 0.5 * mask  # wrong only inside the hole
    assert L.reconstruction_loss(pred, target, mask, 6.0, 1.0).item() == pytest.approx(3.0)
    assert L.reconstruction_loss(pred, target, mask, 0.0, 1.0).item() == 0.0
    assert L.reconstruction_loss(target + 0.1, target, mask, 0.0, 2.0).item() == pytest.approx(0.2)


def test_per_sample_hole_norm_gives_small_holes_the_weight_of_big_ones():
    target = torch.zeros(3, 3, 16, 16)
    mask = torch.zeros(3, 1, 16, 16)
    mask[0, :, 1:15, 1:15] = 1  # a big hole, filled exactly
    mask[1, :, 7:9, 7:9] = 1  # a blotch, filled with an error of 0.5
    pred = target + 0.5 * mask * torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1, 1)
    batch = L.reconstruction_loss(pred, target, mask, 1.0, 0.0).item()
    sample = L.reconstruction_loss(pred, target, mask, 1.0, 0.0, per_sample=True).item()
    assert batch == pytest.approx(0.5 * 4 / (196 + 4))  # the blotch's 4 pixels among 200
    assert sample == pytest.approx(0.5 / 2)  # sample 2 has no hole and does not count


def test_hole_l2_term_adds_the_squared_error_inside_the_holes_only():
    target = torch.zeros(1, 3, 16, 16)
    mask = _hole(1)
    pred = target + 0.5 * mask + 0.1 * (1 - mask)
    base = L.reconstruction_loss(pred, target, mask, 6.0, 1.0).item()
    assert L.reconstruction_loss(pred, target, mask, 6.0, 1.0, hole_l2_weight=0.0).item() == base
    with_l2 = L.reconstruction_loss(pred, target, mask, 6.0, 1.0, hole_l2_weight=4.0).item()
    assert with_l2 == pytest.approx(base + 4.0 * 0.25)  # 0.5 ** 2 in the hole; the 0.1 outside is not squared


def test_hole_l2_term_moves_an_uncertain_fill_from_the_median_to_the_mean():
    # A hole whose truth is dark on three quarters and bright on one quarter, filled with one grey c.
    target = torch.zeros(1, 3, 4, 4)
    target[..., :1, :] = 1.0
    mask = torch.ones(1, 1, 4, 4)
    greys = torch.linspace(0, 1, 101)

    def best_grey(hole_weight: float, hole_l2_weight: float) -> float:
        losses = [
            L.reconstruction_loss(
                torch.full_like(target, float(c)),
                target,
                mask,
                hole_weight,
                0.0,
                per_sample=True,
                hole_l2_weight=hole_l2_weight,
            ).item()
            for c in greys
        ]
        return float(greys[int(np.argmin(losses))])

    assert best_grey(1.0, 0.0) == pytest.approx(0.0)  # L1: the median, the dark side
    assert best_grey(0.0, 1.0) == pytest.approx(0.25)  # squared error: the mean, best PSNR
    assert 0.0 < best_grey(1.0, 4.0) < 0.25  # a mix lands between


def test_negative_hole_l2_weight_is_refused():
    with pytest.raises(OptionError, match="hole-l2-weight"):
        TrainConfig(data=("x",), hole_l2_weight=-1.0)


def test_local_consistency_sees_seams_at_the_hole_border():
    target = torch.rand(2, 3, 16, 16)
    mask = _hole()
    assert L.local_consistency_loss(target, target, mask, band=2).item() == 0.0
    seam = L.composite(target, target + 0.3, mask)  # a constant offset in the hole: only edges differ
    assert L.local_consistency_loss(seam, target, mask, band=2).item() > 0.0
    assert torch.equal(L.hole_neighbourhood(mask, 0), mask)
    assert L.hole_neighbourhood(mask, 1).sum() > mask.sum()


def test_adversarial_losses_hand_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert L.discriminator_loss(real, fake, "hinge").item() == pytest.approx(0.5 + 0.75)
    assert L.generator_adversarial_loss(fake, "hinge").item() == pytest.approx(0.75)
    sp = torch.nn.functional.softplus
    expected = sp(-real).mean() + sp(fake).mean()
    assert L.discriminator_loss(real, fake, "nonsat").item() == pytest.approx(expected.item())
    assert L.generator_adversarial_loss(fake, "nonsat").item() == pytest.approx(sp(-fake).mean().item())
    with pytest.raises(ValueError):
        L.discriminator_loss(real, fake, "wgan")


def test_warp_tensor_matches_numpy_warp_and_passes_gradients():
    image = torch.rand(1, 3, 12, 20, requires_grad=True)
    flow = torch.randn(1, 2, 12, 20) * 2
    ours = L.warp_tensor(image, flow)
    ref = warp(image.detach()[0].permute(1, 2, 0).numpy(), flow[0].permute(1, 2, 0).numpy())
    assert np.allclose(ours.detach()[0].permute(1, 2, 0).numpy(), ref, atol=1e-4)
    ours.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def _moving_pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    texture = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    texture = np.ascontiguousarray(np.repeat(np.repeat(texture, 2, 0), 2, 1))[:48, :64]  # smooth-ish
    return texture, np.roll(texture, 3, axis=1)  # frame t = frame t-1 moved 3 px right


def test_temporal_loss_zero_for_consistent_output_positive_otherwise():
    prev_np, cur_np = _moving_pair()
    back = optical_flow(cur_np, prev_np)  # t -> t-1
    valid = consistent_flow_mask(back, optical_flow(prev_np, cur_np))
    assert valid.mean() > 0.7 and np.allclose(np.median(back[valid], axis=0), [-3, 0], atol=0.3)
    prev = torch.from_numpy(prev_np).permute(2, 0, 1)[None].float() / 255
    cur = torch.from_numpy(cur_np).permute(2, 0, 1)[None].float() / 255
    exact = torch.zeros(1, 2, 48, 64)
    exact[:, 0] = -3.0  # the true motion: out_t(x) = out_{t-1}(x - 3)
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 10:30, 20:40] = 1
    ok = torch.ones(1, 1, 48, 64)
    assert L.temporal_consistency_loss(cur, prev, exact, ok, mask).item() == pytest.approx(0.0, abs=1e-6)
    flicker = cur + 0.2 * mask
    assert L.temporal_consistency_loss(flicker, prev, exact, ok, mask).item() == pytest.approx(0.2, abs=1e-3)
    # with the flow estimated on the clean frames, consistency still costs far less than flicker
    est = torch.from_numpy(back).permute(2, 0, 1)[None]
    v = torch.from_numpy(valid).float()[None, None]
    consistent = L.temporal_consistency_loss(cur, prev, est, v, mask).item()
    assert consistent < 0.02 < L.temporal_consistency_loss(flicker, prev, est, v, mask).item()
    # occluded (invalid) pixels and pixels outside the hole never count
    assert L.temporal_consistency_loss(flicker, prev, exact, torch.zeros_like(ok), mask).item() == 0.0


def _random_vgg_features(path, convs: int = 13):
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    state, index, cin = {}, 0, 3
    for item in cfg:
        if item == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(item, cin, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(item)
        cin, index = item, index + 2
    save_file(state, str(path))
    return path


def test_perceptual_loss_from_user_weights_only(tmp_path):
    loss = L.PerceptualLoss(_random_vgg_features(tmp_path / "vgg16.safetensors"))
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    assert loss(x, torch.rand(2, 3, 32, 32)).item() > 0.0
    assert not any(p.requires_grad for p in loss.parameters())
    with pytest.raises(OptionError, match="cannot read perceptual weights"):
        L.PerceptualLoss(tmp_path / "missing.safetensors")
    save_file({"conv.weight": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(OptionError):
        L.PerceptualLoss(tmp_path / "other.safetensors")


def test_config_checks_loss_options():
    with pytest.raises(OptionError, match="nothing is downloaded"):
        TrainConfig(perceptual_weight=0.1)
    with pytest.raises(OptionError, match="clip-length"):
        TrainConfig(temporal_weight=1.0, clip_length=1)
    with pytest.raises(OptionError, match="adv-loss"):
        TrainConfig(adv_loss="wasserstein")
    with pytest.raises(OptionError, match="unknown mask kind"):
        TrainConfig(mask_mix="logo=1,smudge=2")
    with pytest.raises(OptionError, match="lists of paths"):
        TrainConfig(data="/some/folder")  # type: ignore[arg-type]
    assert TrainConfig.from_dict(TrainConfig(data=("a",)).to_dict()) == TrainConfig(data=("a",))


def test_feature_matching_loss_by_hand():
    fake = [torch.full((2, 3, 4, 4), 1.0, requires_grad=True), torch.zeros(1, 2, 2, 2, requires_grad=True)]
    real = [torch.full((2, 3, 4, 4), 0.5), torch.full((1, 2, 2, 2), -2.0, requires_grad=True)]
    real[1].data[0, 0, 0, 0] = 2.0  # |0 - 2| there too: still 2 everywhere
    loss = L.feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx((0.5 + 2.0) / 2)  # mean over layers of each layer's mean |f - r|
    loss.backward()
    assert real[1].grad is None  # real features are targets: detached
    assert fake[0].grad is not None and fake[0].grad.abs().sum() > 0
    same = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    assert L.feature_matching_loss(same, [t.clone() for t in same]).item() == 0.0
    with pytest.raises(ValueError):
        L.feature_matching_loss(same, same[:1])


def test_discriminator_features_are_the_layers_of_its_stack_and_the_logits_unchanged():
    from vidrestore.models.discriminator import GlobalDiscriminator, LocalDiscriminator

    torch.manual_seed(0)
    image, mask = torch.rand(2, 3, 64, 64), _hole(2, 64, 64)
    for disc, layers in ((GlobalDiscriminator(width=8).eval(), 6), (LocalDiscriminator(width=8).eval(), 4)):
        logits, feats = disc.forward_with_features(image, mask)
        assert torch.equal(logits, disc(image, mask))
        assert len(feats) == layers
        assert [f.shape[-1] for f in feats] == [64 // 2 ** (i + 1) for i in range(layers)]
        x = torch.cat([image, mask], dim=1)
        for i, f in enumerate(feats):  # each is the output of conv + leaky ReLU number i
            x = disc.features[2 * i + 1](disc.features[2 * i](x))
            assert torch.equal(f, x)


def test_feature_match_weight_must_not_be_negative():
    with pytest.raises(OptionError, match="feature-match-weight"):
        TrainConfig(feature_match_weight=-1.0)
