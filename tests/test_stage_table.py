"""The job's stage table: every stage, in order, says how far it looks ahead, and keeps to it."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clips import make_clip

from vidrestore.config import FixConfig
from vidrestore.frames import FrameBatch
from vidrestore.inpaint.registry import InpaintOptions
from vidrestore.job import prepare_job
from vidrestore.pipeline import InpaintHoles

FRAMES = 24


@pytest.fixture
def full_job(tmp_path: Path):  # noqa: ANN201 - Job
    """A job with every stage: a box, three detectors, propagation, inpainting, steadying."""
    make_clip(tmp_path / "in.mp4", frames=FRAMES, width=96, height=64, audio=False)
    config = FixConfig(
        input=tmp_path / "in.mp4", output=tmp_path / "out.mp4", boxes=("60,4,20,10",),
        detect=("scratch", "blotch", "logo"), inpaint=InpaintOptions(method="telea"), temporal=True,
    )
    job = prepare_job(config)
    yield job
    job.source.close()


def one_frame_batches(job) -> Iterator[FrameBatch]:  # noqa: ANN001 - Job
    for frame in job.source.frames():
        yield FrameBatch(indices=[frame.index], pts=[frame.pts], time_base=Fraction(1, 25),
                         frames=frame.image[None].copy())


def test_the_table_runs_every_stage_in_order(full_job) -> None:  # noqa: ANN001
    table = full_job.stages
    assert table.chain() == [table.masks, table.detector, table.propagation, table.inpaint, table.steady]
    assert all(stage is not None for stage in table.chain())
    assert table.lookahead == sum(stage.lookahead for stage in table.chain()) >= table.propagation.lookahead


def test_no_stage_holds_more_frames_than_it_declares(full_job) -> None:  # noqa: ANN001
    """Frame t leaves a stage once it has received at most frames up to t + its look-ahead, so the
    declared look-ahead is what the stage holds (the stages see one-frame batches here)."""
    batches: Iterator[FrameBatch] = one_frame_batches(full_job)
    for stage in full_job.stages.chain():
        pulled = [0]

        def counted(source: Iterator[FrameBatch], pulled: list[int] = pulled) -> Iterator[FrameBatch]:
            for batch in source:
                pulled[0] += len(batch)
                yield batch

        def checked(out: Iterator[FrameBatch], stage=stage, pulled: list[int] = pulled):  # noqa: ANN001, ANN202
            for batch in out:
                for index in batch.indices:
                    assert pulled[0] - 1 - index <= stage.lookahead, (type(stage).__name__, index, pulled[0])
                yield batch

        batches = checked(stage.run(counted(batches)))
    written = [i for batch in batches for i in batch.indices]
    assert written == list(range(FRAMES))


def test_a_stage_that_holds_more_than_it_declares_is_caught(full_job) -> None:  # noqa: ANN001
    """The check above can fail: a stage that holds one frame back while declaring none."""

    class HoldsOne(InpaintHoles):
        def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
            held = None
            for batch in batches:
                if held is not None:
                    yield held
                held = batch
            if held is not None:
                yield held

    full_job.stages.steady = HoldsOne(full_job.stages.inpaint.inpainter)
    with pytest.raises(AssertionError, match="HoldsOne"):
        test_no_stage_holds_more_frames_than_it_declares(full_job)


def test_masks_reach_the_inpainter_through_the_table(full_job) -> None:  # noqa: ANN001
    """The box given on the command line is a hole in every frame the inpainter sees."""
    batches: Iterator[FrameBatch] = one_frame_batches(full_job)
    table = full_job.stages
    for stage in [table.masks, table.detector]:
        batches = stage.run(batches)
    for batch in batches:
        assert np.all(batch.masks[:, 4:14, 60:80])


def test_a_bad_mask_fails_before_the_inpainter_is_made(tmp_path: Path) -> None:
    """Making the inpainter loads a model: a wrong-size mask must be refused before that."""
    from clips import write_mask

    from vidrestore.errors import MaskError

    make_clip(tmp_path / "in.mp4", frames=4, width=96, height=64, audio=False)
    write_mask(tmp_path / "small.png", np.ones((10, 10), bool))
    made = []
    config = FixConfig(input=tmp_path / "in.mp4", output=tmp_path / "out.mp4", mask=tmp_path / "small.png")
    with pytest.raises(MaskError):
        prepare_job(config, make_inpainter=lambda options: made.append(options))
    assert made == []
