"""`--precision auto`: the network runs in bf16 only on CPUs that do bfloat16 in hardware, and
its fill there is the fp32 fill within a grey level."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_temporal import texture

from vidrestore.inpaint import device as device_choices
from vidrestore.inpaint.device import resolve_precision
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.models import GENERATOR_VARIANTS, build_generator


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_with_bf16_in_hardware(monkeypatch: pytest.MonkeyPatch,
                                                                    native: bool) -> None:
    monkeypatch.setattr(device_choices, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        assert resolve_precision("auto", cpu) == (torch.bfloat16 if native else None)
        assert resolve_precision("auto", torch.device("cuda")) is None
        assert resolve_precision("fp32", cpu) is None
    if native:
        assert resolve_precision("bf16", cpu) == torch.bfloat16
    else:
        with pytest.warns(UserWarning, match="bf16 runs on CUDA and on CPUs with bfloat16 in hardware"):
            assert resolve_precision("bf16", cpu) is None
    with pytest.warns(UserWarning, match="fp16 runs only on CUDA"):
        assert resolve_precision("fp16", cpu) is None


def test_the_cpu_flags_are_read_from_the_machine() -> None:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line for line in info if line.startswith("flags")), "")
    except OSError:
        pass
    expected = any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    assert device_choices.cpu_has_native_bf16() is expected


def test_a_bf16_fill_is_the_fp32_fill_within_a_grey_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_choices, "cpu_has_native_bf16", lambda: True)
    torch.manual_seed(0)
    model = build_generator(GENERATOR_VARIANTS["tiny-telea"])
    for p in model.parameters():  # a trained-looking model: the residual layer is not zero
        p.data.normal_(0, 0.1)
    frames = np.stack([texture(64, 96, seed) for seed in range(2)])
    masks = np.zeros((2, 64, 96), bool)
    masks[:, 16:40, 20:60] = True
    fills = {}
    for precision in ("fp32", "bf16"):
        engine = GanInpainter(build_generator(GENERATOR_VARIANTS["tiny-telea"]), "cpu", 2, precision)
        engine.model.load_state_dict(model.state_dict())
        fills[precision] = engine.inpaint(frames, masks).astype(np.int16)
    assert (fills["fp32"][~masks] == frames[~masks]).all() and (fills["bf16"][~masks] == frames[~masks]).all()
    difference = np.abs(fills["fp32"] - fills["bf16"])[masks]
    assert difference.mean() < 1.0 and fills["fp32"][masks].std() > 5  # the fill is not flat
