"""Regenerate the bundled samples (src/worldstereo/assets/samples/) from their seeds.

Run after changing the synthetic engine or a sample spec: `python tools/build_samples.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from worldstereo.data.samples import SPECS, build_sample, write_sample

ROOT = Path(__file__).resolve().parents[1] / "src" / "worldstereo" / "assets" / "samples"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in SPECS:
        paths = write_sample(build_sample(name), ROOT / name)
        logging.info("%s: %s", name, ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in paths))


if __name__ == "__main__":
    main()
