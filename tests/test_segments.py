"""Long videos split into segments: the joined file equals a single pass in frames, timestamps, audio."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from clips import box_mask, make_clip, write_mask

from vidrestore import restore
from vidrestore.segments import plan_segments


def test_plan_prefers_keyframes_and_covers_every_frame() -> None:
    plan = plan_segments(100, [0, 24, 48, 72, 96], 3, overlap=4)
    assert [(s.start, s.stop) for s in plan] == [(0, 24), (24, 72), (72, 100)]
    assert plan[1].read_start == 20 and plan[1].read_stop == 76
    even = plan_segments(10, [0], 4, overlap=0)
    assert [s.start for s in even] == [0, 2, 5, 8] and even[-1].stop == 10
    assert len(plan_segments(2, [0], 5, overlap=1)) == 2


def timeline(path: Path) -> tuple[list[int], list[tuple[int, bytes]]]:
    with av.open(str(path)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
    return pts, audio


@pytest.mark.parametrize("temporal", [True, False])
def test_segmented_run_matches_single_pass(tmp_path: Path, temporal: bool) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=30, width=64, height=48)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(64, 48, (20, 10, 40, 30)))
    one = restore(clip, tmp_path / "one.mp4", mask=mask, method="telea", temporal=temporal)
    split = restore(clip, tmp_path / "split.mp4", mask=mask, method="telea", temporal=temporal,
                    segments=3, workers=2)
    assert split.frames == one.frames == 30 and split.masked_frames == 30
    assert timeline(tmp_path / "split.mp4") == timeline(tmp_path / "one.mp4")
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_segmented_statistics_count_each_frame_once_and_keep_the_parts_reports(tmp_path: Path) -> None:
    """Overlap frames belong to one part's counts; detection figures and warnings come through."""
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=30, width=64, height=48)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(64, 48, (20, 10, 40, 30)))
    options = {"mask": mask, "method": "telea", "temporal": True, "detect": "blotch"}
    one = restore(clip, tmp_path / "one.mp4", **options)
    split = restore(clip, tmp_path / "split.mp4", segments=3, workers=2, **options)
    assert split.masked_fraction == pytest.approx(one.masked_fraction, rel=1e-9)
    assert split.propagated_fraction == pytest.approx(one.propagated_fraction, abs=0.1)
    assert set(split.detected) == set(one.detected) == {"blotch"}
    assert split.detected["blotch"] == pytest.approx(one.detected["blotch"], abs=1e-3)
