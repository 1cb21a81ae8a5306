"""Training data: readers for every input kind, bad files skipped, masks, determinism, sampling."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import tv_tensors

from vidrestore.damage import DAMAGE_KINDS
from vidrestore.errors import InputError, OptionError
from vidrestore.train.config import TrainConfig
from vidrestore.train.data import ClipDataset, ResumableSampler, collate_clips, grow_masks, soften_video
from vidrestore.train.sources import (
    _read_with_pyav,
    read_frames,
    read_video_frames,
    scan_sources,
    split_items,
)


def _frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A textured RGB frame whose square moves with i, so clips have motion."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 4 + i * 3) % 256, (y * 5) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    img[10:24, 8 + 2 * i : 22 + 2 * i] = (250, 30, 30)
    return img


def write_video(path: Path, n: int = 12, h: int = 48, w: int = 64) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "10", "g": "4"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_frame(i, h, w), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_dataset(root: Path) -> dict[str, Path]:
    """images/ (PNG, JPEG, WebP, nested, one grey), videos/one.mp4, frames/{a,b}/NNN.png."""
    images = root / "images"
    (images / "deep" / "er").mkdir(parents=True)
    cv2.imwrite(str(images / "a.png"), _frame(0))
    cv2.imwrite(str(images / "deep" / "b.jpg"), _frame(3))
    cv2.imwrite(str(images / "deep" / "er" / "c.webp"), _frame(5))
    cv2.imwrite(str(images / "grey.png"), _frame(1)[..., 0])
    videos = root / "videos"
    videos.mkdir()
    write_video(videos / "one.mp4")
    frames = root / "frames"
    for clip, n in (("a", 6), ("b", 5)):
        (frames / clip).mkdir(parents=True)
        for i in range(n):  # unpadded numbers: natural order must still hold
            cv2.imwrite(str(frames / clip / f"f{i}.png"), cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    return {"images": images, "videos": videos, "frames": frames}


@pytest.fixture
def dataset_dirs(tmp_path: Path) -> dict[str, Path]:
    return write_dataset(tmp_path)


def _dataset(items, **kw) -> ClipDataset:
    args = dict(clip_length=3, crop_size=32, mask_mix={k: 1.0 for k in DAMAGE_KINDS})
    args.update(kw)
    return ClipDataset(items, **args)


def test_scan_finds_every_input_kind(dataset_dirs):
    items, bad = scan_sources(
        [str(dataset_dirs["images"]), str(dataset_dirs["videos"]), f"frames:{dataset_dirs['frames']}"]
    )
    assert bad == 0
    kinds = sorted(i.kind for i in items)
    assert kinds == ["frames", "frames", "image", "image", "image", "image", "video"]
    video = next(i for i in items if i.kind == "video")
    assert video.n_frames == 12
    clip_a = next(i for i in items if i.kind == "frames" and i.path.endswith("a"))
    assert [Path(f).name for f in clip_a.files] == [f"f{i}.png" for i in range(6)]


def test_readers_return_rgb_frames(dataset_dirs):
    items, _ = scan_sources(
        [str(dataset_dirs["images"]), str(dataset_dirs["videos"]), f"frames:{dataset_dirs['frames']}"]
    )
    for item in items:
        frames = read_frames(item, item.start, min(3, item.n_frames))
        assert frames.dtype == np.uint8 and frames.shape[1:] == (48, 64, 3)
    png = next(i for i in items if i.path.endswith("a.png"))
    assert np.array_equal(read_frames(png, 0, 1)[0], _frame(0)[..., ::-1])  # written BGR-swapped
    clip = next(i for i in items if i.kind == "frames")
    assert np.array_equal(read_frames(clip, 2, 2), np.stack([_frame(2), _frame(3)]))


def test_pyav_fallback_matches_decord(dataset_dirs):
    path = str(dataset_dirs["videos"] / "one.mp4")
    wanted = [5, 6, 7]
    via_pyav = _read_with_pyav(path, wanted)
    assert via_pyav.shape == (3, 48, 64, 3)
    assert np.array_equal(read_video_frames(path, wanted), via_pyav)
    assert np.abs(via_pyav[1].astype(int) - _frame(6).astype(int)).mean() < 6  # the right frame


def test_unreadable_files_are_skipped_and_counted(dataset_dirs):
    (dataset_dirs["videos"] / "broken.mp4").write_bytes(b"not a video at all")
    items, bad = scan_sources([str(dataset_dirs["videos"])])
    assert bad == 1 and len(items) == 1
    (dataset_dirs["images"] / "broken.png").write_bytes(b"\x89PNG garbage")
    images, _ = scan_sources([str(dataset_dirs["images"])])
    broken = next(i for i, it in enumerate(images) if it.path.endswith("broken.png"))
    sample = _dataset(images, clip_length=1)[(broken, 0, 0)]
    assert sample["skipped"] == 1 and sample["frames"].shape == (1, 3, 32, 32)


def test_missing_or_empty_data_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scan_sources([str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    items, _ = scan_sources([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="no training images"):
        _dataset(items)
    with pytest.raises(OptionError, match="is a file"):
        scan_sources([f"frames:{write_video(tmp_path / 'v.mp4')}"])


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_masks_of_every_kind_shape_and_coverage(dataset_dirs, kind):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    ds = _dataset(items, clip_length=4, mask_mix={kind: 1.0}, moving_prob=1.0)
    for index in range(4):
        s = ds[(index, 0, 7)]
        assert s["frames"].shape == (4, 3, 32, 32) and s["frames"].dtype == torch.float32
        assert s["masks"].shape == (4, 1, 32, 32)
        assert set(torch.unique(s["masks"]).tolist()) <= {0.0, 1.0}
        coverage = float(s["masks"].mean())
        assert 0.0 < coverage < 1.0 or kind == "box"  # the crop is placed over a hole
        if kind == "logo":  # logos never move
            assert torch.equal(s["masks"][0], s["masks"][-1])


def test_moving_masks_move_and_static_ones_do_not(dataset_dirs):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    moving = _dataset(items, clip_length=5, mask_mix={"blob": 1.0}, moving_prob=1.0)
    static = _dataset(items, clip_length=5, mask_mix={"blob": 1.0}, moving_prob=0.0)
    assert any(not torch.equal(s["masks"][0], s["masks"][-1]) for s in (moving[(i, 0, 1)] for i in range(4)))
    assert all(torch.equal(s["masks"][0], s["masks"][-1]) for s in (static[(i, 0, 1)] for i in range(4)))


def test_same_crop_and_flip_on_every_frame(dataset_dirs):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    ds = _dataset(items, clip_length=3, min_scale=1.0, crop_size=48)
    s = ds[(0, 0, 3)]
    # frames of the clip differ only where the red square moved: the same window was cut from each
    diff = (s["frames"][1] - s["frames"][0]).abs().sum(0)
    assert (diff > 0.1).float().mean() < 0.3


def test_mask_folder(dataset_dirs, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((48, 64), np.uint8)
    m[10:30, 20:40] = 255
    cv2.imwrite(str(masks / "m.png"), m)
    items, _ = scan_sources([str(dataset_dirs["images"])])
    ds = _dataset(items, clip_length=1, mask_dir=str(masks), mask_dir_prob=1.0)
    s = ds[(0, 0, 0)]
    assert s["kind"] == "folder" and 0 < float(s["masks"].mean()) <= 1.0
    with pytest.raises(InputError, match="holds no"):
        _dataset(items, mask_dir=str(dataset_dirs["videos"]))


def test_samples_are_deterministic_and_worker_independent(dataset_dirs):
    items, _ = scan_sources([str(dataset_dirs["images"]), f"frames:{dataset_dirs['frames']}"])
    ds = _dataset(items, clip_length=2, with_flow=True)
    a, b = ds[(3, 1, 5)], ds[(3, 1, 5)]
    assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["masks"], b["masks"])
    assert not torch.equal(ds[(3, 2, 5)]["masks"], a["masks"]) or not torch.equal(
        ds[(3, 2, 5)]["frames"], a["frames"]
    )

    def batches(workers: int) -> list[torch.Tensor]:
        sampler = ResumableSampler(ds, 1, 0, seed=4)
        loader = DataLoader(ds, batch_size=2, sampler=sampler, num_workers=workers, collate_fn=collate_clips)
        return [b["frames"] for b in loader]

    assert all(torch.equal(x, y) for x, y in zip(batches(0), batches(2), strict=True))


def test_collate_mixes_images_and_clips_with_frame_pairs(dataset_dirs):
    items, _ = scan_sources([str(dataset_dirs["images"]), f"frames:{dataset_dirs['frames']}"])
    ds = _dataset(items, clip_length=3, with_flow=True)
    image_index = 0  # items are images first: clips of length 1
    clip_index = len(ds) - 1
    batch = collate_clips([ds[(image_index, 0, 0)], ds[(clip_index, 0, 0)]])
    assert batch["frames"].shape == (4, 3, 32, 32)
    assert batch["prev"].tolist() == [1, 2] and batch["cur"].tolist() == [2, 3]
    assert batch["flow"].shape == (2, 2, 32, 32) and batch["flow_valid"].shape == (2, 1, 32, 32)
    assert float(batch["flow_valid"].mean()) > 0.5


def test_split_holds_out_clip_tails_and_some_images(dataset_dirs):
    items, _ = scan_sources([str(dataset_dirs["images"]), str(dataset_dirs["videos"])])
    train, val = split_items(items, 0.25)
    video_train = next(i for i in train if i.kind == "video")
    video_val = next(i for i in val if i.kind == "video")
    assert (video_train.start, video_train.stop, video_val.start, video_val.stop) == (0, 9, 9, 12)
    assert split_items(items, 0.0) == (items, [])


def test_the_image_split_is_the_same_wherever_the_data_lives(tmp_path):
    for i in range(40):
        for root in ("one", "elsewhere/two"):
            folder = tmp_path / root / ("deep" if i % 3 else "")
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"im{i}.png"), _frame(i % 7))
    held = []
    for root in ("one", "elsewhere/two"):
        items, _ = scan_sources([str(tmp_path / root)])
        held.append(sorted(i.name for i in split_items(items, 0.25)[1]))
    assert held[0] == held[1] and 0 < len(held[0]) < 40


def test_sampler_resumes_mid_epoch_and_splits_ranks(dataset_dirs):
    items, _ = scan_sources([str(dataset_dirs["images"])])
    ds = _dataset(items, clip_length=1, min_length=20)
    full = ResumableSampler(ds, 1, 0, seed=1)
    full.set_epoch(2)
    keys = list(full)
    resumed = ResumableSampler(ds, 1, 0, seed=1)
    resumed.set_epoch(2)
    resumed.set_start(6)
    assert list(resumed) == keys[6:] and len(resumed) == len(keys) - 6
    ranks = [ResumableSampler(ds, 2, r, seed=1) for r in (0, 1)]
    seen = [[k[0] for k in r] for r in ranks]
    assert not set(seen[0]) & set(seen[1]) and len(seen[0]) == len(seen[1]) == 10


def test_grow_masks_widens_holes_like_fix_dilate():
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 10, 10] = True
    masks[1, :, 5] = True  # a 1 px scratch
    assert grow_masks(masks, 0) is masks
    grown = grow_masks(masks, 3)
    assert grown.dtype == bool and (grown >= masks).all()
    assert grown[0, 10, 7:14].all() and not grown[0, 10, 6] and grown[0].sum() < 49  # a disc, not a square
    assert grown[1, 10].sum() == 7


def test_training_holes_can_be_grown_as_fix_grows_them(dataset_dirs):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    kw = dict(clip_length=1, mask_mix={"scratch": 1.0}, min_scale=1.0)
    tight, grown = _dataset(items, **kw), _dataset(items, mask_dilate=3, **kw)
    cover = [[float(ds[(i, 0, 3)]["masks"].mean()) for i in range(12)] for ds in (tight, grown)]
    assert np.mean(cover[1]) > 1.3 * np.mean(cover[0])
    with pytest.raises(OptionError, match="mask-dilate"):
        TrainConfig(data=("x",), mask_dilate=-1)


def _high_frequency(frames: torch.Tensor) -> float:
    """Mean absolute difference between horizontal neighbours: what softening takes away."""
    return float((frames[..., 1:] - frames[..., :-1]).abs().mean())


def test_softened_crops_keep_their_masks_shape_and_motion(dataset_dirs):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    kw = dict(clip_length=3, mask_mix={"blob": 1.0}, min_scale=1.0, crop_size=48, hflip=False)
    sharp, soft = _dataset(items, **kw), _dataset(items, soften=(1.0, 2.0), **kw)
    for i in range(4):
        a, b = sharp[(i, 0, 5)], soft[(i, 0, 5)]
        assert b["frames"].shape == a["frames"].shape and b["frames"].dtype == torch.float32
        assert torch.equal(a["masks"], b["masks"])  # the same crop and holes, only the pixels softened
        assert not torch.equal(a["frames"], b["frames"])  # (how much detail goes: see the next test)
        # every frame of a clip is softened alike, so the clip's motion is kept
        diff = (b["frames"][1] - b["frames"][0]).abs().sum(0)
        assert (diff > 0.1).float().mean() < 0.4


def test_soften_video_removes_detail_finer_than_its_factor():
    rng = np.random.default_rng(0)
    noise = tv_tensors.Video(torch.from_numpy(rng.integers(0, 256, (2, 3, 40, 40), dtype=np.uint8)))
    for factor, most in ((1.5, 0.8), (3.0, 0.5)):
        soft = soften_video(noise, factor)
        assert isinstance(soft, tv_tensors.Video) and soft.dtype == torch.uint8 and soft.shape == noise.shape
        assert _high_frequency(soft.float()) < most * _high_frequency(noise.float())
    assert torch.equal(soften_video(noise, 1.0), noise)


def test_softening_off_draws_nothing_from_the_random_stream(dataset_dirs):
    items, _ = scan_sources([f"frames:{dataset_dirs['frames']}"])
    plain, off = _dataset(items), _dataset(items, soften=(0.0, 3.0))
    for i in range(3):
        assert torch.equal(plain[(i, 0, 7)]["frames"], off[(i, 0, 7)]["frames"])
    with pytest.raises(OptionError, match="soften-prob"):
        TrainConfig(data=("x",), soften_prob=1.5)
    with pytest.raises(OptionError, match="soften-max"):
        TrainConfig(data=("x",), soften_max=0.5)
