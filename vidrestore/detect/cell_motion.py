"""Motion on a coarse grid of cells: the blotch detector's summary of DIS flow, robust to the specks
it looks for (a median over 40 px outvotes the flow a speck disturbs)."""

from __future__ import annotations

import cv2
import numpy as np

#: motion is summarised on cells of this many full-resolution pixels
CELL = 8


def global_shift(flow: np.ndarray) -> tuple[int, int]:
    """The median of ``flow`` in whole pixels, (dx, dy), from every third cell (plenty for a
    median, and a tenth of the work)."""
    sample = flow[1::3, 1::3] if min(flow.shape[:2]) >= 6 else flow
    dx, dy = np.median(sample.reshape(-1, 2), axis=0).tolist()
    return int(round(dx)), int(round(dy))


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average ``image`` down to (width, height), halving exactly while it can: OpenCV's
    2x area reduction is an order of magnitude faster than a general one."""
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        h, w = image.shape[:2]
        image = cv2.resize(image[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def robust_flow(flow: np.ndarray, coarse: tuple[int, int], scale: float) -> np.ndarray:
    """Flow averaged onto the coarse grid, median-filtered over 5x5 cells, in full-res pixels.

    The median over 40 px lets the motion of the surroundings outvote the flow disturbed by a
    speck (which DIS tries to match to something).
    """
    f = area_average(flow, coarse) * np.float32(scale)
    if min(coarse) >= 5:
        # in 1/16 px fixed point: OpenCV's 5x5 median is several times faster on 16-bit
        # integers than on floats; flows beyond +-2000 px do not occur
        fixed = np.clip(f * 16.0 + 32768.0, 0, 65535).astype(np.uint16)
        f = (cv2.medianBlur(fixed, 5).astype(np.float32) - 32768.0) * np.float32(1 / 16)
    return f


def follow_cells(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``field`` (coarse grid) read where ``flow`` (full-res px, same grid) leads each cell."""
    # one two-channel map (x, y): two whole-array operations instead of four on strided views
    where = cv2.scaleAdd(flow, 1 / CELL, _cell_grid(*flow.shape[:2]))
    return cv2.remap(field, where, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _cell_grid(gh: int, gw: int) -> np.ndarray:
    """The (gh, gw, 2) float32 coordinates (x, y) of each cell of the coarse grid."""
    if (gh, gw) not in _GRIDS:
        gx, gy = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        _GRIDS[(gh, gw)] = np.dstack([gx, gy])
    return _GRIDS[(gh, gw)]


def area_average(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` area-averaged to ``size`` (width, height); as it is when already that size (the
    flow input of 720p frames is the coarse grid's size), without OpenCV's copy."""
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def typical_error(error: np.ndarray, coarse: tuple[int, int]) -> np.ndarray:
    """Median compensation error over 5x5 cells (40 px) around each cell: larger than a speck."""
    e = area_average(error, coarse)
    return cv2.medianBlur(e, 5) if min(coarse) >= 5 else np.full_like(e, np.median(e))
