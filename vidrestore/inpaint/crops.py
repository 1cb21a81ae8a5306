"""Crop planning: which windows of which frames the generator sees, and which hole pixels each fills.

The network never runs on whole frames. Holes are grouped (holes closer than ``group_gap`` share a
window), each group gets context around it in proportion to its thickness (the largest distance from
a hole pixel to a known pixel, so a long thin scratch needs little context and a big blob a lot),
groups too large for the working size are either tiled (thin holes: tiles keep full resolution) or
downscaled (thick holes: the network needs to see the whole blob), and windows are grown with real
frame pixels to one of a few bucket shapes so that crops from many frames stack into one batch.

Every hole pixel of a frame is owned by exactly one crop; only owned pixels are pasted back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidrestore.geometry import margin_box
from vidrestore.models.generator import GeneratorConfig


@dataclass(frozen=True)
class CropSettings:
    """How windows are cut; ``for_model`` derives sizes from the generator's config."""

    working_size: int = 256  # longest side fed to the network; larger windows are downscaled
    stride: int = 16  # network input sides must be multiples of this (the defaults are the small model's)
    bucket_step: int = 32  # window sides are rounded up to multiples of this (fewer shapes, bigger batches)
    margin_ratio: float = 1.0  # context on each side, in units of the hole's half-thickness
    min_margin: int = 16  # context for the thinnest holes, in frame pixels
    group_gap: int = 32  # holes closer than this share a window (2 x min_margin: their windows overlap)
    max_extra_downscale: float = 1.5  # tile a group rather than shrink it more than this beyond its need
    # Width of the band inside the mask edge where fill and frame are blended, to hide the seam. The
    # band must hold clean pixels only: it may be no wider than the mask was grown (``fix --dilate``),
    # since the frame's pixels deeper in are the damage itself (see FixConfig / evaluate_generator).
    feather: int = 3
    # Groups of holes no thicker than this (largest distance to a known pixel, frame pixels) are
    # filled by OpenCV Telea instead of the network: 0 = never. Model cards set it where it was measured
    # that the network does not beat Telea on thin holes (see GanInpainter.from_options).
    classical_radius: float = 0.0
    # Network inputs smaller than the working size are enlarged by up to this factor before the
    # network and the fill shrunk back: a model that learned on frames scaled down to its crop can
    # fill a small window better at a larger scale (carphone's 176x144 frames). 1 = never; model
    # cards set it where it was measured (see GanInpainter.from_options, benchmarks/small_windows.py).
    max_upscale: float = 1.0

    def __post_init__(self) -> None:
        if self.bucket_step % self.stride or self.working_size % self.bucket_step:
            raise ValueError("bucket_step must be a multiple of stride and divide working_size")

    @classmethod
    def for_model(cls, config: GeneratorConfig, **overrides: int | float) -> CropSettings:
        step = max(config.stride, config.working_size // 8)
        values = {"working_size": config.working_size, "stride": config.stride, "bucket_step": step}
        return cls(**{**values, **overrides})  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Crop:
    """One network input: a frame window, how it is resized and padded, and the hole pixels it fills."""

    frame: int  # index into the batch of frames
    window: tuple[int, int, int, int]  # y0, y1, x0, x1 in frame pixels
    work_shape: tuple[int, int]  # (h, w) the window is resized to; equal to the window when not scaled
    bucket: tuple[int, int]  # (h, w) network input: work_shape padded at the bottom/right by edge pixels
    ys: np.ndarray  # owned hole pixels, frame coordinates (int32)
    xs: np.ndarray
    alpha: np.ndarray  # float32 weight of the network fill at each owned pixel (< 1 near the mask edge)
    classical: bool = False  # filled by OpenCV Telea, not the network (a thin group, see classical_radius)

    @property
    def window_shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.window
        return y1 - y0, x1 - x0

    @property
    def scaled(self) -> bool:
        return self.work_shape != self.window_shape


def plan_crops(masks: np.ndarray, settings: CropSettings, edges: np.ndarray | None = None) -> list[Crop]:
    """Crops for a batch of bool masks (N, H, W), True = missing. Frames without holes get none.

    ``edges`` (N, H, W), a superset of ``masks``: the holes whose border the feather band is measured
    from (see ``plan_frame``); None = the masks themselves.
    A frame whose mask equals the previous frame's (a static logo) reuses that plan.
    """
    crops: list[Crop] = []
    previous: tuple[np.ndarray, np.ndarray | None, list[Crop]] | None = None
    for index, mask in enumerate(masks):
        if not mask.any():
            continue
        edge = None if edges is None else edges[index]
        if (
            previous is not None
            and np.array_equal(previous[0], mask)
            and (edge is None or np.array_equal(previous[1], edge))
        ):
            plan = [replace(crop, frame=index) for crop in previous[2]]
        else:
            plan = plan_frame(mask, settings, index, edge)
        previous = (mask, edge, plan)
        crops.extend(plan)
    return crops


def plan_frame(
    mask: np.ndarray, settings: CropSettings, frame: int = 0, edge: np.ndarray | None = None
) -> list[Crop]:
    """Crops covering every hole pixel of one bool (H, W) mask exactly once.

    The feather band lies along the border of ``edge`` (default: ``mask``), where the frame holds
    clean pixels. After temporal propagation the mask is what is left of the user's (grown) holes,
    and its border with the propagated pixels runs through the damage itself: blending the fill
    with the frame there would paint the damage back in, so the band follows the user's holes.
    """
    height, width = mask.shape
    # Work on the holes' bounding box plus a ring of known pixels: the cost follows the holes, not the frame.
    box = margin_box(mask, settings.group_gap + 1)
    if box is None:
        return []
    oy, y1, ox, x1 = box
    sub = mask[oy:y1, ox:x1]
    sub8 = sub.astype(np.uint8)
    # Distance from each hole pixel to the nearest known pixel (FLT_MAX when nothing is known).
    dist = np.minimum(cv2.distanceTransform(sub8, cv2.DIST_L2, 5), float(max(height, width)))
    grouping = sub8
    if settings.group_gap > 0:
        grouping = cv2.dilate(sub8, np.ones((settings.group_gap + 1,) * 2, np.uint8))
    _, labels = cv2.connectedComponents(grouping, connectivity=8)
    hy, hx = np.nonzero(sub)
    group_of = labels[hy, hx]
    order = np.argsort(group_of, kind="stable")
    splits = np.flatnonzero(np.diff(group_of[order])) + 1
    # 1/feather, 2/feather, ... 1 from the edge in: a pixel deeper than ``feather`` (the damage, in a mask
    # grown by at least that much: none of it is closer) is all fill
    if settings.feather > 0:
        seam = dist
        if edge is not None:
            edge8 = edge[oy : oy + sub.shape[0], ox : ox + sub.shape[1]].astype(np.uint8) | sub8
            seam = cv2.distanceTransform(edge8, cv2.DIST_L2, 5)
        alpha = np.clip(seam[hy, hx] / settings.feather, 0.0, 1.0).astype(np.float32)
    else:
        alpha = np.ones(hy.size, np.float32)
    crops: list[Crop] = []
    for members in np.split(order, splits):
        ys, xs = (hy[members] + oy).astype(np.int32), (hx[members] + ox).astype(np.int32)
        radius = float(dist[hy[members], hx[members]].max())  # half the thickness of the thickest hole
        crops.extend(_plan_group(ys, xs, alpha[members], radius, (height, width), settings, frame))
    return crops


def _plan_group(
    ys: np.ndarray,
    xs: np.ndarray,
    alpha: np.ndarray,
    radius: float,
    frame_shape: tuple[int, int],
    s: CropSettings,
    frame: int,
) -> list[Crop]:
    """One crop for a compact group of holes; tiles of working size for a long thin one."""
    classical = radius <= s.classical_radius
    if classical:  # Telea grows from the hole's border, so it has no seam to hide: no feathering
        alpha = np.ones_like(alpha)
    margin = max(s.min_margin, math.ceil(s.margin_ratio * radius))
    # The network must see a whole "thickness + context" span; wider than the working size -> downscale.
    scale = max(1.0, (2 * radius + 2 * margin) / s.working_size)
    height, width = frame_shape
    one_window = max(
        min(int(ys.max() - ys.min()) + 1 + 2 * margin, height),
        min(int(xs.max() - xs.min()) + 1 + 2 * margin, width),
    )
    # A classical fill is never downscaled: Telea is cheap at full resolution, and sharper.
    extra = 1.0 if classical else s.max_extra_downscale
    if one_window <= s.working_size * scale * extra:
        core = max(height, width)  # one window, shrunk a little if needed
    else:  # long thin holes (scratches): tiles at the scale the thickness needs, not one tiny shrunk strip
        core = max(1, math.floor(s.working_size * scale) - 2 * margin)
    y_cuts = _cuts(int(ys.min()), int(ys.max()) + 1, core)
    x_cuts = _cuts(int(xs.min()), int(xs.max()) + 1, core)
    tile = np.searchsorted(y_cuts, ys, side="right") * (len(x_cuts) + 1) + np.searchsorted(
        x_cuts, xs, side="right"
    )
    order = np.argsort(tile, kind="stable")
    splits = np.flatnonzero(np.diff(tile[order])) + 1
    crops = []
    for members in np.split(order, splits):
        ty, tx = ys[members], xs[members]
        window, work, bucket = _fit_window(
            (int(ty.min()), int(ty.max()) + 1, int(tx.min()), int(tx.max()) + 1), margin, frame_shape, s
        )
        crops.append(Crop(frame, window, work, bucket, ty, tx, alpha[members], classical))
    return crops


def _cuts(start: int, stop: int, core: int) -> np.ndarray:
    """Interior cut points splitting [start, stop) into equal tiles no longer than ``core``."""
    n = max(1, math.ceil((stop - start) / core))
    return np.linspace(start, stop, n + 1).round().astype(np.int64)[1:-1]


def _fit_window(
    core: tuple[int, int, int, int], margin: int, frame_shape: tuple[int, int], s: CropSettings
) -> tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int]]:
    """Window = core + margin, grown with real pixels to a bucket shape; returns (window, work, bucket)."""
    y0, y1, x0, x1 = core
    need = (
        (max(y0 - margin, 0), min(y1 + margin, frame_shape[0])),
        (max(x0 - margin, 0), min(x1 + margin, frame_shape[1])),
    )
    scale = max(1.0, max(b - a for a, b in need) / s.working_size)
    window: list[int] = []
    work: list[int] = []
    bucket: list[int] = []
    for (a, b), limit in zip(need, frame_shape, strict=True):
        side = min(s.working_size, -(-math.ceil((b - a) / scale) // s.bucket_step) * s.bucket_step)
        grown = min(limit, round(side * scale))
        lo, hi = max(b - grown, 0), min(a, limit - grown)  # starts that keep [a, b) inside the frame
        start = min(max(round((a + b - grown) / 2), lo), hi)
        if scale == 1.0:
            start = _align(start, lo, hi, s.stride)
        window += [start, start + grown]
        work.append(side if grown == round(side * scale) else min(side, max(1, round(grown / scale))))
        bucket.append(side)
    return (window[0], window[1], window[2], window[3]), (work[0], work[1]), (bucket[0], bucket[1])


def _align(start: int, lo: int, hi: int, stride: int) -> int:
    """The multiple of ``stride`` in [lo, hi] nearest ``start`` (else of stride/2, ...).

    On the stride grid of a whole-frame run, the network and its pre-fill see exactly what they
    would see in that run; when the window has too little slack, the coarsest grid that fits is next best.
    """
    step = stride
    while step > 1:
        down = start - start % step
        for candidate in sorted((down, down + step), key=lambda c: abs(c - start)):
            if lo <= candidate <= hi:
                return candidate
        step //= 2
    return start
