"""Build an Inpainter from a method name: the one table of backends."""

from __future__ import annotations

from dataclasses import dataclass

from vidrestore.errors import OptionError
from vidrestore.inpaint.base import Inpainter

METHODS = ("gan", "telea", "ns")


@dataclass(frozen=True)
class InpaintOptions:
    """Options shared by backends; classical backends ignore the model ones."""

    method: str = "gan"
    weights: str | None = None  # name in the packaged weights/ or a path; None = default model
    device: str = "auto"
    batch_size: int | None = None  # None = chosen from free memory
    precision: str = "fp32"
    radius: int = 5  # classical backends' neighbourhood radius
    feather: int = 3  # GAN: seam band inside the mask edge; `fix` caps it at --dilate (CropSettings.feather)


def create_inpainter(options: InpaintOptions) -> Inpainter:
    """Return the backend named by ``options.method``; the GAN engine is imported only when asked for."""
    if options.method in ("telea", "ns"):
        from vidrestore.inpaint.classical import ClassicalInpainter

        return ClassicalInpainter(options.method, radius=options.radius)
    if options.method == "gan":
        from vidrestore.inpaint.engine import GanInpainter

        return GanInpainter.from_options(options)
    raise OptionError(f"unknown --method {options.method!r}; choose one of {', '.join(METHODS)}")
