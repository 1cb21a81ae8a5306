"""Shared fixtures: small synthetic clips with audio and matching masks, made fresh per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from clips import box_mask, make_clip, write_mask  # noqa: E402

W, H, N = 64, 48, 12
LOGO_BOX = (40, 4, 60, 16)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 64x48, 12-frame, 25 fps H.264 clip with an AAC sine track."""
    path = tmp_path / "clip.mp4"
    make_clip(path, frames=N, width=W, height=H)
    return path


@pytest.fixture
def logo_mask(tmp_path: Path) -> Path:
    """One static mask image (a logo-sized box) for every frame of ``clip``."""
    path = tmp_path / "logo.png"
    write_mask(path, box_mask(W, H, LOGO_BOX))
    return path


@pytest.fixture
def mask_folder(tmp_path: Path) -> Path:
    """One mask per frame of ``clip``: a box that moves, and an empty mask on frame 3."""
    folder = tmp_path / "masks"
    folder.mkdir()
    for i in range(N):
        mask = box_mask(W, H, (4 + i, 20, 14 + i, 30)) if i != 3 else box_mask(W, H, (0, 0, 0, 0))
        write_mask(folder / f"mask{i}.png", mask)
    return folder
