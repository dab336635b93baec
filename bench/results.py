"""A bench run's results: the environment it ran in, its settings, and one row per workload,
backend and batch. The dataclass saves itself as the JSON that `gan bench --json` writes and
`gan bench compare` and `gan report` read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gan.bench.rows import BenchRow
from gan.errors import GanError
from gan.files.atomic import write_text

# 2: memory and load figures, the server scenario, first_call_ms (1 called it cold_ms). Files of
# format 1 (no "format_version") still load and compare.
FORMAT_VERSION = 2


@dataclass
class BenchResults:
    environment: dict
    config: dict
    rows: list[BenchRow]

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "environment": self.environment,
            "config": self.config,
            "results": [r.to_dict() for r in self.rows],
        }

    def save(self, path: Path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> BenchResults:
        """A saved run, with every row checked, or one line saying what is wrong."""
        try:
            data = json.loads(Path(path).read_text())
            version = data.get("format_version", 1)
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise GanError(
                    f"{path} is bench results of format {version}, newer than this toolkit reads "
                    f"({FORMAT_VERSION}): upgrade gan-toolkit"
                )
            rows = [BenchRow.from_dict(r) for r in data["results"]]
            data["environment"]["device_name"], data["config"]["device"]
            return cls(data["environment"], data["config"], rows)
        except FileNotFoundError:
            raise GanError(f"bench results {path} do not exist") from None
        except IsADirectoryError:
            raise GanError(f"bench results {path} is a directory, not a file") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise GanError(
                f"{path} is not a gan bench results file ({type(error).__name__}: {error})"
            ) from None

    @property
    def failed_named_rows(self) -> list[BenchRow]:
        """Rows that failed (error), and rows of a backend the user named in --backends that
        could not run here (unavailable): `gan bench` exits 1 on them."""
        named = self.config.get("backends_named") or []
        return [
            r for r in self.rows if r.status == "error" or (r.status == "unavailable" and r.backend in named)
        ]
