"""The GAN inpainting engine: crops around holes, batched across frames, on the chosen device.

Per call: plan crops (``crops.py``), fill thin groups with OpenCV Telea when the model card says the
network does not beat it there (``CropSettings.classical_radius``), group the rest by bucket shape,
cut/resize/pad each window, enlarge inputs far below the working size when the card says it helps
(``CropSettings.max_upscale``), compute the Telea pre-fill the network starts from (OpenCV, on the
host, one batch ahead of the device), run the generator in batches (halving the batch on
out-of-memory, never skipping a crop), then resize each fill back and paste only the hole pixels the
crop owns, blended with the frame over a thin band inside the mask edge so seams do not show.
Pixels outside the masks are never changed. Between the upload of a batch and the download of its
fills the work stays on the device: the generator's forward pass never reads a value back.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vidrestore.frames import frames_to_tensor, masks_to_tensor, tensor_to_frames
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.inpaint.crops import Crop, CropSettings, plan_crops, plan_frame
from vidrestore.inpaint.device import (
    DeviceMemoryError,
    autocast,
    channels_last_helps,
    cpu_threads,
    default_batch_size,
    default_cpu_threads,
    is_out_of_memory,
    release_cached_memory,
    resolve_device,
    resolve_precision,
)
from vidrestore.inpaint.options import InpaintOptions
from vidrestore.io.threads import BackgroundIterator
from vidrestore.models.generator import InpaintGenerator, telea_prefill
from vidrestore.models.weights import load_generator
from vidrestore.push_pull import push_pull_fill

# Thin holes get exactly what ``--method telea`` gives them.
_TELEA = ClassicalInpainter("telea")


class GanInpainter:
    """Fills holes with an ``InpaintGenerator``; implements ``vidrestore.inpaint.base.Inpainter``."""

    name = "gan"

    def __init__(
        self,
        model: InpaintGenerator,
        device: str | torch.device = "cpu",
        batch_size: int | None = None,
        precision: str = "auto",
        settings: CropSettings | None = None,
        threads: int | None = None,
        channels_last: bool | None = None,
    ) -> None:
        """``channels_last``: NHWC memory layout for the network (None = where it helps, see
        ``channels_last_helps``); ``precision``: see ``resolve_precision`` (auto: bf16 on CPUs
        that do it in hardware, else fp32)."""
        self.device = torch.device(device)
        self.channels_last = channels_last_helps(self.device) if channels_last is None else channels_last
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = model.eval().to(self.device, memory_format=memory_format)
        self.autocast_dtype = resolve_precision(precision, self.device)
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size or default_batch_size(self.device, model.config)
        self.settings = settings or CropSettings.for_model(model.config)
        self.threads = threads or default_cpu_threads()  # CPU only; see default_cpu_threads
        # Prepare the next batch on the host in a thread while the device runs this one; on the CPU
        # the two would only compete for the same cores.
        self.prepare_ahead = self.device.type != "cpu"

    @classmethod
    def from_options(cls, options: InpaintOptions) -> GanInpainter:
        """Resolve device and precision, load (and verify) the weights named by ``options.weights``."""
        device = resolve_device(options.device)
        model, card = load_generator(options.weights, device)
        settings = CropSettings.for_model(
            model.config,
            classical_radius=classical_radius(card),
            max_upscale=max_upscale(card),
            feather=options.feather,
        )
        return cls(model, device, options.batch_size, options.precision, settings)

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        """uint8 (N, H, W, 3) + bool (N, H, W) -> uint8 (N, H, W, 3); only masked pixels change.

        ``edges``: see ``Inpainter.inpaint``; the feather band runs along their border.
        """
        _check_inputs(frames, masks)
        crops = plan_crops(masks, self.settings, edges)
        if not crops:
            return frames
        out = frames.copy()
        by_bucket: dict[tuple[int, int], list[Crop]] = defaultdict(list)
        for crop in crops:
            if crop.classical:
                _paste(out, frames, crop, _classical_fill(frames, masks, crop))
            else:
                by_bucket[crop.bucket].append(crop)
        chunks = self._prepared_chunks(frames, masks, edges, by_bucket)
        if self.prepare_ahead:  # cuts, resizes and Telea for the next batch while the device runs
            chunks = BackgroundIterator(chunks, maxsize=2, name="gan-prepare")
        try:
            for chunk in chunks:
                for crop, fill in zip(chunk.crops, self._predict_prepared(chunk), strict=True):
                    _paste(out, frames, crop, fill)
        finally:
            if isinstance(chunks, BackgroundIterator):
                chunks.close()
        return out

    def _prepared_chunks(
        self,
        frames: np.ndarray,
        masks: np.ndarray,
        edges: np.ndarray | None,
        by_bucket: dict[tuple[int, int], list[Crop]],
    ) -> Iterator[_Prepared]:
        """Network inputs for each batch of crops of one bucket, prepared on the host."""
        damage: np.ndarray | None = None
        for bucket, group in by_bucket.items():
            enlarged = enlarged_shape(bucket, self.settings) != bucket
            if enlarged and damage is None:
                damage = damage_masks(masks, edges, self.settings.feather)
            start = 0
            while start < len(group):  # batch_size may shrink after an out-of-memory error
                chunk = group[start : start + self.batch_size]
                images, holes = _cut_crops(frames, masks, chunk)
                if damage is not None and enlarged:
                    # Bicubic enlargement reaches 2 px across the hole's border and would carry the
                    # damage into the known ring the network trusts: smooth the damage over first.
                    images = _smooth_over(images, _cut_crops(frames, damage, chunk)[1])
                yield self._prepare(chunk, images, holes)
                start += len(chunk)

    def _prepare(self, crops: list[Crop], images: np.ndarray, holes: np.ndarray) -> _Prepared:
        """Enlarge crops smaller than the working size by up to ``settings.max_upscale`` (see
        ``enlarged_shape``) and add the Telea pre-fill when the model starts from one."""
        h, w = images.shape[1:3]
        size = enlarged_shape((h, w), self.settings)
        if size != (h, w):
            dsize = (size[1], size[0])
            images = np.stack([cv2.resize(image, dsize, interpolation=cv2.INTER_CUBIC) for image in images])
            holes = np.stack(
                [cv2.resize(hole.view(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) for hole in holes]
            ).astype(bool)
        telea = telea_prefill(images, holes) if self.model.needs_telea else None
        return _Prepared(crops, images, holes, telea, (h, w))

    def _predict_prepared(self, chunk: _Prepared) -> np.ndarray:
        """Fills of a prepared chunk, shrunk back to the crops' own size when they were enlarged."""
        fills = self._predict(chunk.images, chunk.holes, chunk.telea)
        h, w = chunk.crop_shape
        if fills.shape[1:3] == (h, w):
            return fills
        return np.stack([cv2.resize(fill, (w, h), interpolation=cv2.INTER_AREA) for fill in fills])

    def inpaint_whole_frames(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The reference the crop path is checked against: one forward pass per whole (padded) frame."""
        _check_inputs(frames, masks)
        out = frames.copy()
        h, w = frames.shape[1:3]
        stride = self.model.config.stride
        pad = ((0, 0), (0, -h % stride), (0, -w % stride))
        for i in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)):
            image = np.pad(frames[i : i + 1], (*pad, (0, 0)), mode="edge")
            fill = self.predict(image, np.pad(masks[i : i + 1], pad, mode="edge"))
            owned = plan_frame(masks[i], self.settings)  # only for the owned pixels and feather weights
            ys, xs, alpha = (np.concatenate([getattr(c, k) for c in owned]) for k in ("ys", "xs", "alpha"))
            _paste(out, frames, Crop(int(i), (0, h, 0, w), (h, w), (h, w), ys, xs, alpha), fill[0])
        return out

    def predict(self, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """Network fill for equally shaped uint8 crops (n, h, w, 3) and bool holes (n, h, w).

        On out-of-memory the batch is halved (and stays halved for later calls) until one crop at a
        time; every crop is predicted exactly once.
        """
        return self._predict(images, holes, telea_prefill(images, holes) if self.model.needs_telea else None)

    def _predict(self, images: np.ndarray, holes: np.ndarray, telea: np.ndarray | None) -> np.ndarray:
        """``predict`` with the Telea pre-fill already computed (None when the model needs none)."""
        try:
            return self._forward(images, holes, telea)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # Outside the except block, so the traceback no longer pins the failed batch's tensors.
        release_cached_memory(self.device)
        n = len(images)
        if n == 1:
            raise DeviceMemoryError(
                f"out of memory on {self.device} for a single {images.shape[1]}x{images.shape[2]} crop "
                f"({reason}); use --device cpu or a smaller model"
            )
        half = n // 2
        if half < self.batch_size:
            warnings.warn(f"out of memory on {self.device}: batch size lowered to {half}", stacklevel=2)
            self.batch_size = half
        first, second = (None, None) if telea is None else (telea[:half], telea[half:])
        return np.concatenate(
            [
                self._predict(images[:half], holes[:half], first),
                self._predict(images[half:], holes[half:], second),
            ]
        )

    def _forward(self, images: np.ndarray, holes: np.ndarray, telea: np.ndarray | None) -> np.ndarray:
        """One upload, one forward pass, one download."""
        with (
            torch.inference_mode(),
            autocast(self.device, self.autocast_dtype),
            cpu_threads(self.device, self.threads),
        ):
            inputs = [frames_to_tensor(images, self.device), masks_to_tensor(holes, self.device)]
            if telea is not None:
                inputs.append(frames_to_tensor(telea, self.device))
            if self.channels_last:
                inputs = [t.contiguous(memory_format=torch.channels_last) for t in inputs]
            return tensor_to_frames(self.model(*inputs))


@dataclass
class _Prepared:
    """One batch of network inputs of one shape, made on the host: crops, images, holes, Telea fill."""

    crops: list[Crop]
    images: np.ndarray  # uint8 (n, h, w, 3) at the network's input size
    holes: np.ndarray  # bool (n, h, w)
    telea: np.ndarray | None  # uint8 (n, h, w, 3) Telea pre-fill, or None when the model needs none
    crop_shape: tuple[int, int]  # (h, w) the fills are shrunk back to


def classical_radius(card: dict) -> float:
    """Thickness (px) up to which the card's measurements say Telea fills holes at least as well; 0 = none."""
    thin = card.get("thin_holes") or {}
    radius = thin.get("classical_radius", 0.0) if isinstance(thin, dict) else 0.0
    return float(radius) if isinstance(radius, int | float) and radius > 0 else 0.0


def max_upscale(card: dict) -> float:
    """Factor up to which the card's measurements say small network inputs should be enlarged; 1 = never."""
    small = card.get("small_windows") or {}
    factor = small.get("max_upscale", 1.0) if isinstance(small, dict) else 1.0
    return float(factor) if isinstance(factor, int | float) and factor > 1 else 1.0


def enlarged_shape(shape: tuple[int, int], settings: CropSettings) -> tuple[int, int]:
    """The network input shape for a crop of ``shape``: enlarged towards the working size by at most
    ``settings.max_upscale``, in multiples of the network's stride; ``shape`` itself when not enlarged."""
    factor = min(settings.max_upscale, settings.working_size / max(shape))
    if factor <= 1.0:
        return shape
    stride = settings.stride
    h, w = (max(stride, round(side * factor / stride) * stride) for side in shape)
    return (h, w) if h > shape[0] or w > shape[1] else shape


def damage_masks(masks: np.ndarray, edges: np.ndarray | None, band: int) -> np.ndarray:
    """The damage itself: hole pixels deeper than ``band`` inside ``edges`` (default ``masks``).

    The network ignores hole pixels; only resampling a crop reads them. The band that
    ``fix --dilate`` grew the mask by holds clean picture and is kept, as the feather keeps it.
    """
    if band <= 0:
        return masks
    damage = np.zeros_like(masks)
    for i in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)):
        outline = masks[i] if edges is None else edges[i] | masks[i]
        depth = cv2.distanceTransform(outline.astype(np.uint8), cv2.DIST_L2, 5)
        damage[i] = masks[i] & (depth > band)
    return damage


