"""`--track` / `vidrestore track`: one keyframe mask followed through its shot, not across a cut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import read_video

from vidrestore import restore
from vidrestore.track import TrackOptions, _keep_touching, full_size, track
from vidrestore.track_job import track_to_folder

N, CUT, KEY, W, H = 24, 16, 6, 160, 96


def scene(clean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A striped object moving right over a panning textured background; a cut to another shot
    at frame CUT (the object is gone there). Returns frames (without the object: ``clean``) and
    the object's true masks."""
    rng = np.random.default_rng(0)
    back = cv2.GaussianBlur(rng.integers(0, 255, (H, 2 * W, 3), dtype=np.uint8), (9, 9), 3)
    other = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (3, 3), 1) // 3 + 150
    yy, xx = np.mgrid[0:30, 0:36]
    shape = ((yy - 15) / 15) ** 2 + ((xx - 18) / 18) ** 2 < 1
    texture = np.where(((xx // 4) % 2 == 0)[..., None], [230, 40, 30], [250, 220, 20]).astype(np.uint8)
    frames, masks = [], []
    for t in range(N):
        if t >= CUT:
            frames.append(other.copy())
            masks.append(np.zeros((H, W), bool))
            continue
        frame = back[:, 2 * t : 2 * t + W].copy()
        x, y = 20 + 4 * t, 30 + (t % 5)
        if not clean:
            frame[y : y + 30, x : x + 36][shape] = texture[shape]
        mask = np.zeros((H, W), bool)
        mask[y : y + 30, x : x + 36] = shape
        frames.append(frame)
        masks.append(mask)
    return np.stack(frames), np.stack(masks)


def write_video(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "12"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


def test_the_mask_follows_the_object_both_ways_and_stops_at_the_cut() -> None:
    frames, truth = scene()
    found = dict(track(iter(frames), KEY, truth[KEY]))
    assert sorted(found) == list(range(CUT))  # the whole shot, nothing after the cut
    scores = [iou(full_size(found[t], W, H), truth[t]) for t in range(CUT)]
    assert min(scores) > 0.75, np.round(scores, 2)
    assert np.mean(scores) > 0.85


def test_the_colour_refit_keeps_the_mask_on_the_object_where_flow_alone_drifts() -> None:
    frames, truth = scene()
    refit = dict(track(iter(frames), KEY, truth[KEY]))
    flow_only = dict(track(iter(frames), KEY, truth[KEY], TrackOptions(max_change=0.0)))
    ends = (0, CUT - 1)
    with_refit = np.mean([iou(refit[t], truth[t]) for t in ends])
    assert with_refit > np.mean([iou(flow_only[t], truth[t]) for t in ends])


def test_the_refit_keeps_the_part_that_touches_the_object_and_fills_its_holes() -> None:
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:15] = True
    mask[8:10, 8:10] = False  # a hole inside
    mask[2:4, 20:25] = True  # a stray piece elsewhere
    reference = np.zeros_like(mask)
    reference[6, 6] = True
    kept = _keep_touching(mask, reference)
    assert kept.sum() == 100 and kept[8:10, 8:10].all() and not kept[2:4, 20:25].any()


def test_track_writes_one_mask_per_frame_and_a_preview(tmp_path: Path) -> None:
    frames, truth = scene()
    clip, key = tmp_path / "clip.mp4", tmp_path / "key.png"
    write_video(clip, frames)
    cv2.imwrite(str(key), truth[KEY].view(np.uint8) * 255)
    summary = track_to_folder(clip, f"{key}@{KEY}", tmp_path / "masks", preview=tmp_path / "p.mp4")
    files = sorted((tmp_path / "masks").glob("*.png"))
    assert len(files) == N and (summary.first, summary.last, summary.tracked) == (0, CUT - 1, CUT)
    masks = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) >= 128 for f in files])
    assert not masks[CUT:].any() and np.mean([iou(masks[t], truth[t]) for t in range(CUT)]) > 0.8
    with av.open(str(tmp_path / "p.mp4")) as c:
        assert c.streams.video[0].frames == N
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_fix_track_removes_the_object_and_touches_nothing_else(tmp_path: Path) -> None:
    frames, truth = scene()
    clip, key, out = tmp_path / "clip.mkv", tmp_path / "key.png", tmp_path / "out"
    write_video(clip, frames)
    cv2.imwrite(str(key), truth[KEY].view(np.uint8) * 255)
    summary = restore(clip, out, track=f"{key}@{KEY}", method="telea", lossless=True)
    assert any("tracked the mask over 16 of 24 frames" in w for w in summary.warnings)
    result = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(out.glob("*"))])
    decoded = np.stack(read_video(clip)[0])  # as vidrestore decodes it
    near = np.stack([cv2.dilate(m.view(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) for m in truth])
    assert np.array_equal(result[~near], decoded[~near])  # only around the object
    background = scene(clean=True)[0][:CUT][truth[:CUT]].astype(int)
    before = np.abs(decoded[:CUT][truth[:CUT]] - background).mean()
    after = np.abs(result[:CUT][truth[:CUT]] - background).mean()
    assert after < 0.3 * before, (before, after)  # the object is gone, the background is back
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "missing.png@3"], "keyframe mask not found"),
        (["--key", "KEY"], "MASK_IMAGE@FRAME"),
        (["--key", "KEY@99"], "past the last frame"),
    ],
)
def test_bad_track_requests_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    frames, truth = scene()
    clip, key = tmp_path / "clip.mp4", tmp_path / "key.png"
    write_video(clip, frames)
    cv2.imwrite(str(key), truth[KEY].view(np.uint8) * 255)
    args = [a.replace("KEY", str(key)) for a in args]
    result = subprocess.run([sys.executable, "-m", "vidrestore", "track", str(clip), *args, "-o",
                             str(tmp_path / "m")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()
