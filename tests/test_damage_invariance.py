"""What lies under the mask is damage: no path of `fix` may carry any of it into the output.

Two copies of a clip differ only in the colour painted inside the holes; every repair path (per
frame or with temporal propagation, with the network enlarged or not) must give identical output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from clips import pattern_frame

from vidrestore import restore
from vidrestore.io.decode import read_image
from vidrestore.io.encode import write_image
from vidrestore.io.paths import list_images
from vidrestore.models import GeneratorConfig, build_generator, save_generator

CONFIG = GeneratorConfig("test", widths=(8, 16, 16), dilations=(1, 2), working_size=128)
FRAMES, HEIGHT, WIDTH = 8, 64, 96


def weights(tmp_path: Path, card: dict) -> Path:
    """A random generator that adds a little to its pre-fill, as a trained one does."""
    torch.manual_seed(0)
    model = build_generator(CONFIG)
    with torch.no_grad():
        torch.nn.init.normal_(model.to_residual.weight, std=0.02)
    return save_generator(model, tmp_path / "g.safetensors", card)


def holes() -> np.ndarray:
    """A blob-sized box moving right 3 px a frame, so neighbouring frames show what it hides."""
    masks = np.zeros((FRAMES, HEIGHT, WIDTH), bool)
    for t in range(FRAMES):
        masks[t, 20:44, 20 + 3 * t : 44 + 3 * t] = True
    return masks


def damaged_clip(folder: Path, colour: tuple[int, int, int]) -> None:
    folder.mkdir()
    for t, hole in enumerate(holes()):
        frame = pattern_frame(t, WIDTH, HEIGHT)
        frame[hole] = colour
        write_image(folder / f"{t:04d}.png", frame)


@pytest.mark.parametrize("temporal", [False, True])
@pytest.mark.parametrize("max_upscale", [1.0, 2.0])
@pytest.mark.parametrize("dilate", [0, 3])  # 0: the mask's edge touches the damage (no feather band then)
def test_the_colour_of_the_damage_never_reaches_the_output(
    tmp_path: Path, temporal: bool, max_upscale: float, dilate: int
) -> None:
    model = weights(tmp_path, {"small_windows": {"max_upscale": max_upscale}})
    masks = tmp_path / "masks"
    masks.mkdir()
    for t, hole in enumerate(holes()):
        write_image(masks / f"{t:04d}.png", np.repeat(hole[..., None].astype(np.uint8) * 255, 3, axis=-1))
    outputs = []
    for name, colour in (("blue", (20, 40, 250)), ("yellow", (250, 230, 10))):
        damaged_clip(tmp_path / name, colour)
        summary = restore(tmp_path / name, tmp_path / f"{name}-out", mask=masks, method="gan",
                          weights=str(model), dilate=dilate, temporal=temporal)
        assert (summary.propagated_fraction > 0) == temporal
        outputs.append(np.stack([read_image(p) for p in list_images(tmp_path / f"{name}-out")]))
    blue, yellow = outputs
    assert np.array_equal(blue, yellow), f"{np.count_nonzero(blue != yellow)} values depend on the damage"
