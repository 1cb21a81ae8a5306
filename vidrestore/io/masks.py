"""Mask sources: a folder with one mask per frame, one static image, or a mask video.

White (>= threshold) means damaged. Sources are read lazily, in step with the video, so a mask
folder for a feature film costs no more memory than one mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from vidrestore.errors import MaskError
from vidrestore.io.decode import decode_image_8bit, main_video_stream
from vidrestore.io.paths import is_image_file, list_images


@dataclass(frozen=True)
class MaskOptions:
    threshold: int = 128
    dilate: int = 3  # pixels; masks are usually drawn tight, so grow them a little
    resize: bool = False  # nearest-neighbour resize masks of another size instead of failing


class MaskReader:
    """Yields one bool (H, W) mask per frame, True = missing, already thresholded and dilated."""

    def __init__(
        self, path: str | Path, width: int, height: int, frame_count: int, options: MaskOptions
    ) -> None:
        self.path = Path(path)
        self.size = (width, height)
        self.frame_count = frame_count
        self.options = options
        if not self.path.exists():
            raise MaskError(f"mask not found: {self.path}")
        if self.path.is_dir():
            self.files = list_images(self.path)
            if not self.files:
                raise MaskError(f"mask folder {self.path} contains no images")
            if len(self.files) != frame_count:
                raise MaskError(
                    f"mask folder {self.path} has {len(self.files)} images "
                    f"but the video has {frame_count} frames"
                )
            self.kind = "folder"
        elif is_image_file(self.path):
            self.static = self._prepare(_read_gray(self.path), self.path.name)
            self.kind = "static"
        else:
            self.kind = "video"
            self._check_mask_video()
        self._kernel = (
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * options.dilate + 1, 2 * options.dilate + 1))
            if options.dilate > 0
            else None
        )
        if self.kind == "static":
            self.static = self._dilate(self.static)

    def masks(self, start: int = 0) -> Iterator[np.ndarray]:
        """One mask per frame from frame ``start``: forever for a static mask, else to the source's end."""
        if self.kind == "static":
            while True:
                yield self.static
        elif self.kind == "folder":
            for file in self.files[start:]:
                yield self._dilate(self._prepare(_read_gray(file), file.name))
        else:
            with av.open(str(self.path)) as c:
                for i, frame in enumerate(c.decode(main_video_stream(c))):
                    if i < start:
                        continue
                    yield self._dilate(
                        self._prepare(frame.to_ndarray(format="gray"), f"frame {i} of {self.path.name}")
                    )

    def _check_mask_video(self) -> None:
        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise MaskError(f"mask {self.path} has no video stream")
                s = main_video_stream(c)
                count = s.frames or sum(1 for p in c.demux(s) if p.size)
                w, h = s.codec_context.width, s.codec_context.height
        except av.FFmpegError as exc:
            raise MaskError(
                f"mask {self.path} is neither an image nor a readable video ({exc.strerror or exc})"
            ) from None
        if count != self.frame_count:
            raise MaskError(
                f"mask video {self.path} has {count} frames but the video has {self.frame_count} frames"
            )
        if (w, h) != self.size and not self.options.resize:
            raise MaskError(self._size_message(w, h, self.path.name))

    def _prepare(self, gray: np.ndarray, name: str) -> np.ndarray:
        h, w = gray.shape
        if (w, h) != self.size:
            if not self.options.resize:
                raise MaskError(self._size_message(w, h, name))
            gray = cv2.resize(gray, self.size, interpolation=cv2.INTER_NEAREST)
        return gray >= self.options.threshold

    def _dilate(self, mask: np.ndarray) -> np.ndarray:
        if self._kernel is None or not mask.any():
            return mask
        return cv2.dilate(mask.view(np.uint8), self._kernel).astype(bool)

    def _size_message(self, w: int, h: int, name: str) -> str:
        return (
            f"mask {name} is {w}x{h} but the video is {self.size[0]}x{self.size[1]}; "
            "pass --mask-resize to resize masks (nearest neighbour)"
        )


def _read_gray(path: Path) -> np.ndarray:
    """Mask image -> uint8 (H, W); a transparent PNG counts its alpha as the mask where RGB is flat."""
    image = decode_image_8bit(path)
    if image is None:
        raise MaskError(f"cannot read mask image {path}")
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        gray = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
        return gray if gray.max() > gray.min() else image[..., 3]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
