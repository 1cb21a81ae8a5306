"""Boxes and time ranges, the way ``ffmpeg -vf delogo=x:y:w:h:enable='between(t,5,80)'`` users
give them: ``--box X,Y,W,H`` and an optional ``@START-END`` on a box or on a ``--mask``.

Times are seconds (``12.5``) or ``[HH:]MM:SS[.ms]``; the end is exclusive and may be left out
(``@5-``: from 5 s to the end). They are compared, exactly (as fractions), with each frame's
presentation time relative to the first frame of the stream, so ``@1-2`` on a 25 fps clip covers
frames 25..49 whatever the file's time base or start time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidrestore.errors import MaskError, OptionError

_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class TimeRange:
    """Seconds from the stream's first frame: ``start <= t < end`` (``end`` None: to the end)."""

    start: Fraction = Fraction(0)
    end: Fraction | None = None

    def contains(self, t: Fraction) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def __str__(self) -> str:
        end = "end" if self.end is None else f"{float(self.end):g}s"
        return f"{float(self.start):g}s-{end}"


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels (left, top, width, height), present during ``during`` (None: always)."""

    x: int
    y: int
    w: int
    h: int
    during: TimeRange | None = None

    def mask(self, width: int, height: int) -> np.ndarray:
        """bool (height, width), True inside the box (clipped to the frame)."""
        m = np.zeros((height, width), dtype=bool)
        m[max(0, self.y) : self.y + self.h, max(0, self.x) : self.x + self.w] = True
        return m

    def __str__(self) -> str:
        at = f"@{self.during}" if self.during is not None else ""
        return f"{self.x},{self.y},{self.w},{self.h}{at}"

    def spec(self) -> str:
        """The box as ``parse_box`` reads it back (times in decimal seconds)."""
        text = f"{self.x},{self.y},{self.w},{self.h}"
        if self.during is not None:
            end = "" if self.during.end is None else repr(float(self.during.end))
            text += f"@{float(self.during.start)!r}-{end}"
        return text


def parse_time(text: str, what: str = "time") -> Fraction:
    """``"12.5"``, ``"01:20"``, ``"00:01:20.040"`` -> seconds as an exact fraction."""
    match = _TIME.match(text.strip())
    if not match:
        raise OptionError(f"bad {what} {text!r}: give seconds (12.5) or HH:MM:SS[.ms] (00:01:20.5)")
    hours, minutes, seconds = match.groups()
    if (hours or minutes) and float(seconds) >= 60:
        raise OptionError(f"bad {what} {text!r}: seconds must be below 60 in HH:MM:SS")
    if hours and int(minutes) >= 60:
        raise OptionError(f"bad {what} {text!r}: minutes must be below 60 in HH:MM:SS")
    return Fraction(int(hours or 0) * 3600 + int(minutes or 0) * 60) + Fraction(seconds)


def parse_range(text: str) -> TimeRange:
    """``"START-END"`` (either side may be empty) -> TimeRange; end must come after start."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise OptionError(f"bad time range {text!r}: want START-END, e.g. 5-80 or 00:00:05-00:01:20")
    start = parse_time(start_text, "range start") if start_text.strip() else Fraction(0)
    end = parse_time(end_text, "range end") if end_text.strip() else None
    if end is not None and end <= start:
        raise OptionError(f"bad time range {text!r}: the end ({end_text}) must come after the start")
    return TimeRange(start, end)


def parse_box(spec: str | Sequence[int] | Box) -> Box:
    """``"X,Y,W,H"`` or ``"X,Y,W,H@START-END"`` (or a 4-sequence of ints) -> Box."""
    if isinstance(spec, Box):
        return spec
    if not isinstance(spec, str):
        values = list(spec)
        if len(values) != 4 or not all(isinstance(v, int | np.integer) for v in values):
            raise OptionError(f"bad box {spec!r}: want four whole numbers X, Y, W, H")
        spec = ",".join(str(int(v)) for v in values)
    text, at, when = spec.strip().partition("@")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
        raise OptionError(f"bad box {spec!r}: want X,Y,W,H in pixels, e.g. 100,10,60,30 (optionally @1-2)")
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise OptionError(f"bad box {spec!r}: width and height must be positive")
    try:
        during = parse_range(when) if at else None
    except OptionError as exc:
        raise OptionError(f"box {spec!r}: {exc}") from None
    return Box(x, y, w, h, during)


