"""Seeing through a static semi-transparent logo: undone where it can be told, refused elsewhere."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidrestore.api import restore
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.io.decode import read_image
from vidrestore.io.encode import write_image
from vidrestore.io.paths import list_images
from vidrestore.metrics import psnr
from vidrestore.temporal import see_through as see_through_module
from vidrestore.temporal.overlay import estimate_overlay, keep_detail
from vidrestore.temporal.see_through import SeeThrough, probe_overlays

H, W, T = 72, 96, 24
BOX = (20, 50, 30, 70)  # y0, y1, x0, x1


def scenery(frames: int = T, seed: int = 0) -> np.ndarray:
    """A textured scene panning 2 px a frame: what moves under a static logo."""
    rng = np.random.default_rng(seed)
    wide = cv2.GaussianBlur(rng.uniform(0, 255, (H, W + 2 * frames, 3)).astype(np.float32), (0, 0), 2.0)
    wide = (wide - wide.mean()) * 2.5 + 110
    return np.stack([np.clip(wide[:, 2 * t : 2 * t + W], 0, 255).astype(np.uint8) for t in range(frames)])


def logo_alpha(plate: float, letters: float | None = None) -> np.ndarray:
    """A plate over BOX, with a bar of letters more opaque than the plate."""
    alpha = np.zeros((H, W), np.float32)
    y0, y1, x0, x1 = BOX
    alpha[y0:y1, x0:x1] = plate
    if letters is not None:
        alpha[y0 + 10 : y0 + 18, x0 + 6 : x1 - 6] = letters
    return alpha


def blend(truth: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int] = (250, 250, 250)) -> np.ndarray:
    a = alpha[None, ..., None]
    return np.clip(np.rint((1 - a) * truth + a * np.array(colour, np.float32)), 0, 255).astype(np.uint8)


def box_hole() -> np.ndarray:
    hole = np.zeros((H, W), bool)
    y0, y1, x0, x1 = BOX
    hole[y0:y1, x0:x1] = True
    return hole


def estimate(observed: np.ndarray):  # noqa: ANN201 - Overlay | None
    hole = box_hole()
    fill = ClassicalInpainter("telea").inpaint(observed, np.broadcast_to(hole, observed.shape[:3]))
    return estimate_overlay(observed, hole, fill)


def undo_all(observed: np.ndarray, overlay) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Every frame with the overlay undone, and what is left of the box."""
    out = observed.copy()
    y0, y1, x0, x1 = overlay.box
    for frame in out:
        crop, seen = overlay.undo(frame, box_hole())
        frame[y0:y1, x0:x1][seen] = crop[seen]
    left = box_hole().copy()
    left[y0:y1, x0:x1] &= ~seen
    return out, np.broadcast_to(left, observed.shape[:3])


def test_a_semi_transparent_plate_with_letters_is_undone_close_to_the_truth() -> None:
    truth = scenery()
    observed = blend(truth, logo_alpha(0.5, 0.8))
    overlay = estimate(observed)
    assert overlay is not None
    out, left = undo_all(observed, overlay)
    holes = np.broadcast_to(box_hole(), truth.shape[:3])
    telea = ClassicalInpainter("telea").inpaint(observed, holes)
    assert psnr(truth, out, holes & ~left) > 32  # what was seen through is the truth
    assert psnr(truth, out, holes & ~left) > psnr(truth, telea, holes & ~left) + 8
    assert (~left[0] & box_hole()).sum() > 0.8 * box_hole().sum()  # most of the box was seen through
    assert np.array_equal(out[~holes], observed[~holes])  # nothing outside the hole moved


def test_a_mask_grown_around_the_logo_is_still_seen_through() -> None:
    """A box drawn generously around the logo, or ``--dilate``, adds a band of clear pixels around
    it (here more than half the hole, with the letters): no reason to refuse it."""
    observed = blend(scenery(), logo_alpha(0.5, 0.8))
    y0, y1, x0, x1 = BOX
    hole = np.zeros((H, W), bool)
    hole[y0 - 6 : y1 + 6, x0 - 6 : x1 + 6] = True
    fill = ClassicalInpainter("telea").inpaint(observed, np.broadcast_to(hole, observed.shape[:3]))
    overlay = estimate_overlay(observed, hole, fill)
    assert overlay is not None
    assert overlay.see[y0:y1, x0:x1].mean() > 0.8


