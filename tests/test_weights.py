"""Weights files: round trip, model card, and a clear WeightsError for every way loading can fail."""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict
from pathlib import Path

import pytest
import safetensors.torch
import torch

from vidrestore.errors import WeightsError
from vidrestore.models import GENERATOR_VARIANTS, build_generator, load_generator, save_generator
from vidrestore.models import weights as weights_module
from vidrestore.models.weights import default_weights_available

TINY = GENERATOR_VARIANTS["tiny"]
CARD = {"data": ["synthetic"], "steps": 7, "metrics": {"psnr_hole": 21.5}}


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_generator(TINY)
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=0.05)
    return model


def write_raw(path: Path, state: dict[str, torch.Tensor], config: dict) -> Path:
    """Weights + a card whose sha256 is right, for states save_generator would never write."""
    safetensors.torch.save_file(state, str(path))
    card = {
        "architecture": "InpaintGenerator",
        "config": config,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_generator(make_model(), tmp_path / "model.safetensors", CARD)


@pytest.fixture
def no_packaged_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "package_weights"
    folder.mkdir()
    monkeypatch.setattr(weights_module, "_package_dir", lambda: folder)
    return folder


def test_round_trip_gives_the_same_outputs(saved: Path) -> None:
    model, card = load_generator(saved)
    image, mask = torch.rand(1, 3, 16, 24), torch.zeros(1, 1, 16, 24)
    mask[..., 4:10, 6:14] = 1
    with torch.inference_mode():
        assert torch.equal(model(image, mask), make_model().eval()(image, mask))
    assert not model.training and model.config == TINY


def test_card_records_architecture_config_size_hash_and_the_callers_facts(saved: Path) -> None:
    card = json.loads(saved.with_suffix(".json").read_text())
    assert card["architecture"] == "InpaintGenerator"
    assert card["config"]["widths"] == list(TINY.widths) and card["config"]["variant"] == "tiny"
    assert card["parameters"] == sum(p.numel() for p in make_model().parameters())
    assert card["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert card["steps"] == 7 and card["metrics"] == {"psnr_hole": 21.5} and card["data"] == ["synthetic"]


def test_save_adds_the_suffix_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = save_generator(make_model(), tmp_path / "sub" / "gen", {})
    assert path == tmp_path / "sub" / "gen.safetensors"
    assert sorted(p.name for p in path.parent.iterdir()) == ["gen.json", "gen.safetensors"]


def test_loading_never_unpickles(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used while loading weights")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    load_generator(saved)


def test_damaged_weights_fail_the_hash_check(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[-1] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 .* does not match its model card"):
        load_generator(saved)


def test_missing_card_is_named(saved: Path) -> None:
    saved.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="model card model.json is missing"):
        load_generator(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda card: "{not json", "not valid JSON"),
        (lambda card: json.dumps({**card, "architecture": "UNet"}), "architecture 'UNet'"),
        (lambda card: json.dumps({**card, "config": {**card["config"], "heads": 4}}), "config does not fit"),
        (lambda card: json.dumps({k: v for k, v in card.items() if k != "config"}), "no 'config'"),
    ],
)
def test_bad_cards_are_explained(saved: Path, edit, message: str) -> None:
    card_file = saved.with_suffix(".json")
    card_file.write_text(edit(json.loads(card_file.read_text())))
    with pytest.raises(WeightsError, match=message):
        load_generator(saved)


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path) -> None:
    state = dict(make_model().state_dict())
    removed = state.pop("stem.conv.weight")
    config = json.loads(json.dumps(asdict(TINY)))
    with pytest.raises(WeightsError, match=r"missing stem\.conv\.weight"):
        load_generator(write_raw(tmp_path / "a.safetensors", state, config))
    state["stem.conv.weight"], state["extra.bias"] = removed, torch.zeros(3)
    with pytest.raises(WeightsError, match=r"unexpected extra\.bias"):
        load_generator(write_raw(tmp_path / "b.safetensors", state, config))


def test_shape_mismatch_is_explained(saved: Path) -> None:
    card_file = saved.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["config"]["widths"] = [8, 16, 24]  # same keys, other shapes
    card_file.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="tensor shapes do not fit"):
        load_generator(saved)


def test_a_file_that_is_not_safetensors_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x80\x04 definitely a pickle, not a safetensors header")
    card = {"architecture": "InpaintGenerator", "config": asdict(TINY)}
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_generator(path)


def test_missing_paths_and_names_are_explained(tmp_path: Path, no_packaged_weights: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_generator(tmp_path / "nope.safetensors")
    with pytest.raises(WeightsError, match=r"no packaged weights named 'nope' \(available: none installed\)"):
        load_generator("nope")
    card = save_generator(make_model(), tmp_path / "m", {}).with_suffix(".json")
    with pytest.raises(
        WeightsError, match="m.json is not a .safetensors file; pass the weights, not their model card"
    ):
        load_generator(card)


def test_without_default_weights_the_message_says_what_to_do(no_packaged_weights: Path) -> None:
    assert not default_weights_available()
    with pytest.raises(WeightsError, match="no default GAN weights are installed; pass --weights PATH"):
        load_generator()


def test_default_and_bare_names_come_from_the_package_not_the_cwd(
    no_packaged_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_generator(make_model(seed=1), no_packaged_weights / "default.safetensors", {"steps": 1})
    save_generator(make_model(seed=2), no_packaged_weights / "other.safetensors", {"steps": 2})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    save_generator(make_model(seed=3), cwd / "default.safetensors", {"steps": 3})
    monkeypatch.chdir(cwd)
    assert default_weights_available()
    assert load_generator()[1]["steps"] == 1
    assert load_generator("default")[1]["steps"] == 1
    assert load_generator("other.safetensors")[1]["steps"] == 2
    assert load_generator("./default.safetensors")[1]["steps"] == 3
    assert weights_module.packaged_weights() == ["default.safetensors", "other.safetensors"]


def test_the_real_package_folder_is_found() -> None:
    folder = weights_module._package_dir()
    assert folder is not None and folder.joinpath("__init__.py").is_file()
