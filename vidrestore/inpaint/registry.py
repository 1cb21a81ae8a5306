"""Build an Inpainter from a method name: the one table of backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vidrestore.errors import OptionError
from vidrestore.inpaint.base import Inpainter
from vidrestore.inpaint.options import InpaintOptions

__all__ = ["METHODS", "InpaintOptions", "InpainterFactory", "create_inpainter"]

METHODS = ("gan", "telea", "ns", "checked")


# what builds a backend from its options: ``create_inpainter``, or a cache over it (batch workers)
InpainterFactory = Callable[[InpaintOptions], Inpainter]


def create_inpainter(options: InpaintOptions) -> Inpainter:
    """Return the backend named by ``options.method``; the GAN engine is imported only when asked for.
    With ``options.texture`` its fills get copied detail (vidrestore.inpaint.texture)."""
    if not 0.0 <= options.texture <= 1.0:
        raise OptionError(f"--texture must be between 0 and 1, got {options.texture}")
    if options.texture > 0:
        from vidrestore.inpaint.texture import TexturedInpainter

        return TexturedInpainter(create_inpainter(replace(options, texture=0.0)), options.texture)
    if options.method in ("telea", "ns"):
        from vidrestore.inpaint.classical import ClassicalInpainter

        return ClassicalInpainter(options.method, radius=options.radius)
    if options.method == "gan":
        from vidrestore.inpaint.engine import GanInpainter

        return GanInpainter.from_options(options)
    if options.method == "checked":
        from vidrestore.inpaint.checked import CheckedInpainter

        backends = [create_inpainter(replace(options, method=m)) for m in ("gan", "telea", "ns")]
        return CheckedInpainter(backends)
    raise OptionError(f"unknown --method {options.method!r}; choose one of {', '.join(METHODS)}")