def _smooth_over(images: np.ndarray, damage: np.ndarray) -> np.ndarray:
    """uint8 crops with their ``damage`` pixels replaced by a smooth push-pull fill of the rest."""
    out = images
    for k in np.flatnonzero(damage.reshape(len(damage), -1).any(axis=1)):
        if damage[k].all():
            continue
        if out is images:
            out = images.copy()
        filled = push_pull_fill(images[k], damage[k])
        out[k][damage[k]] = np.clip(np.rint(filled[damage[k]]), 0, 255).astype(np.uint8)
    return out


def _classical_fill(frames: np.ndarray, masks: np.ndarray, crop: Crop) -> np.ndarray:
    """OpenCV Telea over the crop's window at frame resolution (the same fill as ``--method telea``)."""
    y0, y1, x0, x1 = crop.window
    return _TELEA.inpaint_one(frames[crop.frame, y0:y1, x0:x1], masks[crop.frame, y0:y1, x0:x1])


def _check_inputs(frames: np.ndarray, masks: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
    if masks.shape != frames.shape[:3] or masks.dtype != np.bool_:
        raise ValueError(f"masks must be bool {frames.shape[:3]}, got {masks.dtype} {masks.shape}")


def _cut_crops(frames: np.ndarray, masks: np.ndarray, crops: list[Crop]) -> tuple[np.ndarray, np.ndarray]:
    """Stack the crops' windows, resized to their work shape and edge-padded to their (common) bucket."""
    bh, bw = crops[0].bucket
    images = np.empty((len(crops), bh, bw, 3), np.uint8)
    holes = np.empty((len(crops), bh, bw), bool)
    for k, crop in enumerate(crops):
        y0, y1, x0, x1 = crop.window
        image, hole = frames[crop.frame, y0:y1, x0:x1], masks[crop.frame, y0:y1, x0:x1]
        if crop.scaled:
            size = (crop.work_shape[1], crop.work_shape[0])
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            # A low-resolution pixel is a hole if any of the pixels it covers is.
            hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        pad = ((0, bh - image.shape[0]), (0, bw - image.shape[1]))
        images[k] = np.pad(image, (*pad, (0, 0)), mode="edge") if any(p[1] for p in pad) else image
        holes[k] = np.pad(hole, pad, mode="edge") if any(p[1] for p in pad) else hole
    return images, holes


def _paste(out: np.ndarray, frames: np.ndarray, crop: Crop, fill: np.ndarray) -> None:
    """Write the crop's owned hole pixels: the fill, blended with the frame over the feather band."""
    fill = fill[: crop.work_shape[0], : crop.work_shape[1]]
    if crop.scaled:
        h, w = crop.window_shape
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR)
    y0, _, x0, _ = crop.window
    values = fill[crop.ys - y0, crop.xs - x0].astype(np.float32)
    original = frames[crop.frame, crop.ys, crop.xs].astype(np.float32)
    a = crop.alpha[:, None]
    out[crop.frame, crop.ys, crop.xs] = np.rint(a * values + (1.0 - a) * original).astype(np.uint8)
