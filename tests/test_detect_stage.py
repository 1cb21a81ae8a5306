"""The detection stage as the pipeline uses it: batches in and out unchanged in number and order,
masks united with the user's, bounded look-ahead, clear option errors; `fix --detect` end to end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_detect_fixtures import panning_clip

from vidrestore.damage import render_damage
from vidrestore.detect import DETECTOR_KINDS, DamageDetector, DetectOptions, tint_detected
from vidrestore.errors import InputError, OptionError
from vidrestore.frames import FrameBatch


def batches_of(frames: np.ndarray, sizes: list[int], masks: np.ndarray | None = None) -> Iterator[FrameBatch]:
    start = 0
    for size in sizes:
        stop = min(len(frames), start + size)
        yield FrameBatch(
            indices=list(range(start, stop)),
            pts=[1000 + 40 * i for i in range(start, stop)],
            time_base=Fraction(1, 1000),
            frames=frames[start:stop],
            masks=None if masks is None else masks[start:stop].copy(),
        )
        start = stop


@pytest.mark.parametrize("sizes", [[1] * 14, [5, 0, 4, 5], [14]])
def test_frames_come_out_once_in_order_with_their_timing(sizes: list[int]) -> None:
    frames = panning_clip(n=14, height=96, width=128)
    stage = DamageDetector(DetectOptions(logo_frames=6))
    out = list(stage.run(batches_of(frames, sizes)))
    indices = [i for b in out for i in b.indices]
    assert indices == list(range(14))
    assert [p for b in out for p in b.pts] == [1000 + 40 * i for i in range(14)]
    assert np.array_equal(np.concatenate([b.frames for b in out if len(b)]), frames)
    for b in out:
        if len(b):
            assert b.masks is not None and b.masks.shape == (len(b), 96, 128)
            assert set(b.detected) == set(DETECTOR_KINDS)
            assert all(m.shape == (len(b), 96, 128) for m in b.detected.values())
    assert stage.frames_done == 14


@pytest.mark.parametrize("sizes", [[1] * 16, [5, 0, 11]])
def test_worker_threads_change_nothing_in_the_masks(sizes: list[int]) -> None:
    frames = panning_clip(n=16, height=240, width=320, seed=2)
    damaged, _ = render_damage(frames, "blotch", np.random.default_rng(2))
    damaged, _ = render_damage(damaged, "scratch", np.random.default_rng(3))
    options = DetectOptions(logo_frames=10)
    runs = []
    for threads in (True, False):
        out = list(DamageDetector(options, threads=threads).run(batches_of(damaged, sizes)))
        detected = [b.detected for b in out if len(b)]
        runs.append({k: np.concatenate([d[k] for d in detected]) for k in DETECTOR_KINDS})
    for kind in DETECTOR_KINDS:
        assert np.array_equal(runs[0][kind], runs[1][kind]), kind
    assert runs[0]["blotch"].any() and runs[0]["scratch"].any()


def test_detected_damage_is_united_with_user_masks() -> None:
    frames = panning_clip(n=16, height=240, width=320, seed=1)
    damaged = frames.copy()
    cv2.circle(damaged[7], (200, 60), 5, (0, 0, 0), -1)
    user = np.zeros((16, 240, 320), dtype=bool)
    user[:, 200:220, 10:40] = True
    out = list(DamageDetector(DetectOptions(kinds=("blotch",))).run(batches_of(damaged, [4] * 4, user)))
    masks = np.concatenate([b.masks for b in out])
    detected = np.concatenate([b.detected["blotch"] for b in out])
    assert masks[:, 200:220, 10:40].all()  # the user's masks are kept
    assert detected[7, 57:64, 197:204].all() and masks[7, 57:64, 197:204].all()
    assert np.array_equal(masks, user | detected)


def test_summary_reports_share_of_pixels_per_kind() -> None:
    frames = panning_clip(n=16, height=240, width=320, seed=2)
    damaged, true = render_damage(frames, "blotch", np.random.default_rng(0))
    stage = DamageDetector(DetectOptions(kinds=("scratch", "blotch")))
    for _ in stage.run(batches_of(damaged, [8, 8])):
        pass
    summary = stage.summary()
    assert set(summary) == {"scratch", "blotch"}
    assert 0.3 * true.mean() < summary["blotch"] < 3 * true.mean()
    assert summary["scratch"] < 0.001 and stage.frames_done == 16


def test_memory_is_bounded_by_the_lookahead() -> None:
    frames = panning_clip(n=60, height=72, width=96)
    pulled = []

    def source() -> Iterator[FrameBatch]:
        for batch in batches_of(frames, [2] * 30):
            pulled.append(len(batch))
            yield batch

    stage = DamageDetector(DetectOptions(kinds=("scratch", "blotch")))
    most_held = 0
    yielded = 0
    for batch in stage.run(source()):
        yielded += len(batch)
        most_held = max(most_held, sum(pulled) - yielded)
    assert yielded == 60
    assert most_held <= stage.lookahead + 2 * 2


def test_logo_lookahead_is_the_statistics_window_and_one_block() -> None:
    assert DamageDetector(DetectOptions(kinds=("blotch",))).lookahead == 2
    # frames are decided every block of logo_frames // 6 frames, once a full window follows them
    assert DamageDetector(DetectOptions(kinds=("logo", "blotch"), logo_frames=30)).lookahead == 34


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ("scratch", "smudge")}, "unknown damage kind 'smudge'"),
        ({"kinds": ()}, "no damage kind"),
        ({"kinds": ("blotch", "blotch")}, "listed twice"),
        ({"blotch_sensitivity": 0}, "blotch sensitivity must be between"),
        ({"logo_frames": 0}, "logo frames must be a positive whole number"),
    ],
)
def test_bad_options_say_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        DetectOptions(**kwargs)


def test_parse_kinds() -> None:
    assert DetectOptions.parse_kinds(" Scratch, blotch ").kinds == ("scratch", "blotch")


def test_frame_size_change_is_an_input_error() -> None:
    a = panning_clip(n=4, height=64, width=96)
    b = panning_clip(n=4, height=72, width=96)

    def source() -> Iterator[FrameBatch]:
        yield next(batches_of(a, [4]))
        yield next(batches_of(b, [4]))

    with pytest.raises(InputError, match="frame size changed"):
        list(DamageDetector(DetectOptions(kinds=("blotch",))).run(source()))


def test_tinted_preview_marks_detected_pixels_only() -> None:
    frames = np.full((2, 8, 8, 3), 100, np.uint8)
    hit = np.zeros((2, 8, 8), bool)
    hit[1, 2, 3] = True
    out = tint_detected(frames, {"scratch": hit})
    assert (out[1, 2, 3] != 100).any()
    out[1, 2, 3] = 100
    assert (out == 100).all()


def write_video(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = {"preset": "ultrafast", "qp": "0"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def read_video(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_fix_detect_end_to_end(tmp_path: Path) -> None:
    clean = panning_clip(n=16, height=240, width=320, seed=3)
    damaged = clean.copy()
    for t, (x, y) in enumerate([(60, 50), (250, 180), (160, 120)] * 5):
        if 1 <= t <= 14:
            cv2.circle(damaged[t], (x, y), 5, (10, 10, 10), -1)
    source = tmp_path / "damaged.mp4"
    write_video(source, damaged)
    out = tmp_path / "fixed.mp4"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidrestore",
            "fix",
            str(source),
            "--detect",
            "scratch,blotch",
            "--method",
            "telea",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    fixed = read_video(out)
    assert fixed.shape == damaged.shape
    specks = np.abs(damaged.astype(int) - clean.astype(int)).max(axis=-1) > 30
    before = np.abs(damaged.astype(int) - clean.astype(int))[specks].mean()
    after = np.abs(fixed.astype(int) - clean.astype(int))[specks].mean()
    assert after < 0.5 * before  # the specks were found and filled


@pytest.mark.parametrize("box", [(5, 9, 7, 30), (0, 240, 0, 320)])  # a speck; a whole frame
def test_detections_are_added_to_masks_already_set(box: tuple[int, int, int, int]) -> None:
    from vidrestore.detect.mask_merge import blank_masks, merge_mask

    y0, y1, x0, x1 = box
    mask = np.zeros((240, 320), dtype=bool)
    mask[y0:y1, x0:x1] = True
    targets = blank_masks(2, 240, 320)
    targets[1, 100:110, 100:110] = True  # set by the user before detection
    before = targets.copy()
    assert merge_mask(mask, targets[0], targets[1]) == np.count_nonzero(mask)
    assert np.array_equal(targets[0], before[0] | mask) and np.array_equal(targets[1], before[1] | mask)


@pytest.mark.parametrize("grow", [1, 3])
def test_detections_join_the_masks_grown_as_mask_files_are(grow: int) -> None:
    frames = panning_clip(n=16, height=240, width=320, seed=2)
    damaged, _ = render_damage(frames, "blotch", np.random.default_rng(2))
    damaged, _ = render_damage(damaged, "scratch", np.random.default_rng(3))
    user = np.zeros((16, 240, 320), dtype=bool)
    user[:, 200:220, 10:40] = True
    out = list(DamageDetector(DetectOptions(grow=grow)).run(batches_of(damaged, [5, 11], user)))
    masks = np.concatenate([b.masks for b in out])
    found = np.concatenate([np.any([b.detected[k] for k in DETECTOR_KINDS], axis=0) for b in out])
    assert found.any()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    grown = np.stack([cv2.dilate(f.view(np.uint8), disc).view(bool) for f in found])
    assert np.array_equal(masks, user | grown)  # the user's masks as they were, detections grown
    assert not np.array_equal(grown, found)
