"""Where and how computation runs: device choice, seeds, CPU runtime settings, and the record of the environment.

None of these change what is computed; they make it reproducible, faster, and documented in metrics.json.
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any

import numpy as np
import torch

__all__ = ["environment_info", "resolve_device", "to_memory_format", "tune_cpu_runtime"]


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; any other string is passed to torch."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def set_seed(seed: int) -> None:
    """Seed torch's and numpy's global generators (the reparameterization noise draws from torch's)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


_GLIBC_M_TRIM_THRESHOLD, _GLIBC_M_MMAP_THRESHOLD = -1, -3


def tune_cpu_runtime() -> None:
    """Process-wide CPU settings that make training about 1.3x faster without changing its numbers.

    * Flush denormal floats to zero: tiny gradients otherwise take a slow path on
      x86 (only values below about 1e-38 change).
    * Keep freed memory in glibc's heap: by default the multi-megabyte activation
      buffers go back to the OS after every step and are page-faulted and zeroed
      again on the next one.
    """
    torch.set_flush_denormal(True)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl): nothing more to tune
        return
    libc.mallopt(_GLIBC_M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(_GLIBC_M_TRIM_THRESHOLD, 1 << 30)


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Channels-last images let oneDNN/cuDNN pick faster convolution kernels; values are unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what ``platform`` knows, e.g. 'x86_64'."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Hardware and library versions, for metrics.json and the report's training table."""
    import sklearn
    import torchvision

    device = torch.device(device)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{cpu_name()}, {os.cpu_count()} cores"
    return {
        "device": str(device),
        "hardware": hardware,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        # str(): torch's version is a TorchVersion, which weights_only loading refuses
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": str(np.__version__),
        "scikit-learn": str(sklearn.__version__),
    }
