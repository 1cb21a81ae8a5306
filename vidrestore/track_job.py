"""`vidrestore track` and `fix --track`: a keyframe mask followed through its shot, written as a
mask folder (one PNG per frame, empty outside the tracked stretch) and, on request, a preview with
the tracked mask tinted, both written to temp paths and renamed when complete."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vidrestore.errors import MaskError, OptionError, OutputError
from vidrestore.io.atomic import check_output, commit, discard, temp_path_for
from vidrestore.io.decode import open_source, read_image
from vidrestore.io.encode import EncodeOptions, VideoSink
from vidrestore.io.paths import is_video_path, list_images
from vidrestore.track import TrackOptions, TrackStats, full_size, track

_KEY = re.compile(r"^(?P<path>.+)@(?P<frame>\d+)$")


@dataclass
class TrackSummary:
    input: str
    output: str | None
    frames: int  # frames in the video
    tracked: int  # frames with a tracked mask
    first: int | None
    last: int | None
    refits_rejected: int
    seconds: float

    def line(self) -> str:
        where = f"frames {self.first}-{self.last}" if self.first is not None else "no frame"
        return (f"tracked the mask over {self.tracked} of {self.frames} frames ({where}; "
                f"{self.refits_rejected} colour re-fits rejected) in {self.seconds:.1f}s"
                + (f" -> {self.output}" if self.output else ""))  # fmt: skip


def parse_key(spec: str | Path) -> tuple[Path, int]:
    """``mask.png@120`` -> (mask.png, 120): the keyframe's mask and its frame index (from 0)."""
    match = _KEY.match(str(spec))
    if match is None:
        raise OptionError(f"--track wants MASK_IMAGE@FRAME (e.g. person.png@120), got {spec!r}")
    path = Path(match["path"])
    if not path.is_file():
        raise MaskError(f"keyframe mask not found: {path}")
    return path, int(match["frame"])


def track_to_folder(
    input: str | Path, key: str | Path, output: str | Path, *, preview: str | Path | None = None,
    overwrite: bool = False, fps: float | None = None, threshold: int = 128,
    options: TrackOptions | None = None, progress: bool = False,
) -> TrackSummary:
    """Follow the mask ``key`` (``MASK@FRAME``) through its shot in ``input``; write one mask PNG
    per frame into the folder ``output`` (white = the object) and, with ``preview``, a video of
    the input with the tracked mask tinted."""
    input, output = Path(input), Path(output)
    key_path, key_frame = parse_key(key)
    if is_video_path(output):
        raise OutputError(f"masks go to a folder, not a video file: {output}")
    check_output(output, [input, key_path], overwrite)
    if preview is not None:
        check_output(Path(preview), [input], overwrite)
    started = time.perf_counter()
    source = open_source(input, fps=fps)
    info = source.info
    key_mask = read_image(key_path)
    key_mask = (key_mask.max(axis=2) if key_mask.ndim == 3 else key_mask) >= threshold
    if key_mask.shape != (info.height, info.width):
        source.close()
        raise MaskError(f"keyframe mask {key_path} is {key_mask.shape[1]}x{key_mask.shape[0]}, "
                        f"the video {info.width}x{info.height}")  # fmt: skip
    if not key_mask.any():
        source.close()
        raise MaskError(f"keyframe mask {key_path} is empty (nothing white at >= {threshold})")
    names = [Path(n).stem + ".png" for n in info.frame_names] if info.frame_names else None
    temp = temp_path_for(output, directory=True)
    stats = TrackStats()
    count = [0]

    def images():  # noqa: ANN202 - counts what the tracker read
        for frame in source.frames():
            count[0] += 1
            yield frame.image

    def write(index: int, mask: np.ndarray | None) -> None:
        name = names[index] if names else f"{index:06d}.png"
        full = np.zeros((info.height, info.width), bool) if mask is None else full_size(mask, info.width,
                                                                                             info.height)
        cv2.imwrite(str(temp / name), full.view(np.uint8) * 255)

    bar = tqdm(total=info.frame_count, unit="frame", desc="track",
               disable=not (progress and sys.stderr.isatty()))  # fmt: skip
    try:
        with bar:
            frames = images()
            written = 0
            for index, mask in track(frames, key_frame, key_mask, options, stats):
                while written < index:
                    write(written, None)
                    written += 1
                write(index, mask)
                written += 1
                bar.update(count[0] - bar.n)
            for _ in frames:  # the rest of the video, after the shot
                bar.update(1)
            if key_frame >= count[0]:
                raise OptionError(f"--track frame {key_frame} is past the last frame ({count[0] - 1})")
            while written < count[0]:
                write(written, None)
                written += 1
        source.close()
        commit(temp, output)
    except BaseException:
        source.close()
        discard(temp)
        raise
    if preview is not None:
        write_preview(input, output, Path(preview), fps)
    return TrackSummary(str(input), str(output), count[0], stats.frames, stats.first, stats.last,
                        stats.refits_rejected, time.perf_counter() - started)  # fmt: skip


def write_preview(input: Path, masks: Path, preview: Path, fps: float | None) -> None:
    """The input with the tracked mask tinted magenta (a second decode: the masks before the
    keyframe are only known once the keyframe has been reached)."""
    source = open_source(input, fps=fps)
    sink = VideoSink(preview, source.info, EncodeOptions(fps=fps), copy_streams=False)
    try:
        for frame, mask_file in zip(source.frames(), list_images(masks), strict=False):
            mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE) >= 128
            image = frame.image.copy()
            image[mask] = (0.5 * image[mask] + 0.5 * np.array([255, 0, 255])).astype(np.uint8)
            sink.write(frame.index, frame.pts, image)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    finally:
        source.close()
