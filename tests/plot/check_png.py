"""Prints {"width", "height", "variance", "distinct"} of a PNG (read with matplotlib), for test_plot."""
import json
import sys

import matplotlib.image as mpimg
import numpy as np

img = mpimg.imread(sys.argv[1])
rgb = img[..., :3] if img.ndim == 3 else img
grey = rgb.mean(axis=-1) if rgb.ndim == 3 else rgb
print(json.dumps({"width": int(img.shape[1]), "height": int(img.shape[0]), "variance": float(np.var(grey)),
                  "distinct": int(len(np.unique((rgb.reshape(-1, rgb.shape[-1]) * 255).astype(np.uint8), axis=0)))
                  if rgb.ndim == 3 else int(len(np.unique(grey)))}))
