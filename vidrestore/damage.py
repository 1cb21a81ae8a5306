"""Mask and damage generators shared by training, detector tests, benchmarks and `vidrestore eval`.

``make_masks`` draws where damage is (bool (T, H, W), True = missing); ``render_damage`` paints
realistic damage of one kind onto clean uint8 RGB frames and returns the pixels it visibly changed.
Both take a ``numpy.random.Generator`` so that every figure computed on simulated damage is
reproducible from a seed.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

DAMAGE_KINDS = ("box", "logo", "blob", "brush", "scratch", "blotch")

#: a pixel counts as damaged when the damage changed one of its channels by more than this
VISIBLE_DELTA = 8


def make_masks(
    kind: str,
    n_frames: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    moving: bool | None = None,
) -> np.ndarray:
    """Masks of one damage kind, bool (T, H, W), True = missing.

    box: 1-2 random rectangles (GLCIC style), static unless ``moving``; logo: one static box of
    about 2 % of the frame near a corner or edge (always static); blob: object-size irregular
    blobs (3-8 % of the frame) moving smoothly unless ``moving=False``; brush: DeepFill-style
    free-form strokes, static unless ``moving``; scratch: thin (1-4 px) long near-vertical lines
    with small horizontal drift that flicker in and out; blotch: small (3-20 px) specks, each on
    one frame only. ``moving`` has no effect on logo, scratch and blotch.
    """
    if kind not in DAMAGE_KINDS:
        raise ValueError(f"unknown damage kind {kind!r}; expected one of {', '.join(DAMAGE_KINDS)}")
    if n_frames < 0 or height < 1 or width < 1:
        raise ValueError(f"bad mask shape ({n_frames}, {height}, {width})")
    shape = (n_frames, height, width)
    if n_frames == 0:
        return np.zeros(shape, dtype=bool)
    if kind == "box":
        return _box_masks(shape, rng, bool(moving))
    if kind == "logo":
        return _logo_masks(shape, rng)
    if kind == "blob":
        return _blob_masks(shape, rng, True if moving is None else moving)
    if kind == "brush":
        return _brush_masks(shape, rng, bool(moving))
    if kind == "scratch":
        return _scratch_masks(shape, rng)
    return _blotch_masks(shape, rng)


def render_damage(
    frames: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    masks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint damage of ``kind`` on clean uint8 (T, H, W, 3) frames -> (damaged frames, true masks).

    ``masks`` (bool (T, H, W)) says where the damage goes; drawn with ``make_masks`` when None.
    The returned mask covers every pixel whose value changed by more than ``VISIBLE_DELTA``
    levels; for box/blob/brush (holes for inpainting) it is the whole given mask, for logo it is
    the emblem's footprint (static over the clip), for scratch and blotch the visible change.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if masks is None:
        masks = make_masks(kind, t, h, w, rng)
    elif kind not in DAMAGE_KINDS:
        raise ValueError(f"unknown damage kind {kind!r}; expected one of {', '.join(DAMAGE_KINDS)}")
    if masks.shape != (t, h, w):
        raise ValueError(f"masks shape {masks.shape} does not match frames {frames.shape}")
    masks = masks.astype(bool, copy=False)
    if t == 0 or not masks.any():
        return frames.copy(), np.zeros((t, h, w), dtype=bool)

    if kind in ("box", "blob", "brush"):
        return _render_fill(frames, masks, rng), masks.copy()
    if kind == "logo":
        return _render_logo(frames, masks, rng)
    if kind == "scratch":
        alpha, target = _scratch_appearance(masks, rng)
    else:
        alpha, target = _blotch_appearance(masks, rng)
    damaged = _blend(frames, alpha, target)
    delta = np.abs(damaged.astype(np.int16) - frames.astype(np.int16)).max(axis=-1)
    return damaged, delta > VISIBLE_DELTA


# ---------------------------------------------------------------------------------------------
# mask geometry


def _smooth_path(n: int, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A smooth 1-D trajectory of length n: a linear drift plus one slow sine, within ±amplitude."""
    s = np.linspace(0.0, 1.0, n)
    drift = rng.uniform(-1, 1) * s
    wave = 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * s + rng.uniform(0, 2 * np.pi))
    path = drift + wave
    return amplitude * (path - path.mean()) / max(1.0, float(np.abs(path - path.mean()).max()))


