"""Is the machine quiet? On a few cores another busy process wrecks multi-threaded timings: an
OpenMP region stalls whenever one of its cores is taken, so a 0.3 ms forward pass can read 28 ms
and a speed-up can read twice what it is. A bench records the load before and after it runs and
says in one line when it was not quiet, rather than printing such rows as fact."""

from __future__ import annotations

import os
import time
from pathlib import Path

# Another process using at least this share of one core counts as busy.
BUSY_SHARE = 0.2


def machine_load(sample_s: float = 0.5) -> dict:
    """Load averages, and the other processes that used a core's BUSY_SHARE or more during
    `sample_s` (this process and its children excluded), by name and share of one core."""
    ours = {os.getpid(), *_children(os.getpid())}
    before = _cpu_ticks()
    time.sleep(sample_s)
    after = _cpu_ticks()
    ticks = os.sysconf("SC_CLK_TCK") * sample_s
    busy = sorted(
        (
            {"pid": pid, "name": name, "core_share": round((after[pid][1] - used) / ticks, 2)}
            for pid, (name, used) in before.items()
            if pid in after and pid not in ours and (after[pid][1] - used) / ticks >= BUSY_SHARE
        ),
        key=lambda p: -p["core_share"],
    )
    load1, load5, _ = os.getloadavg()
    return {"loadavg_1m": round(load1, 2), "loadavg_5m": round(load5, 2), "busy_processes": busy}


def quiet(load: dict) -> bool:
    return not load["busy_processes"]


def load_warning(before: dict, after: dict) -> str | None:
    """One line when another process was busy before or after the bench, else None."""
    others = {p["name"]: p["core_share"] for p in [*before["busy_processes"], *after["busy_processes"]]}
    if not others:
        return None
    shown = ", ".join(f"{name} ({share:.0%} of a core)" for name, share in list(others.items())[:3])
    return (
        f"the machine was not quiet ({shown}; load average {after['loadavg_1m']}): multi-threaded "
        "timings stall when a core is taken, so these rows may be slow and their ratios wrong"
    )


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (name, user + system clock ticks so far), for every process readable now."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def _children(pid: int) -> set[int]:
    """Every descendant of `pid` (compile workers, a torchrun's ranks)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
