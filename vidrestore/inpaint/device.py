"""Device, precision and batch-size choices for the GAN engine, and out-of-memory detection."""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Iterator

import torch

from vidrestore.errors import OptionError, VidrestoreError
from vidrestore.models.generator import GeneratorConfig

PRECISIONS = {"auto": None, "fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
#: CPU flags (Linux /proc/cpuinfo) of bfloat16 arithmetic in hardware: AVX512-BF16 or AMX
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class DeviceMemoryError(VidrestoreError):
    """The accelerator ran out of memory even for a single crop."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto|cpu|cuda|cuda:N|mps`` -> a usable device; asking for one that is absent is an OptionError."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise OptionError("--device mps was asked for but MPS is not available; use --device cpu or auto")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise OptionError(f"unknown --device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        raise OptionError(
            f"--device {name} was asked for but no CUDA device is available; use --device cpu or auto"
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise OptionError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are present")
    return torch.device("cuda", index)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` on ``device``; None means plain fp32.

    ``auto``: bf16 on a CPU that does bfloat16 in hardware (the network runs 1.3-1.4x faster
    there on one thread and its fill moves by 0.1 grey levels on average), fp32 everywhere else.
    On CUDA, fp16 and bf16 run under autocast. Elsewhere reduced precision is slower or
    unsupported for these convolutions (bf16 without hardware support is emulated), so the run
    stays fp32 and the user is told once.
    """
    if precision not in PRECISIONS:
        raise OptionError(f"unknown --precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    dtype = PRECISIONS[precision]
    if dtype is None:
        return None
    if device.type == "cpu" and dtype is torch.bfloat16 and cpu_has_native_bf16():
        return dtype
    if device.type != "cuda":
        only = "on CUDA and on CPUs with bfloat16 in hardware" if dtype is torch.bfloat16 else "only on CUDA"
        warnings.warn(f"--precision {precision} runs {only}; using fp32 on {device.type}", stacklevel=2)
        return None
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise OptionError("--precision bf16: this GPU does not support bfloat16; use fp16 or fp32")
    return dtype


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU does bfloat16 arithmetic in hardware (read from Linux's /proc/cpuinfo;
    False where that cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in NATIVE_BF16_FLAGS)
    except OSError:
        pass
    return False


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    """Autocast to ``dtype`` on ``device`` (CUDA, or the CPU for bf16), or nothing."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def default_batch_size(device: torch.device, config: GeneratorConfig) -> int:
    """Crops per forward pass: what fits in half the free GPU memory, or a small fixed batch elsewhere.

    On the CPU larger batches do not run faster (both cores are busy at 4 crops) and cost memory.
    """
    if device.type != "cuda":
        return 4
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, min(64, int(0.5 * free // crop_memory_bytes(config))))


def crop_memory_bytes(config: GeneratorConfig) -> int:
    """Rough fp32 activation memory of one working-size crop, with a 2x allowance for the allocator."""
    side = config.working_size
    per_pixel = 4 * 3 * 4  # input, pre-fill pyramid and output images (float32)
    for level, width in enumerate(config.widths, start=1):
        live = 4 if level == len(config.widths) else 3  # features + gate + activation (+ middle residual)
        per_pixel += live * (width + 1) * 4 / 4**level
    return int(2 * side * side * per_pixel)


def default_cpu_threads() -> int:
    """Half of torch's threads for the network on the CPU: ``fix`` decodes and encodes on other threads
    at the same time, and OpenMP threads that must share cores with them stall at every barrier (on 2
    cores, `fix` ran 2.2x faster with 1 thread than with 2). Starting from torch's count, not the core
    count, keeps a batch worker's share (OMP_NUM_THREADS) a share."""
    return max(1, torch.get_num_threads() // 2)


@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads on the CPU, then restore the previous count."""
    previous = torch.get_num_threads()
    if device.type != "cpu" or threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors, which the engine answers by halving the batch."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory error so the smaller retry can use them."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def channels_last_helps(device: torch.device) -> bool:
    """channels_last is ~2x faster for these convolutions with oneDNN on the CPU and on tensor cores."""
    return device.type in ("cpu", "cuda")
