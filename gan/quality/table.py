"""Quality results as a rich table and as Markdown, shared by `gan eval` and `gan report`."""

from __future__ import annotations

from rich.table import Table

from gan.quality.metrics import FCD_LABEL


def quality_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        g, floor = r["generated"], r["floor_real_train_vs_test"]
        rows.append(
            [
                r["arch"],
                r["backend"] + ("" if r.get("precision", "fp32") == "fp32" else f" {r['precision']}"),
                f"{g['fcd']:.2f}",
                f"{floor['fcd']:.2f}" if floor else "",
                f"{g['classifier_score']:.2f}",
                f"{floor['classifier_score']:.2f}" if floor else "",
                f"{g['coverage_kl']:.3f}",
                f"{g['label_accuracy']:.1%}" if g.get("label_accuracy") is not None else "",
                f"{r['n']}",
                # A user's own classifier comes without a measured accuracy.
                f"{accuracy:.1%}" if (accuracy := r["classifier"]["test_accuracy"]) is not None else "",
            ]
        )
    return rows


QUALITY_COLUMNS = [
    "arch",
    "backend",
    "FCD (lower is better)",
    "FCD floor (real vs real)",
    "classifier score",
    "score of real data",
    "coverage KL to uniform",
    "label accuracy",
    "n",
    "classifier accuracy",
]


def quality_table(results: list[dict]) -> Table:
    """The rows, captioned with the classifier they were measured with (FCD compares only between
    figures of the same one)."""
    versions = sorted({r["classifier"].get("version", "trained here") for r in results})
    table = Table(title=f"Quality: {FCD_LABEL}", caption=f"feature classifier: {', '.join(versions)}")
    for column in QUALITY_COLUMNS:
        table.add_column(column, justify="left" if column in ("arch", "backend") else "right")
    for row in quality_rows(results):
        table.add_row(*row)
    return table


def quality_markdown(results: list[dict]) -> str:
    lines = ["| " + " | ".join(QUALITY_COLUMNS) + " |", "|" + "---|" * len(QUALITY_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in quality_rows(results)]
    return "\n".join(lines)


def label_accuracy_line(result: dict) -> str | None:
    """A conditional G's accuracy per class ("Bag 91%, ..."), or None for a G without labels."""
    per_class = result["generated"].get("label_accuracy_per_class")
    if per_class is None:
        return None
    names = result.get("classes") or [str(c) for c in range(len(per_class))]
    return "label accuracy per class: " + ", ".join(f"{n} {a:.0%}" for n, a in zip(names, per_class))
