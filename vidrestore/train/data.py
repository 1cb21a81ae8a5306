"""Training samples: T-frame clips (images are clips of length 1) with one shared crop, flip and mask.

Every sample is drawn from ``numpy.random.default_rng([seed, epoch, index])``, so the data do not
depend on the number of DataLoader workers or processes and a resumed run sees exactly the
samples it would have seen. Masks are drawn on the whole (resized) frame with the library's
damage generators and cropped with the frame, so hole sizes in pixels match what
`vidrestore eval` paints on full frames; the crop is placed over a hole.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from vidrestore.damage import make_masks
from vidrestore.errors import InputError, OptionError
from vidrestore.models.generator import telea_fill
from vidrestore.temporal.flow import consistent_flow_mask, optical_flow
from vidrestore.train.sources import IMAGE_EXTENSIONS, Item, read_frames, read_image

_MAX_TRIES = 20  # unreadable files are replaced by other samples this many times at most


class MaskFolder:
    """Masks from a folder of images (white = hole), any depth; resized to the frame, static."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"mask folder {root} does not exist")
        self.files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise InputError(f"mask folder {root} holds no PNG/JPEG/WebP images")

    def draw(self, n_frames: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        grey = read_image(self.files[int(rng.integers(len(self.files)))]).max(axis=-1)
        if rng.random() < 0.5:
            grey = grey[:, ::-1]
        hole = cv2.resize(grey, (width, height), interpolation=cv2.INTER_NEAREST) > 127
        return np.repeat(hole[None], n_frames, axis=0)


class ClipDataset(Dataset):
    """Map-style dataset over every clip start of every item; keys are ``(index, epoch, seed)``."""

    def __init__(
        self,
        items: list[Item],
        *,
        clip_length: int,
        crop_size: int,
        mask_mix: dict[str, float],
        min_scale: float = 0.35,
        moving_prob: float = 0.5,
        mask_dir: str | None = None,
        mask_dir_prob: float = 0.5,
        mask_dilate: int = 0,
        hflip: bool = True,
        soften: tuple[float, float] = (0.0, 2.0),
        with_flow: bool = False,
        with_telea: bool = False,
        min_length: int = 0,
    ) -> None:
        if not items:
            raise InputError("no training images or clips found in the given data")
        self.items = items
        self.clip_length = clip_length
        self.crop_size = crop_size
        self.kinds = tuple(mask_mix)
        weights = np.array([mask_mix[k] for k in self.kinds], dtype=np.float64)
        self.kind_p = weights / weights.sum()
        self.min_scale = min_scale
        self.moving_prob = moving_prob
        self.mask_folder = MaskFolder(mask_dir) if mask_dir else None
        self.mask_dir_prob = mask_dir_prob
        self.mask_dilate = mask_dilate
        self.hflip = hflip
        self.soften_prob, self.soften_max = soften
        self.with_flow = with_flow and clip_length > 1
        # The Telea pre-fill a "telea+pyramid" generator starts from: OpenCV on the host, so it is
        # made here, in the loader's workers, rather than in the training step.
        self.with_telea = with_telea
        counts = [max(1, it.n_frames - clip_length + 1) for it in items]
        self._ends = np.cumsum(counts).tolist()
        self.n_real = self._ends[-1]
        # tiny datasets are repeated so that an epoch is long enough to keep workers busy
        self.length = max(self.n_real, min_length)

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> tuple[Item, int, int]:
        """(item, first absolute frame, frame count) of sample ``index``."""
        index %= self.n_real
        k = bisect.bisect_right(self._ends, index)
        item = self.items[k]
        offset = index - (self._ends[k - 1] if k else 0)
        return item, item.start + offset, min(self.clip_length, item.n_frames)

    def __getitem__(self, key: int | tuple[int, int, int]) -> dict[str, Any]:
        index, epoch, seed = key if isinstance(key, tuple) else (key, 0, 0)
        rng = np.random.default_rng([seed, epoch, index])
        skipped = 0
        for _ in range(_MAX_TRIES):
            item, first, count = self.window(index)
            try:
                frames = read_frames(item, first, count)
            except InputError:
                skipped += 1
                index = int(rng.integers(self.n_real))
                continue
            sample = self.make_sample(frames, rng)
            sample["skipped"] = skipped
            return sample
        raise InputError(f"{_MAX_TRIES} training files in a row could not be read; is the data readable?")

    def make_sample(self, frames: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Mask, resize, crop and flip uint8 (T, H, W, 3) frames -> tensors of one training sample.

        Masks are drawn on the full frame, then the frame is resized so that the hole and a
        context band as wide as the hole is thick fit the crop, much as the inference engine
        sizes its windows (thin holes stay at full resolution, thick ones are shrunk).
        """
        t, h, w, _ = frames.shape
        s = self.crop_size
        kind = str(rng.choice(self.kinds, p=self.kind_p))
        if self.mask_folder is not None and rng.random() < self.mask_dir_prob:
            kind = "folder"
            masks = self.mask_folder.draw(t, h, w, rng)
        else:
            masks = make_masks(kind, t, h, w, rng, moving=bool(rng.random() < self.moving_prob))
        if self.mask_dilate > 0:
            masks = grow_masks(masks, int(rng.integers(0, self.mask_dilate + 1)))
        scale = _fitting_scale(masks, s, rng) * float(np.exp(rng.uniform(np.log(0.7), np.log(1.2))))
        scale = min(max(scale, self.min_scale), 1.0)
        scale = max(scale, s / min(h, w))  # frames smaller than the crop are enlarged
        hv, wv = max(s, round(h * scale)), max(s, round(w * scale))
        if (hv, wv) != (h, w):
            masks = np.stack(
                [cv2.resize(m.view(np.uint8), (wv, hv), interpolation=cv2.INTER_NEAREST) for m in masks]
            )
            masks = masks.astype(bool)
        top, left = _crop_over_hole(masks, s, rng)
        masks = masks[:, top : top + s, left : left + s]
        video = tv_tensors.Video(torch.from_numpy(frames).permute(0, 3, 1, 2))
        # the same window of the original frames, resized to the crop, for every frame of the clip
        sy, sx = h / hv, w / wv
        video = TF.resized_crop(
            video,
            round(top * sy),
            round(left * sx),
            max(1, round(s * sy)),
            max(1, round(s * sx)),
            [s, s],
            antialias=True,
        )
        if self.soften_prob > 0 and rng.random() < self.soften_prob:
            video = soften_video(video, float(np.exp(rng.uniform(0.0, np.log(self.soften_max)))))
        mask_t = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(masks)).unsqueeze(1))
        if self.hflip and rng.random() < 0.5:
            video, mask_t = TF.horizontal_flip(video), TF.horizontal_flip(mask_t)
        sample: dict[str, Any] = {
            "frames": TF.to_dtype(video, torch.float32, scale=True).as_subclass(torch.Tensor),
            "masks": mask_t.as_subclass(torch.Tensor).float(),
            "kind": kind,
        }
        if self.with_telea:
            sample["telea"] = telea_fill(sample["frames"] * (1 - sample["masks"]), sample["masks"])
        if self.with_flow and t > 1:
            sample["flow"], sample["flow_valid"] = _clip_flow(video.permute(0, 2, 3, 1).numpy())
        else:
            sample["flow"] = torch.zeros(max(t - 1, 0), 2, s, s)
            sample["flow_valid"] = torch.zeros(max(t - 1, 0), 1, s, s)
        return sample


def soften_video(video: tv_tensors.Video, factor: float) -> tv_tensors.Video:
    """Shrink every frame by ``factor`` and enlarge it back (bicubic): the softness of low-resolution
    video that `fix` enlarges before the network sees it (``small_windows.max_upscale``), which crops of
    sharp photos and 720p frames never show the network otherwise."""
    h, w = video.shape[-2:]
    small = [max(1, round(h / factor)), max(1, round(w / factor))]
    if small == [h, w]:
        return video
    shrunk = TF.resize(video, small, antialias=True)
    return TF.resize(shrunk, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=False)


def grow_masks(masks: np.ndarray, radius: int) -> np.ndarray:
    """Bool (T, H, W) holes grown by ``radius`` px with the ellipse `fix --dilate` uses.

    Inference sees masks grown by `fix --dilate` (3 by default), so thin damage arrives as a wider,
    rounder hole than the mask generators draw; training on grown holes matches what the model meets.
    """
    if radius <= 0:
        return masks
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return np.stack([cv2.dilate(m.view(np.uint8), kernel) for m in masks]).astype(bool)


def _fitting_scale(masks: np.ndarray, crop: int, rng: np.random.Generator) -> float:
    """Resize factor at which a hole of this thickness, with as much context again, fills the crop."""
    union = masks.any(axis=0)
    if not union.any():
        return 1.0
    half_thickness = float(cv2.distanceTransform(union.view(np.uint8), cv2.DIST_L2, 3).max())
    window = 4 * half_thickness + 32  # hole (2 x half) + context of the same width each side + margin
    return crop / window


def _crop_over_hole(masks: np.ndarray, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left of a size x size window that contains a random hole pixel (anywhere if no hole)."""
    _, h, w = masks.shape
    ys, xs = np.nonzero(masks.any(axis=0))
    if len(ys) == 0:
        return int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    k = int(rng.integers(len(ys)))
    top = int(np.clip(ys[k] - rng.integers(size), 0, h - size))
    left = int(np.clip(xs[k] - rng.integers(size), 0, w - size))
    return top, left


def _clip_flow(frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow t -> t-1 on clean uint8 (T, H, W, 3) frames and its forward-backward validity."""
    flows, valid = [], []
    for t in range(1, len(frames)):
        back = optical_flow(frames[t], frames[t - 1])
        fwd = optical_flow(frames[t - 1], frames[t])
        flows.append(torch.from_numpy(back).permute(2, 0, 1))
        valid.append(torch.from_numpy(consistent_flow_mask(back, fwd)).float()[None])
    return torch.stack(flows), torch.stack(valid)


def collate_clips(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Clips of any length -> one frame batch (N3HW) plus the (previous, current) frame pairs
    (and the Telea pre-fill N3HW when the samples carry one)."""
    prev: list[int] = []
    cur: list[int] = []
    offset = 0
    for s in samples:
        n = len(s["frames"])
        prev += range(offset, offset + n - 1)
        cur += range(offset + 1, offset + n)
        offset += n
    batch: dict[str, Any] = {
        "frames": torch.cat([s["frames"] for s in samples]),
        "masks": torch.cat([s["masks"] for s in samples]),
        "flow": torch.cat([s["flow"] for s in samples]),
        "flow_valid": torch.cat([s["flow_valid"] for s in samples]),
        "prev": torch.tensor(prev, dtype=torch.long),
        "cur": torch.tensor(cur, dtype=torch.long),
        "kinds": [s["kind"] for s in samples],
        "skipped": sum(s["skipped"] for s in samples),
    }
    if "telea" in samples[0]:
        batch["telea"] = torch.cat([s["telea"] for s in samples])
    return batch


class ResumableSampler(DistributedSampler):
    """DistributedSampler that yields ``(index, epoch, seed)`` keys and can start mid-epoch.

    Works without an initialised process group when ``num_replicas`` and ``rank`` are given,
    so the same code runs on one CPU and under torchrun.
    """

    def __init__(self, dataset: ClipDataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.start = 0

    def set_start(self, n_samples: int) -> None:
        """Skip the first ``n_samples`` of this epoch (for resuming)."""
        self.start = n_samples

    def __iter__(self) -> Iterator[tuple[int, int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start :]
        return iter([(i, self.epoch, self.seed) for i in indices])

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)


def worker_init(worker_id: int) -> None:
    """One torch thread per worker: the workers are the parallelism.

    (Not ``cv2.setNumThreads``: in a child forked after the parent used OpenCV's thread pool it
    blocks forever.)
    """
    torch.set_num_threads(1)


def check_stride(crop_size: int, stride: int) -> None:
    if crop_size % stride:
        raise OptionError(f"--crop-size {crop_size} must be a multiple of the model's stride {stride}")
