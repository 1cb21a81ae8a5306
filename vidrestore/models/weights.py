"""Generator weights on disk: a ``.safetensors`` file and a ``.json`` model card beside it.

The card holds what rebuilds and vouches for the model (architecture, config, parameter count,
sha256 of the weights file) plus whatever the trainer adds (data, steps, metrics). Loading never
unpickles anything: safetensors parses a JSON header and raw tensors, and the model is rebuilt from
the card's config before the tensors are checked key by key and shape by shape.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import safetensors
import safetensors.torch
import torch
from safetensors.torch import load as tensors_from_safetensors

from vidrestore._version import __version__
from vidrestore.errors import WeightsError
from vidrestore.models.generator import GeneratorConfig, InpaintGenerator, build_generator, count_parameters

ARCHITECTURE = "InpaintGenerator"
CARD_FORMAT = 1
DEFAULT_NAME = "default.safetensors"
_SUFFIX = ".safetensors"


class _Resource(Protocol):
    """What both ``pathlib.Path`` and package-data ``Traversable`` offer; all loading needs."""

    name: str

    def is_file(self) -> bool: ...

    def read_bytes(self) -> bytes: ...


def save_generator(model: InpaintGenerator, path: str | Path, card: dict[str, Any]) -> Path:
    """Write ``path`` (.safetensors, appended if missing) and its .json card, each atomically.

    ``card`` carries the trainer's facts (data, steps, metrics); architecture, config, parameter count
    and sha256 are filled in here so they cannot disagree with the file.
    """
    path = Path(path)
    if path.suffix != _SUFFIX:
        path = path.with_name(path.name + _SUFFIX)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    data = safetensors.torch.save(state, metadata={"architecture": ARCHITECTURE, "format": str(CARD_FORMAT)})
    full_card = {
        **card,
        "architecture": ARCHITECTURE,
        "format": CARD_FORMAT,
        "config": asdict(model.config),
        "parameters": count_parameters(model),
        "weights_file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "vidrestore_version": __version__,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)
    _write_atomic(card_path(path), (json.dumps(full_card, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_generator(
    name_or_path: str | Path | None = None, device: str | torch.device = "cpu"
) -> tuple[InpaintGenerator, dict[str, Any]]:
    """Rebuild a generator from its card and load its weights, verified; returns (model in eval mode, card).

    ``None`` is the packaged default model, a bare name (``"default"``, ``"x.safetensors"``) a packaged
    model, anything else a path. Every problem is a ``WeightsError`` saying what to do.
    """
    weights = resolve_weights(name_or_path)
    card = read_card(weights)
    data = weights.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if card.get("sha256") != digest:
        raise WeightsError(
            f"{weights.name}: sha256 {digest[:12]}... does not match its model card "
            f"({str(card.get('sha256'))[:12]}...); the file is damaged or the card belongs to other weights"
        )
    if card.get("architecture") != ARCHITECTURE:
        raise WeightsError(
            f"{weights.name}: model card says architecture {card.get('architecture')!r}, "
            f"expected {ARCHITECTURE!r}"
        )
    config = config_from_card(card, weights.name)
    try:
        state = tensors_from_safetensors(data)  # parses a header and raw tensors; no pickle
    except (safetensors.SafetensorError, ValueError) as exc:
        raise WeightsError(f"{weights.name} is not a readable safetensors file ({exc})") from None
    model = build_generator(config)
    _check_state(model.state_dict(), state, f"{weights.name} ({config.variant})")
    model.load_state_dict(state, strict=True)
    return model.eval().to(device), card


def default_weights_available() -> bool:
    """True when the packaged default model file is installed (its integrity is checked on load)."""
    default = _package_dir()
    return default is not None and default.joinpath(DEFAULT_NAME).is_file()


def packaged_weights() -> list[str]:
    """Names of the models shipped in the package's weights folder."""
    folder = _package_dir()
    if folder is None:
        return []
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(_SUFFIX))


def resolve_weights(name_or_path: str | Path | None) -> _Resource:
    """Where the weights named by ``--weights`` live: package data for bare names, else a path."""
    if name_or_path is None:
        folder = _package_dir()
        default = folder.joinpath(DEFAULT_NAME) if folder is not None else None
        if default is None or not default.is_file():
            raise WeightsError(
                "no default GAN weights are installed; pass --weights PATH or use --method telea"
            )
        return default
    text = str(name_or_path)
    path = Path(text).expanduser()
    if len(Path(text).parts) == 1 and not text.startswith("."):
        folder = _package_dir()
        packaged = folder.joinpath(text if text.endswith(_SUFFIX) else text + _SUFFIX) if folder else None
        if packaged is not None and packaged.is_file():
            return packaged
        if not path.is_file():
            available = ", ".join(packaged_weights()) or "none installed"
            raise WeightsError(
                f"no packaged weights named {text!r} (available: {available}) and no file {text!r} here"
            )
    elif not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix != _SUFFIX:
        raise WeightsError(f"{path.name} is not a {_SUFFIX} file; pass the weights, not their model card")
    return path


def card_path(weights: Path) -> Path:
    """The model card beside a weights file: ``x.safetensors`` -> ``x.json``."""
    return weights.with_name(_card_name(weights.name))


def read_card(weights: _Resource) -> dict[str, Any]:
    """The parsed .json card that must sit beside ``weights``."""
    card_file = _sibling(weights, _card_name(weights.name))
    if not card_file.is_file():
        raise WeightsError(f"model card {_card_name(weights.name)} is missing beside {weights.name}")
    try:
        card = json.loads(card_file.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeightsError(f"model card {card_file.name} is not valid JSON ({exc})") from None
    if not isinstance(card, dict):
        raise WeightsError(f"model card {card_file.name} must be a JSON object")
    return card


def config_from_card(card: dict[str, Any], where: str = "model card") -> GeneratorConfig:
    """Rebuild the ``GeneratorConfig`` a card describes; unknown or bad fields are a ``WeightsError``."""
    raw = card.get("config")
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: model card has no 'config' object")
    try:
        return GeneratorConfig(**raw)
    except (TypeError, ValueError) as exc:
        raise WeightsError(
            f"{where}: model card config does not fit this vidrestore version ({exc})"
        ) from None


def _check_state(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], where: str) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = [
            f"{label} {_first(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise WeightsError(f"{where}: weights do not fit the architecture in the card: {'; '.join(parts)}")
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise WeightsError(f"{where}: tensor shapes do not fit the card's config: {_first(wrong)}")


def _first(items: list[str], n: int = 3) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _card_name(weights_name: str) -> str:
    stem = weights_name[: -len(_SUFFIX)] if weights_name.endswith(_SUFFIX) else weights_name
    return stem + ".json"


def _sibling(resource: _Resource, name: str) -> _Resource:
    if isinstance(resource, Path):
        return resource.with_name(name)
    folder = _package_dir()
    assert folder is not None  # package resources only come from the package folder
    return folder.joinpath(name)


def _package_dir() -> Any:
    """The installed ``vidrestore.weights`` folder (a Traversable), or None when it is not installed."""
    try:
        return importlib.resources.files("vidrestore.weights")
    except ModuleNotFoundError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
