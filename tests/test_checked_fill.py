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


def _tested_frames(chooser: CheckedInpainter, loser: _Counting, calls: int, value: int = 200) -> list[int]:
    """Frames (two per call) on which the chooser ran its test fills."""
    tested = []
    for call in range(calls):
        before = loser.frames_filled
        frames, masks = _scene(value)
        chooser.inpaint(frames, masks)
        tested += [2 * call + k for k in range(loser.frames_filled - before)]
    return tested


def test_a_static_hole_is_tested_while_it_settles_then_rarely() -> None:
    loser, winner = _Counting("loser", 0), _Counting("winner", 200)
    chooser = CheckedInpainter([loser, winner], settle=4, every=8, longest=32)
    # tests: frames 0-3, then after 8 frames, and as the winner holds after 16, 32, 32, ...
    assert _tested_frames(chooser, loser, 50) == [0, 1, 2, 3, 10, 26, 58, 90]
    assert winner.frames_filled == 8 + 100  # the loser filled no real hole


def test_a_settled_place_whose_best_backend_changes_is_tested_often_again() -> None:
    dark, light = _Counting("dark", 10), _Counting("light", 200)
    chooser = CheckedInpainter([dark, light], settle=4, every=8, longest=32)
    _tested_frames(chooser, dark, 40, value=200)  # settled on "light", interval grown to 32
    assert chooser.places[0].interval == 32
    for _ in range(40):  # the content under the place turns dark: "dark" wins a later test
        chooser.inpaint(*_scene(12))
        if chooser.places[0].winner == 0:
            break
    assert chooser.places[0].winner == 0 and chooser.places[0].interval == 8


def test_a_hole_that_jitters_stays_one_place_and_a_long_batch_tests_only_while_settling() -> None:
    """Propagation fills a little of a static hole's rim now and then, so its box moves by a few
    pixels; that is still the same place (before: a new place, tested again from scratch)."""
    loser, winner = _Counting("loser", 0), _Counting("winner", 200)
    chooser = CheckedInpainter([loser, winner], settle=4, every=8)
    frames = np.full((8, 64, 96, 3), 200, np.uint8)
    for call in range(3):  # 24 frames, eight per call
        masks = np.zeros((8, 64, 96), bool)
        for i in range(8):
            jitter = (call * 8 + i) % 5  # crosses the old 16-px key boundaries
            masks[i, 14 + jitter : 30, 30 + jitter : 50] = True
        chooser.inpaint(frames, masks)
    # tests: frames 0-3 of the first call, then once after 8 frames (frame 11); the next is due
    # 16 frames later, past the end
    assert loser.frames_filled == 4 + 1
    assert len(chooser.places) == 1


def test_places_a_moving_hole_left_behind_are_forgotten() -> None:
    chooser = CheckedInpainter([_Constant("a", 0), _Constant("b", 200)])
    frames = np.full((1, 64, 400, 3), 200, np.uint8)
    for step in range(30):
        masks = np.zeros((1, 64, 400), bool)
        masks[0, 20:30, 10 * step : 10 * step + 8] = True
        chooser.inpaint(frames, masks)
    assert len(chooser.places) <= 5  # not one per position ever met


class _Recording(_Constant):
    def __init__(self, name: str, value: int) -> None:
        super().__init__(name, value)
        self.masks: list[np.ndarray] = []

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        self.masks.append(masks.copy())
        return super().inpaint(frames, masks, edges)


def test_each_backend_sees_every_hole_near_what_it_fills_masked_and_fills_little_else() -> None:
    """Two far-apart holes on different content get different backends; each backend's calls
    keep all damage near its fills masked (it reads none), and leave the far hole alone."""
    frames = np.full((1, 64, 400, 3), 12, np.uint8)
    frames[:, :, 200:] = 200
    masks = np.zeros((1, 64, 400), bool)
    masks[0, 20:30, 40:60] = True  # on dark content
    masks[0, 20:30, 330:350] = True  # on light content
    dark, light = _Recording("dark", 10), _Recording("light", 198)
    out = CheckedInpainter([dark, light]).inpaint(frames, masks)
    assert (out[0, 20:30, 40:60] == 10).all() and (out[0, 20:30, 330:350] == 198).all()
    fill_dark, fill_light = dark.masks[-1][0], light.masks[-1][0]  # the calls for the real holes
    assert fill_dark[20:30, 40:60].all() and not fill_dark[:, 200:].any()
    assert fill_light[20:30, 330:350].all() and not fill_light[:, :200].any()


def test_two_test_copies_sit_on_both_sides_and_neither_touches_a_hole() -> None:
    mask = np.zeros((60, 120), bool)
    mask[20:30, 50:70] = True
    (one,) = hole_groups(mask, copies=1)
    (two,) = hole_groups(mask, copies=2)
    assert int(two.probe.sum()) == 2 * int(one.probe.sum()) and not (two.probe & mask).any()
    assert two.probe[:, :50].any() and two.probe[:, 70:].any()  # left and right of the hole


def test_the_first_backend_keeps_a_hole_unless_another_is_clearly_better() -> None:
    """One copy beside a hole is a noisy test: a 10% lower error is not enough to leave the
    generator, a 4x lower one is."""
    frames, masks = _scene(100)
    close = [_Constant("generator", 120), _Constant("other", 81)]  # squared errors 400 and 361
    assert (CheckedInpainter(close).inpaint(frames, masks)[masks] == 120).all()
    assert (CheckedInpainter(close, first_weight=1.0).inpaint(frames, masks)[masks] == 81).all()
    clear = [_Constant("generator", 120), _Constant("other", 90)]  # 400 and 100
    assert (CheckedInpainter(clear).inpaint(frames, masks)[masks] == 90).all()