def test_an_opaque_logo_is_refused() -> None:
    assert estimate(blend(scenery(), logo_alpha(1.0))) is None


def test_a_light_logo_over_a_light_scene_is_refused() -> None:
    """Where the logo's colour is the scene's, its opacity cannot be told: inverting amplifies noise."""
    truth = np.clip(scenery().astype(np.int16) // 8 + 225, 0, 255).astype(np.uint8)
    assert estimate(blend(truth, logo_alpha(0.5))) is None


def test_a_static_object_under_a_box_is_not_taken_for_a_logo() -> None:
    """Removing a still object with a box must not bring the object back."""
    truth = scenery()
    rng = np.random.default_rng(3)
    thing = cv2.GaussianBlur(rng.uniform(0, 255, (30, 40, 3)).astype(np.float32), (0, 0), 1.5)
    observed = truth.copy()
    y0, y1, x0, x1 = BOX
    observed[:, y0:y1, x0:x1] = np.clip((thing - thing.mean()) * 3 + 90, 0, 255).astype(np.uint8)
    assert estimate(observed) is None


def test_the_probe_reads_only_the_hole_masked_in_every_frame() -> None:
    truth = scenery()
    observed = blend(truth, logo_alpha(0.5))
    masks = np.broadcast_to(box_hole(), observed.shape[:3]).copy()
    masks[::3, 5:15, 5:15] = True  # damage that comes and goes is no logo
    overlays = probe_overlays(lambda: zip(observed, masks, strict=True))
    assert len(overlays) == 1
    assert overlays[0].box[0] <= BOX[0] and overlays[0].box[1] >= BOX[1]
    assert not probe_overlays(lambda: zip(observed[:5], masks[:5], strict=True))  # too few frames


def test_a_mask_too_large_to_keep_crops_of_gives_the_same_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the first mask is large, the frames are read again for the static hole's crops only."""
    observed = blend(scenery(), logo_alpha(0.5))
    masks = np.broadcast_to(box_hole(), observed.shape[:3]).copy()
    masks[0] = True  # a first frame masked all over: the static hole is known only at the end
    calls: list[int] = []

    def pairs():  # noqa: ANN202
        calls.append(1)
        return zip(observed, masks, strict=True)

    kept = probe_overlays(pairs)
    assert len(calls) == 1
    monkeypatch.setattr(see_through_module, "KEEP_BYTES", 0)
    again = probe_overlays(pairs)
    assert len(calls) == 3
    assert len(kept) == len(again) == 1
    assert kept[0].box == again[0].box and np.array_equal(kept[0].see, again[0].see)
    assert np.allclose(kept[0].alpha, again[0].alpha) and np.allclose(kept[0].colour, again[0].colour)


def _folder(path: Path, frames: np.ndarray) -> Path:
    path.mkdir()
    for i, frame in enumerate(frames):
        write_image(path / f"{i:04d}.png", frame)
    return path


def test_fix_sees_through_a_logo_box_unless_told_not_to(tmp_path: Path) -> None:
    truth = scenery()
    observed = blend(truth, logo_alpha(0.5))
    source = _folder(tmp_path / "in", observed)
    y0, y1, x0, x1 = BOX
    holes = np.broadcast_to(box_hole(), truth.shape[:3])
    results = {}
    for see_through in (None, False):
        output = tmp_path / f"out-{see_through}"
        summary = restore(source, output, box=f"{x0},{y0},{x1 - x0},{y1 - y0}", method="telea",
                          see_through=see_through)
        out = np.stack([read_image(p) for p in list_images(output)])
        assert np.array_equal(out[~holes], observed[~holes])  # only the box changes
        results[see_through] = (summary, psnr(truth, out, holes))
    seen, score = results[None]
    assert seen.seen_through_fraction > 0.8 * box_hole().mean()
    assert "seen through" in seen.line()
    filled, filled_score = results[False]
    assert filled.seen_through_fraction == 0 and "seen through" not in filled.line()
    assert score > 32 and score > filled_score + 2


def test_the_fill_gives_the_level_and_the_frames_give_the_detail() -> None:
    """A see-through whose plate is off by a constant (a colour slightly wrong) and a smeared fill:
    together, region by region, they are closer to the truth than either, and the plate's edge
    leaves no step."""
    truth = scenery(1)[0].astype(np.float32)
    regions = np.zeros(truth.shape[:2], np.int8)
    regions[20:50, 30:70] = 1  # the plate
    seen_through = truth + np.where(regions[..., None] == 1, 25.0, 0.0)
    smear = truth.copy()
    smear[regions == 1] = cv2.GaussianBlur(truth, (0, 0), 8)[regions == 1]
    both = keep_detail(smear, seen_through, regions)
    plate = regions == 1

    def error(x: np.ndarray) -> float:
        return float(np.abs(x - truth)[plate].mean())

    assert error(both) < 0.5 * min(error(seen_through), error(smear))
    ring = plate & ~cv2.erode(plate.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(both - truth)[ring].mean() < 0.5 * error(smear)  # no step along the edge


def test_an_opaque_box_of_any_colour_never_reaches_the_output(tmp_path: Path) -> None:
    """What an opaque static logo hides is damage: two clips that differ only in its colour give
    the same frames (the see-through is refused for both)."""
    truth = scenery()
    y0, y1, x0, x1 = BOX
    outputs = []
    for colour in ((250, 250, 250), (20, 140, 60)):
        observed = truth.copy()
        observed[:, y0:y1, x0:x1] = colour
        source = _folder(tmp_path / f"in-{colour[1]}", observed)
        summary = restore(source, tmp_path / f"out-{colour[1]}", box=f"{x0},{y0},{x1 - x0},{y1 - y0}",
                          method="telea")
        assert summary.seen_through_fraction == 0
        outputs.append(np.stack([read_image(p) for p in list_images(tmp_path / f"out-{colour[1]}")]))
    assert np.array_equal(outputs[0], outputs[1])


def test_a_nearly_opaque_plate_is_refused() -> None:
    """Undoing a plate at 0.85 would multiply the picture's noise by almost 7: fill it instead."""
    assert estimate(blend(scenery(), logo_alpha(0.85))) is None


def test_an_early_box_elsewhere_does_not_hide_the_logo_that_follows() -> None:
    """A box in a time range before the logo shares no pixel with it: the probe starts again."""
    observed = blend(scenery(30), logo_alpha(0.5))
    masks = np.zeros(observed.shape[:3], bool)
    masks[:4, 60:70, 2:12] = True  # a box on the first frames only
    masks[6:] |= box_hole()  # the logo's mask from frame 6
    overlays = probe_overlays(lambda: zip(observed, masks, strict=True))
    assert len(overlays) == 1 and overlays[0].box[0] <= BOX[0]


def test_a_static_hole_too_large_to_estimate_is_filled_as_usual(monkeypatch: pytest.MonkeyPatch) -> None:
    observed = blend(scenery(), logo_alpha(0.5))
    masks = np.broadcast_to(box_hole(), observed.shape[:3])
    monkeypatch.setattr(see_through_module, "MAX_PIXELS", box_hole().sum() - 1)
    assert probe_overlays(lambda: zip(observed, masks, strict=True)) == []


def test_the_logo_is_observed_before_the_detector_adds_its_finds() -> None:
    """A scratch the detector finds inside the logo is damage: the observer must not see it."""
    from vidrestore.job import StageTable
    from vidrestore.pipeline import InpaintHoles

    overlay = estimate(blend(scenery(), logo_alpha(0.5)))
    see_through, detector, inpaint = SeeThrough([overlay]), object(), InpaintHoles(None)  # type: ignore[arg-type]
    chain = StageTable(inpaint, None, detector, see_through).chain()  # type: ignore[arg-type]
    assert chain.index(see_through.observer) < chain.index(detector) < chain.index(see_through)