def _shifted(mask: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Translate a 2-D bool mask by (dy, dx) pixels; what leaves the frame is lost."""
    h, w = mask.shape
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    out = cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return out.astype(bool)


def _animate(base: np.ndarray, n: int, rng: np.random.Generator, moving: bool, travel: float) -> np.ndarray:
    """Repeat a 2-D mask over n frames, translated along a smooth path when ``moving``."""
    if not moving or n == 1:
        return np.repeat(base[None], n, axis=0)
    h, w = base.shape
    ys = _smooth_path(n, rng, travel * h)
    xs = _smooth_path(n, rng, travel * w)
    return np.stack([_shifted(base, ys[i], xs[i]) for i in range(n)])


def _box_masks(shape: tuple[int, int, int], rng: np.random.Generator, moving: bool) -> np.ndarray:
    n, h, w = shape
    base = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(1, 3))):
        bh = max(1, int(h * rng.uniform(0.15, 0.45)))
        bw = max(1, int(w * rng.uniform(0.15, 0.45)))
        y = int(rng.integers(0, h - bh + 1))
        x = int(rng.integers(0, w - bw + 1))
        base[y : y + bh, x : x + bw] = True
    return _animate(base, n, rng, moving, 0.15)


def logo_box(height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y, x, box height, box width) of a broadcaster-logo box: ~2 % of the frame near an edge."""
    area = height * width * rng.uniform(0.015, 0.025)
    aspect = rng.uniform(1.2, 2.5)  # wider than tall
    bw = int(min(width * 0.5, np.sqrt(area * aspect)))
    bh = int(min(height * 0.5, area / max(bw, 1)))
    bw, bh = max(bw, 4), max(bh, 4)
    my = int(height * rng.uniform(0.03, 0.07))
    mx = int(width * rng.uniform(0.03, 0.07))
    place = rng.integers(0, 6)  # four corners, top or bottom centre
    y = my if place in (0, 1, 4) else height - bh - my
    if place in (0, 2):
        x = mx
    elif place in (1, 3):
        x = width - bw - mx
    else:
        x = (width - bw) // 2
    return max(0, y), max(0, x), min(bh, height), min(bw, width)


def _logo_masks(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    n, h, w = shape
    y, x, bh, bw = logo_box(h, w, rng)
    base = np.zeros((h, w), dtype=bool)
    base[y : y + bh, x : x + bw] = True
    return np.repeat(base[None], n, axis=0)


def _blob_shape(h: int, w: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """An irregular closed blob of about ``area`` pixels centred in an (h, w) canvas."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    radius = np.ones_like(angles)
    for k in range(2, 6):  # a few low harmonics make a lumpy, object-like outline
        radius += rng.uniform(0, 0.35 / k * 2) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(0.6, 1.6)
    pts = np.stack([radius * np.cos(angles) * stretch, radius * np.sin(angles) / stretch], axis=1)
    # polygon area by the shoelace formula, to scale the blob to the wanted size
    poly_area = 0.5 * abs(np.dot(pts[:, 0], np.roll(pts[:, 1], 1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], 1)))
    pts *= np.sqrt(area / max(poly_area, 1e-6))
    pts += (w / 2, h / 2)
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def _blob_masks(shape: tuple[int, int, int], rng: np.random.Generator, moving: bool) -> np.ndarray:
    n, h, w = shape
    out = np.zeros(shape, dtype=bool)
    count = int(rng.integers(1, 3))
    total = h * w * rng.uniform(0.03, 0.08)
    for _ in range(count):
        base = _blob_shape(h, w, total / count, rng)
        # start somewhere inside the frame, then drift smoothly
        dy = rng.uniform(-0.3, 0.3) * h
        dx = rng.uniform(-0.3, 0.3) * w
        base = _shifted(base, dy, dx)
        out |= _animate(base, n, rng, moving, 0.12)
    return out


def _brush_masks(shape: tuple[int, int, int], rng: np.random.Generator, moving: bool) -> np.ndarray:
    """DeepFill v2 free-form strokes: random walks of thick line segments with round joints."""
    n, h, w = shape
    side = min(h, w)
    canvas = np.zeros((h, w), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        width = max(1, int(side * rng.uniform(0.04, 0.12)))
        y, x = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(3, 10))):
            angle += rng.uniform(-np.pi / 3, np.pi / 3)
            length = side * rng.uniform(0.05, 0.25)
            ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
            nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
            cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 1, width)
            cv2.circle(canvas, (int(nx), int(ny)), width // 2, 1, -1)
            y, x = ny, nx
    return _animate(canvas.astype(bool), n, rng, moving, 0.08)


def _scratch_masks(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Long near-vertical lines, 1-4 px wide, drifting a little sideways and flickering."""
    n, h, w = shape
    out = np.zeros(shape, dtype=bool)
    rows = np.arange(h)
    for _ in range(int(rng.integers(1, 4))):
        width = int(rng.integers(1, 5))
        length = int(h * rng.uniform(0.6, 1.0))
        y0 = int(rng.integers(0, h - length + 1))
        x0 = rng.uniform(0.05, 0.95) * w
        slope = np.tan(np.deg2rad(rng.uniform(-2.0, 2.0)))  # DeScratch looks within a few degrees
        drift = np.cumsum(rng.normal(0.0, 0.4, n))  # a gate-weave-like random walk
        drift = np.clip(drift - drift[0], -0.03 * w, 0.03 * w)
        visible = _flicker(n, rng)
        for t in np.flatnonzero(visible):
            ys = rows[y0 : y0 + length]
            centre = x0 + drift[t] + slope * (ys - y0)
            left = np.round(centre - width / 2).astype(int)
            for k in range(width):
                cols = left + k
                ok = (cols >= 0) & (cols < w)
                out[t, ys[ok], cols[ok]] = True
    return out


def _flicker(n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame visibility: mostly on, switched off for short runs."""
    visible = np.ones(n, dtype=bool)
    t = 0
    p_off = rng.uniform(0.0, 0.15)
    while t < n:
        if rng.random() < p_off:
            run = int(rng.integers(1, 4))
            visible[t : t + run] = False
            t += run
        t += 1
    if not visible.any():
        visible[rng.integers(0, n)] = True
    return visible


def _blotch_masks(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Small irregular specks, each on one frame only and clear of the specks of nearby frames."""
    n, h, w = shape
    out = np.zeros(shape, dtype=bool)
    for t in range(n):
        for _ in range(int(rng.poisson(2.0))):
            size = rng.uniform(3, 20)
            half = int(np.ceil(size)) + 2
            cy = int(rng.integers(0, h))
            cx = int(rng.integers(0, w))
            y0, y1 = max(0, cy - half), min(h, cy + half + 1)
            x0, x1 = max(0, cx - half), min(w, cx + half + 1)
            if y1 - y0 < 2 or x1 - x0 < 2:
                continue
            # a temporal impulse: keep it away from specks two frames either side
            near = out[max(0, t - 2) : t + 3, max(0, y0 - 3) : y1 + 3, max(0, x0 - 3) : x1 + 3]
            if near.any():
                continue
            patch = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
            axes = (
                max(1, int(size / 2 * rng.uniform(0.5, 1.0))),
                max(1, int(size / 2 * rng.uniform(0.5, 1.0))),
            )
            centre = (cx - x0, cy - y0)
            cv2.ellipse(patch, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            # a second lobe makes it irregular, like a real blotch
            if size > 6 and rng.random() < 0.6:
                off = (int(rng.uniform(-1, 1) * axes[0]), int(rng.uniform(-1, 1) * axes[1]))
                small = (max(1, axes[0] // 2), max(1, axes[1] // 2))
                cv2.ellipse(patch, (centre[0] + off[0], centre[1] + off[1]), small, 0, 0, 360, 1, -1)
            out[t, y0:y1, x0:x1] |= patch.astype(bool)
    return out


# ---------------------------------------------------------------------------------------------
# appearance


def _blend(frames: np.ndarray, alpha: np.ndarray, target: np.ndarray) -> np.ndarray:
    """frames * (1 - alpha) + target * alpha; alpha (T, H, W), target (T, H, W) grey or (T, H, W, 3)."""
    f = frames.astype(np.float32)
    if target.ndim == 3:
        target = target[..., None]
    a = alpha[..., None]
    return np.clip(np.rint(f + a * (target - f)), 0, 255).astype(np.uint8)


def _render_fill(frames: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Holes filled with one flat colour, or a colour with noise, as inpainting training expects."""
    colour = rng.integers(0, 256, 3).astype(np.float32)
    fill = np.broadcast_to(colour, frames.shape).astype(np.float32)
    if rng.random() < 0.5:
        fill = fill + rng.normal(0, rng.uniform(10, 40), frames.shape).astype(np.float32)
    fill = np.clip(fill, 0, 255).astype(np.uint8)
    return np.where(masks[..., None], fill, frames)


def _scratch_appearance(masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Alpha with a soft across-width profile, bright or dark per scratch, flickering strength."""
    t, h, w = masks.shape
    alpha = np.zeros((t, h, w), dtype=np.float32)
    target = np.zeros((t, h, w), dtype=np.float32)
    # one scratch = one run of occupied columns over the whole clip (it drifts within its run)
    occupied = masks.any(axis=(0, 1))
    occupied = np.convolve(occupied, np.ones(5), mode="same") > 0  # room for the soft shoulders
    runs = _runs(occupied)
    column_strength = np.zeros(w, dtype=np.float32)
    column_level = np.zeros(w, dtype=np.float32)
    for a, b in runs:
        bright = rng.random() < 0.5
        column_level[a:b] = rng.uniform(215, 255) if bright else rng.uniform(0, 40)
        column_strength[a:b] = rng.uniform(0.55, 0.95)
    # strength varies slowly along the scratch and from frame to frame
    along = 1.0 - 0.3 * _smooth_noise(h, rng, 12)
    flicker = rng.uniform(0.7, 1.0, t).astype(np.float32)
    for i in range(t):
        if not masks[i].any():
            continue
        m = masks[i].astype(np.float32)
        # horizontal-only blur: peak in the middle of the line, soft one-pixel shoulders
        profile = cv2.GaussianBlur(m, (5, 1), sigmaX=0.8, sigmaY=0)
        a = np.clip(profile / 0.45, 0.0, 1.0)
        alpha[i] = a * column_strength[None, :] * along[:, None] * flicker[i]
        target[i] = column_level[None, :]
    return alpha, target


def _blotch_appearance(masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dark or bright specks with soft edges and their own grey level and grain."""
    t, h, w = masks.shape
    alpha = np.zeros((t, h, w), dtype=np.float32)
    target = np.zeros((t, h, w), dtype=np.float32)
    for i in range(t):
        if not masks[i].any():
            continue
        count, labels = cv2.connectedComponents(masks[i].astype(np.uint8), connectivity=8)
        u = rng.random(count)
        level = np.where(u < 0.65, rng.uniform(0, 60, count), rng.uniform(190, 255, count))
        level = np.where(u > 0.92, rng.uniform(0, 255, count), level).astype(np.float32)
        opacity = rng.uniform(0.75, 1.0, count).astype(np.float32)
        m = masks[i].astype(np.float32)
        soft = np.clip(cv2.GaussianBlur(m, (5, 5), 0.9) / 0.5, 0.0, 1.0)
        # spread each speck's label into its soft rim so the rim gets the speck's level
        grown = cv2.dilate(labels.astype(np.float32), np.ones((5, 5), np.uint8))
        lab = np.where(labels > 0, labels, grown.astype(np.int32))
        alpha[i] = soft * opacity[lab] * (lab > 0)
        target[i] = level[lab] + rng.normal(0, 6, (h, w)).astype(np.float32)
    return alpha, target


def _render_logo(
    frames: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A semi-transparent emblem (a plate with text-like strokes) inside the mask's bounding box."""
    t, h, w, _ = frames.shape
    region = masks.any(axis=0)
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    emblem = logo_emblem(int(y1 - y0), int(x1 - x0), rng)  # float alpha in [0, 1]
    alpha2d = np.zeros((h, w), dtype=np.float32)
    alpha2d[y0:y1, x0:x1] = emblem
    alpha2d *= region
    if rng.random() < 0.6:
        colour = np.array([255.0, 255.0, 255.0], dtype=np.float32)
    else:
        colour = rng.integers(0, 256, 3).astype(np.float32)
        colour[rng.integers(0, 3)] = 255.0  # saturated, not muddy
    f = frames.astype(np.float32)
    out = f + alpha2d[None, :, :, None] * (colour - f)
    damaged = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    # static truth: every pixel the emblem can change visibly, whatever lies behind it
    reach = alpha2d * np.maximum(colour, 255.0 - colour).max()
    true = np.repeat((reach > VISIBLE_DELTA)[None], t, axis=0)
    return damaged, true


def logo_emblem(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha map (height, width) of a logo: a rounded plate at alpha 0.3-0.7 with brighter letters."""
    scale = 4  # draw large, then shrink, for anti-aliased edges
    hh, ww = max(1, height * scale), max(1, width * scale)
    plate = np.zeros((hh, ww), dtype=np.uint8)
    shape = rng.integers(0, 3)
    if shape == 0:  # ellipse badge
        cv2.ellipse(plate, (ww // 2, hh // 2), (ww // 2 - scale, hh // 2 - scale), 0, 0, 360, 255, -1)
    else:  # rounded rectangle (a plain one when shape == 2)
        r = min(hh, ww) // (4 if shape == 1 else 20) + 1
        cv2.rectangle(plate, (r, scale), (ww - r - 1, hh - scale - 1), 255, -1)
        cv2.rectangle(plate, (scale, r), (ww - scale - 1, hh - r - 1), 255, -1)
        for cy in (r, hh - r - 1):
            for cx in (r, ww - r - 1):
                cv2.circle(plate, (cx, cy), r - scale + 1, 255, -1)
    letters = np.zeros_like(plate)
    text = "".join(rng.choice(list(string.ascii_uppercase + string.digits), int(rng.integers(2, 5))))
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, hh // 12)
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
    fs = min(0.7 * ww / max(tw, 1), 0.55 * hh / max(th, 1))
    thickness = max(1, int(thickness * fs**0.5))
    (tw, th), _ = cv2.getTextSize(text, font, fs, thickness)
    cv2.putText(letters, text, ((ww - tw) // 2, (hh + th) // 2), font, fs, 255, thickness, cv2.LINE_AA)
    base = rng.uniform(0.3, 0.7)
    alpha = plate.astype(np.float32) / 255.0 * base
    alpha = np.maximum(alpha, letters.astype(np.float32) / 255.0 * min(1.0, base + 0.3))
    return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D bool array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _smooth_noise(n: int, rng: np.random.Generator, knots: int) -> np.ndarray:
    """Smooth noise in [0, 1] of length n, interpolated between ``knots`` random values."""
    values = rng.random(knots + 1)
    return np.interp(np.linspace(0, knots, n), np.arange(knots + 1), values).astype(np.float32)
