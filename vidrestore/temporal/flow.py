"""Dense optical flow on clean frames, backward warping and the forward-backward occlusion test.

Flow arrays are float32 (H, W, 2) holding (dx, dy) in pixels: ``flow[y, x]`` says where pixel
(x, y) of ``frame_a`` is found in ``frame_b``. DIS (Kroeger et al. 2016) is used because it is
fast on the CPU and ships with OpenCV, so nothing has to be downloaded.
"""

from __future__ import annotations

import cv2
import numpy as np

#: DIS presets by use: the one place flow is set up. Each user keeps its own instance (DIS keeps
#: state between calls) and may tune it further for its frame size.
DIS_PRESETS = {
    "detect": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,  # blotch detection: every frame, a coarse grid suffices
    "propagate": cv2.DISOPTICAL_FLOW_PRESET_FAST,  # several pairs per frame; checked forward-backward
    "track": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,  # one pair per frame, an outline must follow closely
    "train": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,  # the temporal loss's reference flow (offline)
}


#: DIS crashes the process on images under 32 px high that are wider than about three times
#: their height (its pyramid depth follows the width only; OpenCV 4.x, measured on every preset)
DIS_MIN_SIDE = 32


def dis_flow(use: str) -> cv2.DISOpticalFlow:
    """A DIS optical flow instance set up for ``use`` (a key of ``DIS_PRESETS``)."""
    return cv2.DISOpticalFlow_create(DIS_PRESETS[use])


def dis_calc(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow from grey ``a`` to grey ``b`` (uint8 (H, W)) with ``dis``; images smaller than
    ``DIS_MIN_SIDE`` on a side are padded (edge pixels repeated) for DIS and the flow cropped
    back, so a short wide frame or crop is measured instead of crashing the process."""
    h, w = a.shape[:2]
    bottom, right = max(0, DIS_MIN_SIDE - h), max(0, DIS_MIN_SIDE - w)
    if not bottom and not right:
        return dis.calc(a, b, None)
    pad = (0, bottom, 0, right, cv2.BORDER_REPLICATE)
    flow = dis.calc(cv2.copyMakeBorder(a, *pad), cv2.copyMakeBorder(b, *pad), None)
    return flow[:h, :w]


def optical_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Flow from ``frame_a`` to ``frame_b`` (uint8 RGB or grey (H, W[, 3])) -> float32 (H, W, 2)."""
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames differ in shape: {frame_a.shape} vs {frame_b.shape}")
    grey_a, grey_b = _grey(frame_a), _grey(frame_b)
    return dis_calc(dis_flow("train"), grey_a, grey_b).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: ``out[y, x] = image[y + dy, x + dx]`` with bilinear sampling.

    With ``flow = optical_flow(b, a)`` this brings ``a`` onto the pixel grid of ``b``. Samples
    from outside the image repeat the border.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = grid_x + flow[..., 0]
    map_y = grid_y + flow[..., 1]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistent_flow_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, tolerance: float = 0.5,
                         box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """bool (H, W): True where the forward-backward check passes (pixel of a is visible in b).

    Uses the test of Sundaram et al. 2010: |f_ab + f_ba(x + f_ab)|^2 must stay below
    ``0.01 (|f_ab|^2 + |f_ba(x + f_ab)|^2) + tolerance``; pixels that leave the frame fail.
    With ``box`` (y0, y1, x0, x1) only that region is checked and everything else reads False.
    """
    h, w = flow_ab.shape[:2]
    y0, y1, x0, x1 = box if box is not None else (0, h, 0, w)
    y0, y1, x0, x1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
    ab = flow_ab[y0:y1, x0:x1]
    grid_x, grid_y = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    tx, ty = grid_x + ab[..., 0], grid_y + ab[..., 1]
    back = cv2.remap(flow_ba, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    total = ab + back
    err = (total**2).sum(axis=-1)
    bound = 0.01 * ((ab**2).sum(axis=-1) + (back**2).sum(axis=-1)) + tolerance
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    if box is None:
        return (err <= bound) & inside
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = (err <= bound) & inside
    return out


def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(frame, dtype=np.uint8)
