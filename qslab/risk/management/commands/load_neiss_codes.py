"""Load CPSC's NEISS code tables and the shipped hazard list as taxonomy terms (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from qslab.risk.services import load_neiss_codes, neiss_codes_dir


class Command(BaseCommand):
    help = "Load NEISS products, diagnoses, body parts and dispositions (and the hazard list) as taxonomies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "codes_dir", nargs="?", type=Path, help="folder with products.csv, diagnoses.csv, ..."
        )

    def handle(self, *args: Any, codes_dir: Path | None = None, **options: Any) -> None:
        counts = load_neiss_codes(codes_dir or neiss_codes_dir())
        self.stdout.write(", ".join(f"{kind}: {n} new" for kind, n in counts.items()))
