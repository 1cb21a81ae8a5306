"""Inpainting networks and their weights files.

Only the generator and weights I/O are re-exported: inference imports this package, and the
discriminators (``vidrestore.models.discriminator``) are imported by training code explicitly.
"""

from __future__ import annotations

from vidrestore.models.generator import (
    GENERATOR_VARIANTS,
    GeneratorConfig,
    InpaintGenerator,
    build_generator,
    count_parameters,
)
from vidrestore.models.weights import default_weights_available, load_generator, save_generator

__all__ = [
    "GENERATOR_VARIANTS",
    "GeneratorConfig",
    "InpaintGenerator",
    "build_generator",
    "count_parameters",
    "default_weights_available",
    "load_generator",
    "save_generator",
]
