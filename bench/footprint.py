"""What a loaded model costs in memory: resident memory (RSS) above the process's own baseline, the
peak while a workload runs, and on CUDA the caching allocator's peaks. A bench measures each backend
in a fresh process (gan.bench.isolated), so the baseline is a bare interpreter with the same
imports, and no other runtime's arenas or thread pools are in the figures.

The peak is the kernel's own high-water mark (VmHWM), reset before each workload by writing 5 to
/proc/self/clear_refs: exact, with no sampling thread to take a core from the timed call. Where the
kernel does not allow the reset, the peak is psutil's RSS after the workload, and says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

MB = 2**20
CLEAR_REFS, STATUS = Path("/proc/self/clear_refs"), Path("/proc/self/status")


@dataclass
class Peak:
    """A workload's peaks, in MB: the most RSS it added above what the process held when it
    began (its loaded models are the row's own figure, added by the scenario), and CUDA's
    allocated and reserved."""

    rss_mb: float | None = None
    cuda_allocated_mb: float | None = None
    cuda_reserved_mb: float | None = None


class MemoryProbe:
    """Resident memory of this process above the moment it was made."""

    def __init__(self, device: torch.device):
        self.device = device
        self.process = psutil.Process()
        self.baseline_mb = self._rss_mb()
        self.exact_peak = _can_reset_peak()

    def rss_mb(self) -> float:
        """RSS now, above the baseline."""
        return self._rss_mb() - self.baseline_mb

    @contextlib.contextmanager
    def peak(self):
        """Yields a Peak filled in when the block ends: the highest RSS above the block's start
        and, on CUDA, the allocator's highest allocated and reserved bytes while it ran."""
        peak, start = Peak(), self._rss_mb()
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        if self.exact_peak:
            CLEAR_REFS.write_text("5")
        try:
            yield peak
        finally:
            if cuda:
                torch.cuda.synchronize(self.device)
                peak.cuda_allocated_mb = torch.cuda.max_memory_allocated(self.device) / MB
                peak.cuda_reserved_mb = torch.cuda.max_memory_reserved(self.device) / MB
            high = _high_water_mb() if self.exact_peak else None
            peak.rss_mb = max(0.0, (high if high is not None else self._rss_mb()) - start)

    def _rss_mb(self) -> float:
        return self.process.memory_info().rss / MB


def _can_reset_peak() -> bool:
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _high_water_mb() is not None


def _high_water_mb() -> float | None:
    """VmHWM, the process's peak resident memory since the last reset, in MB."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_method(device: torch.device) -> dict:
    """How the figures were taken, for the results' environment."""
    return {
        "isolated": "each backend, precision and kind of workload in a fresh process",
        "rss": "psutil RSS after loading, above the same process before",
        "peak": "the row's models' RSS plus the most the run added (the kernel's VmHWM, reset "
        "before each row)"
        if _can_reset_peak()
        else "the row's models' RSS plus what the run added by its end (this kernel does not let "
        "the peak be reset)",
        "cuda": "torch.cuda max_memory_allocated/reserved per row" if device.type == "cuda" else None,
    }
