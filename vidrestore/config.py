"""Options of the `fix` job, validated once; the CLI fills this in and the API runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidrestore.errors import OptionError
from vidrestore.inpaint.registry import METHODS, InpaintOptions
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.masks import MaskOptions
from vidrestore.io.regions import parse_boxes, split_mask_spec

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class FixConfig:
    input: Path
    output: Path
    mask: Path | None = None  # may end in @START-END (seconds or HH:MM:SS[.ms], end exclusive)
    boxes: tuple[str, ...] = ()  # X,Y,W,H in pixels, optionally @START-END
    track: str | None = None  # MASK_IMAGE@FRAME: a keyframe mask followed through its shot
    detect: tuple[str, ...] = ()
    masks: MaskOptions = field(default_factory=MaskOptions)
    inpaint: InpaintOptions = field(default_factory=InpaintOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    detect_sensitivity: dict[str, float] = field(default_factory=dict)
    temporal: bool | None = None  # None: on for any input of more than one frame
    see_through: bool | None = None  # undo static semi-transparent logos; None: with temporal
    window: int = 3
    reach: int = 12  # frames back and ahead searched, along chained flows, for pixels the window missed
    segments: int = 1  # split one long video into this many parts processed in parallel
    workers: int | None = None  # processes for segments (default: one per segment, at most CPU count)
    overwrite: bool = False
    batch_frames: int | None = None  # None: about 24 MB of frames per batch (8 at 720p, 1 at 4K)
    strict: bool = False
    progress: bool = True

    def validate(self) -> FixConfig:
        if self.mask is None and not self.boxes and not self.detect and self.track is None:
            raise OptionError(
                "nothing to repair: give --mask PATH, --box X,Y,W,H, --track MASK@FRAME and/or --detect KINDS"
            )
        if self.track is not None and self.mask is not None:
            raise OptionError("--track makes the masks: give it with --box or --detect, not with --mask")
        parse_boxes(self.boxes)
        if self.mask is not None:
            split_mask_spec(self.mask)
        if self.inpaint.method not in (*METHODS, "auto"):
            raise OptionError(
                f"unknown --method {self.inpaint.method!r}; choose one of auto, {', '.join(METHODS)}"
            )
        if self.inpaint.precision not in PRECISIONS:
            raise OptionError(
                f"unknown --precision {self.inpaint.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if not 0 <= self.masks.threshold <= 255:
            raise OptionError("--mask-threshold must be between 0 and 255")
        if self.masks.dilate < 0:
            raise OptionError("--dilate must be 0 or more")
        if not 0 <= self.encode.crf <= 63:
            raise OptionError("--crf must be between 0 and 63")
        if self.window < 1:
            raise OptionError("--window must be at least 1")
        if self.reach < 0:
            raise OptionError("--reach must be 0 or more")
        if self.segments < 1:
            raise OptionError("--segments must be at least 1")
        if self.workers is not None and self.workers < 1:
            raise OptionError("--workers must be at least 1")
        if self.batch_frames is not None and self.batch_frames < 1:
            raise OptionError("--batch-frames must be at least 1")
        if self.encode.fps is not None and self.encode.fps <= 0:
            raise OptionError("--fps must be positive")
        return self


def frames_per_batch(config: FixConfig, width: int, height: int) -> int:
    """The pipeline's batch size: as given, or sized so that a batch holds about 24 MB of frames.

    Several batches are in flight at once (decode queue, stages, encode queue), so this keeps
    memory flat across resolutions: 8 frames at 720p, 3 at 1080p, 1 at 4K, 16 for tiny clips.
    """
    if config.batch_frames is not None:
        return config.batch_frames
    return max(1, min(16, int(24e6 // (width * height * 3))))
