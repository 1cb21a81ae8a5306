"""Boxes around masks, the one definition the stages share."""

from __future__ import annotations

import numpy as np

from vidrestore.geometry import bounding_box, grown_box, margin_box


def test_boxes_are_end_exclusive_grow_inside_the_image_and_are_none_for_empty_masks() -> None:
    mask = np.zeros((20, 30), bool)
    assert bounding_box(mask) is None and margin_box(mask, 5) is None
    mask[3:7, 10:12] = True
    assert bounding_box(mask) == (3, 7, 10, 12)
    assert grown_box((3, 7, 10, 12), 5, mask.shape) == (0, 12, 5, 17)
    assert margin_box(mask, 100) == (0, 20, 0, 30)