def parse_boxes(specs: str | Iterable[Any] | None) -> tuple[Box, ...]:
    """Boxes from one spec string (several separated by ``;`` or spaces, as in a manifest cell),
    or from a list of specs (strings, 4-tuples or Boxes)."""
    if specs is None:
        return ()
    if isinstance(specs, str):
        specs = [s for s in re.split(r"[;\s]+", specs) if s]
    elif isinstance(specs, Box) or (
        isinstance(specs, Sequence) and len(specs) == 4 and all(isinstance(v, int) for v in specs)
    ):
        specs = [specs]
    return tuple(parse_box(s) for s in specs)


def box_specs(boxes: str | Iterable[Any] | None) -> tuple[str, ...]:
    """Any form ``parse_boxes`` takes -> spec strings, validated (what a config keeps)."""
    return tuple(b.spec() for b in parse_boxes(boxes))


def split_mask_spec(path: str | Path) -> tuple[Path, TimeRange | None]:
    """``logo.png@00:00:05-00:01:20`` -> (``logo.png``, its range). A path that exists as written
    is taken as it is, so a file whose name holds an ``@`` still opens."""
    path = Path(path)
    if path.exists() or "@" not in path.name:
        return path, None
    name, _, when = path.name.rpartition("@")
    if not name:
        return path, None
    try:
        return path.with_name(name), parse_range(when)
    except OptionError as exc:
        raise OptionError(f"mask {path}: {exc}") from None


def check_boxes(boxes: Iterable[Box], width: int, height: int) -> None:
    """A box that lies wholly outside the frame is a mistake (wrong units, wrong video)."""
    for box in boxes:
        if box.x >= width or box.y >= height or box.x + box.w <= 0 or box.y + box.h <= 0:
            raise MaskError(f"box {box} lies outside the {width}x{height} frame")


class FrameClock:
    """A frame's presentation time in seconds from the stream's first frame, exactly."""

    def __init__(self, time_base: Fraction, start_pts: int | None, fps: Fraction) -> None:
        self.time_base = Fraction(time_base)
        self.start_pts = start_pts or 0
        self.fps = Fraction(fps) if fps else Fraction(25)

    def seconds(self, index: int, pts: int | None) -> Fraction:
        if pts is None:  # no timestamp: the nominal time of its index
            return Fraction(index) / self.fps
        return (pts - self.start_pts) * self.time_base


class AttachTimedMasks:
    """Pipeline stage: unites, on each frame, the mask source's mask (when the frame is within
    its range) and the boxes whose range holds the frame's time. Frames outside every range get
    no mask from here, so they go through untouched. Boxes are taken as given, not grown: a box
    says exactly which pixels may change."""

    lookahead = 0

    def __init__(
        self,
        clock: FrameClock,
        size: tuple[int, int],
        masks: Iterator[np.ndarray] | None = None,
        mask_range: TimeRange | None = None,
        boxes: Sequence[Box] = (),
    ) -> None:
        self.clock = clock
        self.masks = masks
        self.mask_range = mask_range
        width, height = size
        self._boxes = [(b.during, b.mask(width, height)) for b in boxes]

    def run(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            current = batch.ensure_masks()
            for i, (index, pts) in enumerate(zip(batch.indices, batch.pts, strict=True)):
                t = self.clock.seconds(index, pts)
                if self.masks is not None:
                    mask = next(self.masks, None)
                    if mask is None:
                        raise MaskError(
                            f"the masks ran out at frame {index}; the video has more frames than masks"
                        )
                    if self.mask_range is None or self.mask_range.contains(t):
                        current[i] |= mask
                for during, mask in self._boxes:
                    if during is None or during.contains(t):
                        current[i] |= mask
            yield batch

