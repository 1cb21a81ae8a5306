"""Options every inpainting backend is built from: below the registry and the engine, so that
neither imports the other for the type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InpaintOptions:
    """Options shared by backends; classical backends ignore the model ones."""

    method: str = "gan"
    weights: str | None = None  # name in the packaged weights/ or a path; None = default model
    device: str = "auto"
    batch_size: int | None = None  # None = chosen from free memory
    precision: str = "auto"
    radius: int = 5  # classical backends' neighbourhood radius
    feather: int = 3  # GAN: seam band inside the mask edge; `fix` caps it at --dilate (CropSettings.feather)
    texture: float = 0.0  # 0..1: copied detail over invented pixels (see vidrestore.inpaint.texture); 0 = off
