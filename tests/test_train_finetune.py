"""Fine-tuning: --init-weights starts the generator from an exported model; --feature-match-weight."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from test_train_loop import CPU, tiny_config

from vidrestore.errors import OptionError, WeightsError
from vidrestore.models.generator import GENERATOR_VARIANTS, build_generator
from vidrestore.models.weights import load_generator, save_generator
from vidrestore.train import train
from vidrestore.train.loop import Trainer


def _exported(tmp_path, variant: str = "tiny", name: str = "start") -> tuple[str, dict]:
    """A generator of ``variant`` with non-default weights, exported with a card; (path, state)."""
    torch.manual_seed(123)
    model = build_generator(GENERATOR_VARIANTS[variant])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # the last layer starts at zero: make it count
    path = save_generator(model, tmp_path / "weights" / f"{name}.safetensors", {"steps": 77})
    return str(path), {k: v.clone() for k, v in model.state_dict().items()}


def test_init_weights_starts_the_generator_from_the_file_and_everything_else_fresh(tmp_path):
    path, state = _exported(tmp_path)
    plain = Trainer(tiny_config(tmp_path, val_samples=0), CPU)
    trainer = Trainer(tiny_config(tmp_path, val_samples=0, init_weights=path), CPU)
    ours = trainer.generator.state_dict()
    assert ours.keys() == state.keys() and all(torch.equal(ours[k], state[k]) for k in state)
    assert not all(torch.equal(plain.generator.state_dict()[k], state[k]) for k in state)
    assert trainer.step == 0 and not trainer.opt_g.state and not trainer.opt_d.state
    # the discriminators are initialised as without --init-weights (same seed, same draws)
    for a, b in zip(plain.global_disc.parameters(), trainer.global_disc.parameters(), strict=True):
        assert torch.equal(a, b)


def test_init_weights_are_recorded_in_the_card_and_kept_through_a_resume(tmp_path):
    path, _ = _exported(tmp_path)
    exported = train(tiny_config(tmp_path, steps=2, val_samples=0, init_weights=path))
    _, card = load_generator(exported)
    source = load_generator(path)[1]
    assert card["init_weights"]["sha256"] == source["sha256"] and card["init_weights"]["steps"] == 77
    assert card["init_weights"]["file"] == card["train_config"]["init_weights"]
    assert not card["init_weights"]["file"].startswith("/")  # relative to the data root, as data are
    # a resume restores the generator from the checkpoint; the card still says where it started
    again = tiny_config(tmp_path, steps=3, val_samples=0, init_weights=path, resume=str(tmp_path / "run"))
    resumed = train(again)
    _, card = load_generator(resumed)
    assert card["steps"] == 3 and card["init_weights"]["sha256"] == source["sha256"]


def test_a_copy_variant_starts_from_its_base_weights_with_the_layer_at_zero(tmp_path):
    path, state = _exported(tmp_path, "tiny")
    trainer = Trainer(tiny_config(tmp_path, val_samples=0, init_weights=path, model="tiny-copy"), CPU)
    ours = trainer.generator.state_dict()
    assert all(torch.equal(ours[k], state[k]) for k in state)
    added = sorted(set(ours) - set(state))
    assert added and all(k.startswith("copy.") for k in added)
    assert not ours["copy.out.weight"].any() and not ours["copy.out.bias"].any()
    # the other way round (a copy model into the plain variant) is refused
    back, _ = _exported(tmp_path, "tiny-copy", name="copy")
    with pytest.raises(OptionError, match="does not match --model tiny"):
        Trainer(tiny_config(tmp_path, val_samples=0, init_weights=back), CPU)


def test_init_weights_of_another_architecture_are_refused(tmp_path):
    path, _ = _exported(tmp_path, "tiny-telea")
    with pytest.raises(OptionError, match="does not match --model tiny") as info:
        Trainer(tiny_config(tmp_path, val_samples=0, init_weights=path), CPU)
    assert "\n" not in str(info.value) and "in_channels 7 != 4" in str(info.value)
    with pytest.raises(WeightsError, match="does not exist"):
        Trainer(tiny_config(tmp_path, val_samples=0, init_weights=str(tmp_path / "nope.safetensors")), CPU)


def test_cli_refuses_a_mismatched_init_in_one_line(tmp_path):
    path, _ = _exported(tmp_path, "tiny-telea")
    config = tiny_config(tmp_path)
    data = [a for d in config.data for a in ("--data", d)]
    command = [sys.executable, "-m", "vidrestore", "train", "--model", "tiny", "--init-weights", path]
    command += ["--crop-size", "32", "--run-dir", str(tmp_path / "cli"), *data]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--init-weights" in lines[0] and "does not match --model tiny" in lines[0]


def _joint_step(tmp_path, weight: float) -> tuple[Trainer, dict[str, float]]:
    config = tiny_config(
        tmp_path, val_samples=0, warmup_steps=0, disc_warmup_steps=0, feature_match_weight=weight,
        adv_weight=0.1,
    )
    trainer = Trainer(config, CPU)
    batch = next(iter(trainer.loader))
    return trainer, trainer.train_step(batch)


def test_feature_matching_is_added_in_the_joint_phase_and_is_off_at_weight_zero(tmp_path, monkeypatch):
    _, with_fm = _joint_step(tmp_path, 2.0)

    def refuse(*args, **kwargs):
        raise AssertionError("features taken with --feature-match-weight 0")

    from vidrestore.models.discriminator import GlobalDiscriminator, LocalDiscriminator

    monkeypatch.setattr(GlobalDiscriminator, "forward_with_features", refuse)
    monkeypatch.setattr(LocalDiscriminator, "forward_with_features", refuse)
    _, without = _joint_step(tmp_path, 0.0)
    assert "loss_fm" not in without and with_fm["loss_fm"] > 0
    # the same batch, discriminator step and generator logits: only the new term differs
    for key in ("loss_d", "loss_rec", "loss_local", "loss_adv"):
        assert with_fm[key] == without[key], key
    total = sum(v for k, v in with_fm.items() if k.startswith("loss_") and k not in ("loss_g", "loss_d"))
    assert with_fm["loss_g"] == pytest.approx(total, rel=1e-5)


def test_feature_matching_value_is_the_weighted_mean_over_both_critics_layers(tmp_path, monkeypatch):
    from vidrestore.train import losses

    seen = []
    real_fm = losses.feature_matching_loss

    def spy(fake, real):
        value = real_fm(fake, real)
        seen.append(float(value.detach()))
        assert all(not r.requires_grad for r in real) and all(f.requires_grad for f in fake)
        return value

    monkeypatch.setattr(losses, "feature_matching_loss", spy)
    trainer, values = _joint_step(tmp_path, 3.0)
    assert len(seen) == 2  # the global and the local discriminator
    assert len(trainer.global_disc.features) // 2 == 6 and len(trainer.local_disc.features) // 2 == 4
    assert values["loss_fm"] == pytest.approx(3.0 * (seen[0] + seen[1]), rel=1e-6)
