"""`--method checked` (what `auto` picks): each hole group gets the backend that filled a test copy
of it best, so a backend that paints the wrong colour on this content is not used there."""

from __future__ import annotations

import numpy as np

from vidrestore.inpaint.checked import CheckedInpainter, hole_groups


class _Constant:
    """A backend that paints every hole one colour."""

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        out = frames.copy()
        out[masks] = self.value
        return out


def _scene(value: int) -> tuple[np.ndarray, np.ndarray]:
    frames = np.full((2, 64, 96, 3), value, np.uint8)
    masks = np.zeros((2, 64, 96), bool)
    masks[:, 20:30, 30:50] = True
    return frames, masks


def test_the_backend_that_fills_the_test_copy_best_fills_the_hole() -> None:
    frames, masks = _scene(200)
    chooser = CheckedInpainter([_Constant("dark", 10), _Constant("right", 198)])
    out = chooser.inpaint(frames, masks)
    assert (out[masks] == 198).all()
    assert chooser.chosen == {"right": int(masks.sum())}
    # the other way round, the first backend wins: the choice follows the content, not the order
    frames, masks = _scene(12)
    assert (CheckedInpainter([_Constant("dark", 10), _Constant("right", 198)]).inpaint(frames, masks)[masks]
            == 10).all()


def test_pixels_outside_the_holes_are_left_alone() -> None:
    frames, masks = _scene(120)
    frames[:, :, :5] = 7
    out = CheckedInpainter([_Constant("a", 0), _Constant("b", 121)]).inpaint(frames, masks)
    assert np.array_equal(out[~masks], frames[~masks])


def test_test_copies_lie_on_known_pixels_clear_of_every_hole() -> None:
    mask = np.zeros((80, 120), bool)
    mask[10:14, 5:100] = True  # a long thin line near the top edge
    mask[40:60, 50:70] = True  # a box in the middle
    groups = hole_groups(mask)
    assert len(groups) == 2
    for g in groups:
        assert g.probe is not None
        assert int(g.probe.sum()) == int(g.pixels.sum())  # the same shape, moved
        assert not (g.probe & mask).any()
    assert not (groups[0].probe & groups[1].probe).any()


def test_a_hole_with_no_room_for_a_copy_uses_the_first_backend() -> None:
    frames = np.full((1, 20, 20, 3), 50, np.uint8)
    masks = np.ones((1, 20, 20), bool)
    out = CheckedInpainter([_Constant("first", 3), _Constant("second", 50)]).inpaint(frames, masks)
    assert (out == 3).all()


class _Counting(_Constant):
    def __init__(self, name: str, value: int) -> None:
        super().__init__(name, value)
        self.frames_filled = 0

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        self.frames_filled += len(frames)
        return super().inpaint(frames, masks, edges)


def test_a_static_hole_is_tested_while_it_settles_then_rarely() -> None:
    loser, winner = _Counting("loser", 0), _Counting("winner", 200)
    chooser = CheckedInpainter([loser, winner], settle=4, every=8)
    frames, masks = _scene(200)
    for _ in range(10):  # 20 frames, two per call
        chooser.inpaint(frames, masks)
    # tests: frames 1-4, then one in every 8 (frames 12 and 20); the loser fills nothing else
    assert loser.frames_filled == 6
    assert winner.frames_filled == 6 + 20
