"""Dust and blotch detection: pixels that are temporal impulses after motion compensation.

A blotch lives on one frame: the pixel differs from both the previous and the next frame in the
same direction (the spike detection index, SDI, Kokaram 1998), while the previous and the next
frame agree with each other once motion is compensated. Motion comes from DIS optical flow on a
downscaled luma, summarised on a coarse grid of 8-pixel cells; only the few candidate pixels that
pass an uncompensated SDI test are checked against their motion-compensated neighbours at full
resolution, which keeps the detector fast.

Safeguards against flagging real content:

- the compensated test compares with the min/max of a 3x3 neighbourhood (sub-pixel motion);
- the spike must stand well above the compensation error typical of its surroundings
  (regions where the flow failed, such as fast thin objects, have a large typical error);
- forward and backward flow must agree (occlusion) and the flow must be smooth around the
  speck (motion boundaries);
- the previous and next frame must agree with each other where the spike is;
- detections must group into speck-sized clusters;
- frames next to a scene cut (the project's cut test, ``vidrestore.temporal.scenecut``) or next to
  a frame that motion compensation cannot explain (too fast, a flash), and the first and last
  frames, are checked from the two frames on their other side only, more strictly, and a speck
  there must sit on ground the references show too (``drop_uncovered_specks``); a frame with no
  usable pair on either side is left alone, as is a frame where a large share of pixels spike at
  once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidrestore.detect.cell_motion import CELL, follow_cells, global_shift, robust_flow, shrink, typical_error
from vidrestore.detect.lookahead import LookaheadDecisions
from vidrestore.detect.spikes import (
    LumaFrame,
    Specks,
    drop_graded_specks,
    drop_moving_specks,
    drop_uncovered_specks,
    neighbourhood_range,
    speck_clusters,
    spike_candidates_screened,
)
from vidrestore.temporal.flow import dis_calc, dis_flow
from vidrestore.temporal.scenecut import is_cut, thumbnail

#: flow is computed on a luma no wider than this (DIS ultrafast at 320 px costs ~0.3 ms)
FLOW_WIDTH = 320
#: frames at least this wide (720p and up) give DIS a flow input half as wide (160 px) and let it
#: stop one pyramid level earlier: the flow comes from the same level (80 px wide) as on a 320 px
#: input, for about half the cost of the motion stage; see ``_coarse_flow``
COARSE_FLOW_FRAME_WIDTH = 1280
#: on the coarser flow input, compensation errors are read on 8x8 instead of 4x4 pixel blocks,
#: which averages them down: they are scaled by this to keep the thresholds (cut, fit) in step.
#: Measured on bigbuckbunny blotches: recall / precision 0.915 / 0.834, clean 0.0050% flagged
#: (without the scaling 0.921 / 0.766; with the 320 px input 0.917 / 0.838, 0.0049%)
COARSE_ERROR_SCALE = 1.5


@dataclass(frozen=True)
class BlotchSettings:
    """Thresholds in 8-bit luma levels, sizes in full-resolution pixels."""

    spike: float = 10.0  # the pixel must stand out from both neighbours by this much
    agree_margin: float = 14.0  # compensated neighbours may disagree by at most this
    fit_ratio: float = 4.0  # the spike must exceed the local compensation error this many times
    flow_spread: float = 4.0  # flow may vary this much (px) around a speck: no motion boundary
    consistency: float = 6.0  # forward-backward flow error allowed (px)
    max_size: int = 40  # clusters wider or taller than this are not dust
    min_pixels: int = 3  # smaller clusters are noise
    max_flagged: float = 0.02  # more spikes than this share of the frame: a flash
    # share of pixels motion compensation leaves badly matched (error over 30 levels) that makes
    # two frames unusable as each other's reference: motion too fast to follow, a flash, a cut
    unexplained_fraction: float = 0.3
    # a speck whose patch is found again nearby in both reference frames, this many times closer
    # than where the global motion puts it, is moving content (a foot, a hand), not dust; 0: no
    # search (tuning seeds 10-11: blotch precision on Big Buck Bunny 0.83 -> 0.96, vtest 0.62 ->
    # 0.66 at the same recall; ratios 2 and 4 measured too, docs/experiments.md)
    moved_ratio: float = 3.0
    search: float = 1 / 48  # how far that search looks, as a share of the frame width
    # a speck whose patch is this many times nearer to the frames one away than to those two
    # away, or the other way round, is content changing by degrees (a foot mid-stride, sky
    # flickering through leaves), not dust, which is as foreign to both; 0: no test
    graded: float = 1.2
    # frames at the ends of the clip and next to a cut have references on one side only (the two
    # frames on that side); they are checked more strictly, and, since from one side ground that
    # an object uncovers looks like a speck, the ground around a speck must look the same in
    # those references: differ by at most ``one_sided_ring`` times the speck's own difference
    # (root mean square; 0: no such test). Off: such frames are not checked. Tuning seeds 10-12,
    # recall (blotch precision and clean-frame flags unchanged within 0.002): Big Buck Bunny 0.914
    # -> 0.922, carphone 0.874 -> 0.881, vtest 0.924 -> 0.933, tree 0.795 -> 0.802; without the
    # ring test synthetic pans with a fast object get false specks on their first or last frames
    one_sided: bool = True
    one_sided_ring: float = 0.25
    # candidates where the flow fails its checks (forward-backward, smoothness) are not dropped
    # outright: grouped into specks, each is kept when the ground around it is found again in
    # both references, within ``unsure_radius`` of the frame width of where the motion leads,
    # differing there by less than this share of the speck's own difference (the test above);
    # 0: dropped. Tuning seeds 10-12, recall: vtest 0.933 -> 0.947, Big Buck Bunny 0.922 ->
    # 0.926, tree 0.802 -> 0.809, carphone 0.881 (precision within 0.003, clean flags within
    # 0.0003%); 0.35 and twice the radius measured too (docs/experiments.md)
    unsure_ring: float = 0.25
    unsure_radius: float = 1 / 48

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> BlotchSettings:
        """Higher sensitivity lowers the contrast a blotch needs; 1.0 is the default."""
        s = max(float(sensitivity), 1e-3)
        return cls(spike=10.0 / s, fit_ratio=4.0 / s)


@dataclass
class _Motion:
    """Motion from one frame to another, on the coarse grid (values in full-res pixels)."""

    flow: np.ndarray  # (gh, gw, 2) robust (median) displacement, x then y
    consistent: np.ndarray  # (gh, gw) bool: the reverse flow leads back home
    spread: np.ndarray  # (gh, gw) range of the flow around each cell (px): motion boundaries
    fit: np.ndarray  # (gh, gw) typical compensation error around each cell, luma levels


#: what ``_link`` finds for a pair of frames (p, p + 1): whether they cannot serve as each other's
#: reference (a scene cut, or motion compensation failed), motion p -> p + 1, motion p + 1 -> p
_Link = tuple[bool, _Motion, _Motion]
#: what ``prepare`` gives for a frame: half-size luma, flow-size luma, link with the frame before
_Prepared = tuple[np.ndarray, np.ndarray, _Link | None]


class BlotchDetector(LookaheadDecisions):
    """Streaming blotch detector: push luma frames in order, get (position, mask) back.

    Frame t is decided once frame t+2 is in (``lookahead`` = 2): from t-1 and t+1; the first
    and last frames and frames next to a scene cut only with ``settings.one_sided``, from the
    two frames on their side.
    """

    kind = "blotch"
    prepare_in_order = True
    lookahead = 2
    # The decision for frame t reads frames t-2 .. t+2 and the motion between them, nothing
    # older: a fresh detector fed from frame s decides every frame from s + 2 on exactly as one
    # fed from the start. The stage relies on it to hand the stream over to a worker process.
    support = 2

    def __init__(self, sensitivity: float = 1.0, settings: BlotchSettings | None = None) -> None:
        self.settings = settings or BlotchSettings.from_sensitivity(sensitivity)
        self._frames: deque[LumaFrame] = deque(maxlen=5)
        self._motion: dict[tuple[int, int], _Motion] = {}
        self._apart: dict[int, bool] = {}  # position p -> p and p + 1 cannot be each other's reference
        self._dis: cv2.DISOpticalFlow | None = None  # set up for the frame size on first use
        self._grid: np.ndarray | None = None  # (h, w, 2) pixel coordinates of the flow grid
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # flow-size luma and thumbnail last prepared
        self._count = 0
        self._next = 0  # the next position to decide

    def prepare(self, luma: np.ndarray) -> _Prepared:
        """The frame's downscaled lumas (half size, flow size) and the motion between the frame
        prepared before and this one: a few long OpenCV calls, which the stage may run in a
        worker thread ahead of ``push`` (called once per frame, in order)."""
        h, w = luma.shape
        # at most half size, so that a speck barely disturbs the flow around it
        fw = min(FLOW_WIDTH, max(16, w // 2)) // (2 if _coarse_flow(w) else 1)
        half = shrink(luma, max(1, w // 2), max(1, h // 2))
        small = shrink(half, fw, max(8, round(h * fw / w)))
        thumb = thumbnail(small)
        last, self._last = self._last, (small, thumb)
        link = None if last is None else self._link(last[0], small, (h, w), is_cut(last[1], thumb))
        return half, small, link

    def push(
        self, luma: np.ndarray, prepared: _Prepared | None = None
    ) -> list[tuple[int, np.ndarray | None]]:
        """Add the next frame's luma (uint8 (H, W)), and what ``prepare`` gave for it if that
        ran; returns (position, mask) for the frames that became decidable, mask None where
        nothing was found."""
        half, small, link = prepared if prepared is not None else self.prepare(luma)
        frame = LumaFrame(self._count, luma, small, half)
        self._count += 1
        if self._frames and link is not None:
            a = self._frames[-1].position
            self._apart[a], self._motion[(a, a + 1)], self._motion[(a + 1, a)] = link
        self._frames.append(frame)
        out = self._ready()
        for position, _ in out:
            self._forget(position - 2)
        return out

    def finish(self) -> list[tuple[int, np.ndarray | None]]:
        """Masks for the frames still waiting for look-ahead, decided on what there is."""
        out = self._ready(final=True)
        self._frames.clear()
        self._motion.clear()
        self._apart.clear()
        self._last = None
        return out

    # -----------------------------------------------------------------------------------------

    def _frame(self, position: int) -> LumaFrame | None:
        for f in self._frames:
            if f.position == position:
                return f
        return None

    def _link(self, a: np.ndarray, b: np.ndarray, shape: tuple[int, int], cut: bool) -> _Link:
        """Motion both ways between consecutive frames (flow-size lumas of frames ``shape`` big),
        and whether they are apart: a scene ``cut`` between them, or too much that motion
        compensation cannot explain."""
        coarse_flow = _coarse_flow(shape[1])
        if self._dis is None:
            # set up once: changing the finest scale between calls changes later flows
            self._dis = dis_flow("detect")
            if coarse_flow:
                self._dis.setFinestScale(1)  # the ultrafast preset's is 2
            self._dis.setPatchStride(_patch_stride(shape[1]))
        fab = dis_calc(self._dis, a, b)
        fba = dis_calc(self._dis, b, a)
        err_ab = self._compensation_error(a, b, fab)
        err_ba = self._compensation_error(b, a, fba)
        if coarse_flow:
            err_ab = cv2.multiply(err_ab, COARSE_ERROR_SCALE)
            err_ba = cv2.multiply(err_ba, COARSE_ERROR_SCALE)
        unexplained = float(np.count_nonzero(err_ab > 30)) > self.settings.unexplained_fraction * err_ab.size
        scale = shape[1] / a.shape[1]
        coarse = (max(1, shape[1] // CELL), max(1, shape[0] // CELL))
        ab = robust_flow(fab, coarse, scale)
        ba = robust_flow(fba, coarse, scale)
        s = self.settings
        return (
            cut or unexplained,
            _Motion(ab, *_reliability(ab, ba, s), typical_error(err_ab, coarse)),
            _Motion(ba, *_reliability(ba, ab, s), typical_error(err_ba, coarse)),
        )

    def _compensation_error(self, a: np.ndarray, b: np.ndarray, flow_ab: np.ndarray) -> np.ndarray:
        """|a - b warped onto a| on the flow grid (uint8): what motion compensation leaves
        unexplained."""
        h, w = a.shape
        if self._grid is None or self._grid.shape[:2] != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = np.dstack([gx, gy])
        # one two-channel map (x, y): a single add, and the layout remap reads directly
        warped = cv2.remap(b, self._grid + flow_ab, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.absdiff(a, warped)

    def _forget(self, position: int) -> None:
        for key in [k for k in self._motion if position in k]:
            del self._motion[key]
        self._apart.pop(position - 1, None)

    def _decide(self, t: int) -> np.ndarray | None:
        """Pick the two reference frames for frame t (both sides if no cut), then detect."""
        cur = self._frame(t)
        assert cur is not None
        before = t > 0 and not self._apart.get(t - 1, True)
        after = t + 1 < self._count and not self._apart.get(t, True)
        if before and after:
            refs = [t - 1, t + 1]
        elif not self.settings.one_sided:
            return None
        elif after and t + 2 < self._count and not self._apart.get(t + 1, True):
            refs = [t + 1, t + 2]
        elif before and t >= 2 and not self._apart.get(t - 2, True):
            refs = [t - 1, t - 2]
        else:
            return None
        others = [self._frame(r) for r in refs]
        if any(o is None for o in others):
            return None
        # the frames two away, where no cut lies between: dust is as foreign there as next door
        far = []
        if refs == [t - 1, t + 1]:
            if t >= 2 and not self._apart.get(t - 2, True):
                far.append(self._frame(t - 2))
            if t + 2 < self._count and not self._apart.get(t + 1, True):
                far.append(self._frame(t + 2))
        # from one side, an object moving into new ground looks like a speck: be stricter there
        return self._detect(
            cur, others[0], others[1], one_sided=refs[0] + refs[1] != 2 * t,  # type: ignore[arg-type]
            far=[f for f in far if f is not None],
        )

    def _motion_to(self, t: int, r: int) -> _Motion:
        """Motion from t to r on the coarse grid, chaining two steps if needed."""
        if abs(r - t) == 1:
            return self._motion[(t, r)]
        mid = t + (1 if r > t else -1)
        first, second = self._motion[(t, mid)], self._motion[(mid, r)]
        step = first.flow
        return _Motion(
            step + follow_cells(second.flow, step),
            first.consistent & follow_cells(second.consistent.view(np.uint8), step).view(bool),
            np.maximum(first.spread, follow_cells(second.spread, step)),
            np.maximum(first.fit, follow_cells(second.fit, step)),
        )

    def _led(
        self, cur: LumaFrame, specks: Specks, frames: Sequence[LumaFrame]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(luma, per speck (dx, dy) int) for each of ``frames``: where the motion around each
        speck's middle leads from ``cur``."""
        boxes = specks.boxes
        out = []
        for o in frames:
            flow = self._motion_to(cur.position, o.position).flow
            gh, gw = flow.shape[:2]
            cy = np.minimum((boxes[:, 0] + boxes[:, 2]) // 2 // CELL, gh - 1)
            cx = np.minimum((boxes[:, 1] + boxes[:, 3]) // 2 // CELL, gw - 1)
            out.append((o.luma, np.rint(flow[cy, cx]).astype(np.intp)))
        return out

    def _confirm(self, specks: Specks, cur: LumaFrame, a: LumaFrame, b: LumaFrame,
                 shifts: list[tuple[int, int]], one_sided: bool, far: list[LumaFrame] | None,
                 s: BlotchSettings) -> Specks:
        """The specks that pass the tests on whole specks: not moving content, not uncovered
        ground (from one side), not content changing by degrees."""
        w = cur.luma.shape[1]
        if len(specks) and s.moved_ratio > 0:
            references = [(o.luma, shift) for o, shift in zip((a, b), shifts, strict=True)]
            radius = max(4, round(s.search * w))
            specks = drop_moving_specks(specks, cur.luma, references, radius, s.moved_ratio)
        if len(specks) and one_sided and s.one_sided_ring > 0:
            specks = drop_uncovered_specks(specks, cur.luma, self._led(cur, specks, (a, b)), s.one_sided_ring)
        if len(specks) and s.graded > 0 and far:
            # each speck searched for where the motion around it leads, in all four frames
            specks = drop_graded_specks(specks, cur.luma, self._led(cur, specks, (a, b)),
                                        self._led(cur, specks, far), s.graded)
        return specks

    def _detect(self, cur: LumaFrame, a: LumaFrame, b: LumaFrame,
                one_sided: bool = False, far: list[LumaFrame] | None = None) -> np.ndarray | None:
        s = self.settings
        if one_sided:
            s = replace(s, fit_ratio=2 * s.fit_ratio, flow_spread=0.5 * s.flow_spread)
        # candidates against the references moved by the global motion: a pan then gives few
        shifts = [global_shift(self._motion_to(cur.position, o.position).flow) for o in (a, b)]
        y, x, bright = spike_candidates_screened(a, cur, b, shifts, s.spike)
        if y.size == 0 or y.size > 0.25 * cur.luma.size:
            return None  # nothing, or a frame unlike both references (a flash, a failed cut test)
        h, w = cur.luma.shape
        value = cur.luma.ravel()[y * w + x].astype(np.int16)
        # each test narrows ``sel`` (the surviving candidates), so later tests see fewer
        sel = np.arange(y.size)
        unsure = np.zeros(y.size, dtype=bool)
        places: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for other in (a, b):
            m = self._motion_to(cur.position, other.position)
            flow, fit = m.flow, m.fit
            reliable = m.consistent & (m.spread <= s.flow_spread)
            gh, gw = reliable.shape
            ys, xs = y[sel], x[sel]
            cell = np.minimum(ys // CELL, gh - 1) * gw + np.minimum(xs // CELL, gw - 1)
            d = flow.reshape(-1, 2)[cell]
            yo = np.rint(ys + d[:, 1]).astype(np.intp)
            xo = np.rint(xs + d[:, 0]).astype(np.intp)
            # content that has left the other frame cannot be compared
            inside = (yo >= 1) & (yo < h - 1) & (xo >= 1) & (xo < w - 1)
            unsure[sel[inside & ~reliable.ravel()[cell]]] = True
            ok = inside & reliable.ravel()[cell]
            sel, yo, xo, cell = sel[ok], yo[ok], xo[ok], cell[ok]
            places = [(p[0][ok], p[1][ok], p[2][ok]) for p in places]
            # the spike must stand well above what compensation leaves unexplained around it;
            # first against the compensated pixel alone (cheap, and necessary for the test
            # against its whole neighbourhood below)
            need = np.maximum(s.spike, s.fit_ratio * fit.ravel()[cell])
            single = other.luma.ravel()[yo * w + xo].astype(np.int16)
            val = value[sel]
            ok = np.where(bright[sel], val - single, single - val) > need
            sel = sel[ok]
            places = [(p[0][ok], p[1][ok], p[2][ok]) for p in places] + [(yo[ok], xo[ok], need[ok])]
        sub = np.ones(sel.size, dtype=bool)
        ranges = []
        val, br = value[sel], bright[sel]
        for other, (yo, xo, need) in zip((a, b), places, strict=True):
            # the spike must clear the whole compensated neighbourhood, not just one pixel
            lo, hi = neighbourhood_range(other.luma, yo, xo)
            sub &= np.where(br, val - hi, lo - val) > need
            ranges.append((lo, hi))
        # the two reference frames must show the same content where the spike is
        (lo_a, hi_a), (lo_b, hi_b) = ranges
        sub &= (lo_a <= hi_b + s.agree_margin) & (lo_b <= hi_a + s.agree_margin)
        keep = np.zeros(y.size, dtype=bool)
        keep[sel[sub]] = True
        kept = int(np.count_nonzero(keep))
        if kept > s.max_flagged * cur.luma.size:
            return None  # too much at once to be dust: a flash or a flicker of the whole frame
        found = []
        if kept:
            specks = speck_clusters(y[keep], x[keep], (h, w), s.max_size, s.min_pixels)
            found.append(self._confirm(specks, cur, a, b, shifts, one_sided, far, s))
        unsure &= ~keep
        if s.unsure_ring > 0 and 0 < np.count_nonzero(unsure) <= s.max_flagged * cur.luma.size:
            # where the flow failed its checks, the ground around each speck is looked for instead
            specks = speck_clusters(y[unsure], x[unsure], (h, w), s.max_size, s.min_pixels)
            if len(specks):
                radius = max(2, round(s.unsure_radius * w))
                led = self._led(cur, specks, (a, b))
                specks = drop_uncovered_specks(specks, cur.luma, led, s.unsure_ring, radius=radius)
            if len(specks):
                found.append(self._confirm(specks, cur, a, b, shifts, one_sided, far, s))
        found = [f for f in found if len(f)]
        if not found:
            return None
        y = np.concatenate([f.y for f in found])
        x = np.concatenate([f.x for f in found])
        mask = np.zeros((h, w), dtype=bool)
        # cover the soft rim of the speck (and the pixels the spike test just missed): a 3x3
        # dilation, drawn point by point (the points are few, the frame is large)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                mask[np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)] = True
        return mask


def _coarse_flow(frame_width: int) -> bool:
    """Whether frames this wide get the half-width flow input (``COARSE_FLOW_FRAME_WIDTH``)."""
    return frame_width >= COARSE_FLOW_FRAME_WIDTH


def _patch_stride(frame_width: int) -> int:
    """DIS patch stride for frames ``frame_width`` px wide: 6 from 640 px up (flow estimated on
    an 80 px wide level), where the patch search is most of the cost of DIS (0.28 against 0.44
    ms per flow at 720p) and the motion is summarised over 40 px anyway; the ultrafast preset's
    4 on smaller ones, where fewer patches lose specks. Blotch recall / precision measured with
    4, 6, 8: bigbuckbunny 0.914 / 0.827, 0.917 / 0.838, 0.900 / 0.833; carphone (176 px) with 6
    instead of 4: 0.876 / 0.935 against 0.899 / 0.937."""
    return 6 if frame_width >= 2 * FLOW_WIDTH else 4


def _reliability(ab: np.ndarray, ba: np.ndarray, s: BlotchSettings) -> tuple[np.ndarray, np.ndarray]:
    """Whether each cell's flow returns home through the reverse flow, and how much the flow
    varies around it (px)."""
    back = np.abs(ab + follow_cells(ba, ab))
    consistent = cv2.max(back[..., 0], back[..., 1]) <= s.consistency
    kernel = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(ab, kernel) - cv2.erode(ab, kernel)
    return consistent, cv2.max(spread[..., 0], spread[..., 1])


