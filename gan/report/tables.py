"""How results read as table rows, from the JSON the commands write: parity rows (manifest.json)
and bench rows (bench.json). The terminal tables of `gan export`/`verify`/`bench` and the Markdown
of `gan report` use these, so a number reads the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable

# The models a comparison or a bench row is about.
MODEL_LABELS = {"generator": "G", "discriminator": "D", "chain": "D(G(z))"}
# A bench row that did not run, in a few letters; its reason goes into a numbered note.
SHORT_STATUS = {"n/a": "n/a", "unavailable": "unavail.", "error": "ERROR"}
# (header, field, format) of a bench row; the wide ones appear with `gan bench --wide`.
BENCH_COLUMNS = (
    ("median ms", "median_ms", "{:.4f}"),
    ("samples/s", "throughput_per_s", "{:,.0f}"),
    ("vs eager", "speedup_vs_eager", "{:.2f}x"),
    ("% peak", "pct_of_peak", "{:.1f}%"),
)
WIDE_BENCH_COLUMNS = (
    ("p90 ms", "p90_ms", "{:.4f}"),
    ("p99 ms", "p99_ms", "{:.4f}"),
    ("IQR ms", "iqr_ms", "{:.4f}"),
    ("GFLOP/s", "gflops", "{:.1f}"),
    ("cold ms", "cold_ms", "{:.1f}"),
)


def cell(row: dict, field: str, fmt: str) -> str:
    value = row.get(field)
    return "" if value is None else fmt.format(value)


def numbered_notes(reasons: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Each distinct reason once, numbered, so that every table row stays on one line."""
    numbers: dict[str, int] = {}
    for reason in reasons:
        numbers.setdefault(reason, len(numbers) + 1)
    return numbers, [f"[{n}] {reason}" for reason, n in numbers.items()]


def bench_markdown(rows: list[dict]) -> str:
    numbers, notes = numbered_notes(r["reason"] for r in rows if r["status"] != "ok")
    lines = [
        "| workload | backend | batch | status | " + " | ".join(h for h, _, _ in BENCH_COLUMNS) + " |",
        "|---|---|---:|---|" + "---:|" * len(BENCH_COLUMNS),
    ]
    for r in rows:
        if r["status"] != "ok":
            cells = [f"{SHORT_STATUS[r['status']]} [{numbers[r['reason']]}]"] + [""] * len(BENCH_COLUMNS)
        else:
            status = "ok" + (" (noisy)" if r.get("noisy") else "")
            cells = [status] + [cell(r, field, fmt) for _, field, fmt in BENCH_COLUMNS]
        lines.append(f"| {r['workload']} | {r['backend']} | {r['batch_size']} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def parity_markdown(rows: list[dict]) -> str:
    lines = [
        "| model | backend | device | batch | max abs | median abs | max rel | min atol to pass | result |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        errors = (r[key] for key in ("max_abs", "median_abs", "max_rel", "min_passing_atol"))
        cells = [MODEL_LABELS.get(r["model"], r["model"]), r["backend"], r["device"], str(r["batch"])]
        cells += [f"{e:.1e}" for e in errors] + ["pass" if r["passed"] else "FAIL"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_markdown(values: dict) -> str:
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in values.items())
