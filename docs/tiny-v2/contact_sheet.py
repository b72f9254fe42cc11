"""Contact sheet of the prediction experiment: per held-out clip, rows truth / velocity / x, frames left to right.

Usage: python docs/tiny-v2/contact_sheet.py SIZE  (reads /tmp/wt-tiny-exp/*.npy, writes docs/tiny-v2/sheet-SIZEpx.png)
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

size = sys.argv[1]
tmp = Path("/tmp/wt-tiny-exp")
rows = []
truth = np.load(tmp / f"truth-{size}.npy")
preds = [np.load(tmp / f"samples-{p}-{size}.npy") for p in ("velocity", "x")]
for i in range(2):
    for v in [truth] + preds:
        rows.append(np.concatenate(list(v[i].transpose(1, 2, 3, 0)), axis=1))
img = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
Image.fromarray(img).quantize(64).save(
    Path(__file__).parent / f"sheet-{size}px.png")
