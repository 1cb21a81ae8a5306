"""Full training state on disk: written atomically, the last K kept, loaded with weights_only=True.

A checkpoint is a plain dict of tensors, numbers, strings and lists (RNG states converted to
tensors and lists), so ``torch.load(..., weights_only=True)`` can read it without unpickling code.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidrestore.errors import InputError

_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest step first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``state`` as ``step-NNNNNNNN.pt`` via a temporary file and rename, then prune to ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(folder, step)
    tmp = final.with_name(final.name + f".partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def resolve_resume(path: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint of a run folder (or of its checkpoints/)."""
    path = Path(path)
    if path.is_file():
        return path
    for folder in (path / "checkpoints", path):
        found = list_checkpoints(folder)
        if found:
            return found[-1]
    raise InputError(f"no checkpoint to resume from in {path}")


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc}") from None


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states in weights_only-loadable types."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
