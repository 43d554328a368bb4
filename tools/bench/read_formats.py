#!/usr/bin/python3
"""Inputs for tools/bench/read_formats.sh, and the Python peer that reads them.

  read_formats.py make-mintpy OUT.h5 --dates 200 --rows 1500 --cols 1300
  read_formats.py make-egms OUT.csv --points 1000000 --dates 100
  read_formats.py peer-mintpy FILE.h5      # h5py + NumPy: the cube to a points x dates array in mm
  read_formats.py peer-egms FILE.csv       # pandas.read_csv: the date columns to a points x dates array

The peers do what a Python user does to get the same points x dates array (mm, pixels with
at least two valid epochs) that hlstm reads, and print `seconds S peak_mib M points N`.
"""
import argparse
import resource
import sys
import time

import numpy as np


def dates_of(m):
    d0 = np.datetime64("2019-01-03")
    return [str(d0 + np.timedelta64(12 * t, "D")).replace("-", "") for t in range(m)]


def make_mintpy(path, m, rows, cols):
    import h5py
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:rows, 0:cols]
    velocity = -60.0 * np.exp(-(((yy - rows * 0.4) / (rows * 0.15)) ** 2 + ((xx - cols * 0.6) / (cols * 0.2)) ** 2))
    water = (xx < cols * 0.15) & (yy > rows * 0.7)  # no data in every epoch
    with h5py.File(path + ".tmp", "w") as f:
        ds = f.create_dataset("timeseries", (m, rows, cols), dtype="float32")
        for t in range(m):
            years = 12.0 * t / 365.25
            plane = (velocity * years + rng.normal(0, 2.0, (rows, cols))) / 1000.0  # metres
            plane[water] = np.nan
            ds[t] = plane.astype(np.float32)
        f.create_dataset("date", data=np.array(dates_of(m), dtype="S8"))
        f.create_dataset("bperp", data=np.zeros(m, dtype=np.float32))
        attrs = {"FILE_TYPE": "timeseries", "LENGTH": rows, "WIDTH": cols, "X_FIRST": 116.0, "Y_FIRST": 39.0,
                 "X_STEP": 0.000833333, "Y_STEP": -0.000833333, "X_UNIT": "degrees", "Y_UNIT": "degrees",
                 "UNIT": "m", "EPSG": 4326, "REF_DATE": dates_of(m)[0], "PROCESSOR": "mintpy"}
        for k, v in attrs.items():
            f.attrs[k] = str(v)
    import os
    os.replace(path + ".tmp", path)


def make_egms(path, n, m):
    # The date columns of 4096 distinct series, each reused by every 4096th point (formatting
    # 10^8 numbers one by one in Python would take longer than the benchmark itself).
    rng = np.random.default_rng(11)
    names = dates_of(m)
    header = ("pid,mp_type,latitude,longitude,easting,northing,height,rmse,temporal_coherence,mean_velocity,"
              "mean_velocity_std," + ",".join(names))
    pool = 4096
    vel = -20.0 * np.sin(np.arange(pool) / 300.0)
    series = vel[:, None] * (np.arange(m)[None, :] * 12 / 365.25) + rng.normal(0, 2.0, (pool, m))
    tails = ["," + ",".join(f"{v:.2f}" for v in row) for row in series]
    velocity = [f"{v:.2f}" for v in vel]
    side = int(np.ceil(np.sqrt(n)))
    with open(path + ".tmp", "w") as out:
        out.write(header + "\n")
        block = 100000
        for start in range(0, n, block):
            idx = range(start, min(n, start + block))
            out.write("".join(
                f"P{i:09d},PS,{45.0 + (i // side) * 0.0002:.7f},{10.0 + (i % side) * 0.0002:.7f},,,100.0,1.2,0.8,"
                f"{velocity[i % pool]},0.5{tails[i % pool]}\n" for i in idx))
    import os
    os.replace(path + ".tmp", path)


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peer_mintpy(path):
    import h5py
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        cube = f["timeseries"][()]                      # (m, rows, cols), metres
    m = cube.shape[0]
    points = cube.reshape(m, -1).T                       # pixels x dates (a view)
    valid = np.isfinite(points).sum(axis=1) >= 2
    mm = points[valid] * np.float32(1000.0)              # points x dates, mm
    seconds = time.perf_counter() - t0
    print(f"seconds {seconds:.2f} peak_mib {peak_mib():.0f} points {mm.shape[0]}")


def peer_egms(path):
    import pandas as pd
    t0 = time.perf_counter()
    header = open(path).readline().strip().split(",")
    dates = [c for c in header if len(c) == 8 and c.isdigit()]
    frame = pd.read_csv(path, dtype={c: np.float32 for c in dates})
    mm = frame[dates].to_numpy(dtype=np.float32)
    valid = np.isfinite(mm).sum(axis=1) >= 2
    mm = mm[valid]
    seconds = time.perf_counter() - t0
    print(f"seconds {seconds:.2f} peak_mib {peak_mib():.0f} points {mm.shape[0]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["make-mintpy", "make-egms", "peer-mintpy", "peer-egms"])
    p.add_argument("path")
    p.add_argument("--dates", type=int, default=200)
    p.add_argument("--rows", type=int, default=1500)
    p.add_argument("--cols", type=int, default=1300)
    p.add_argument("--points", type=int, default=1000000)
    a = p.parse_args()
    if a.what == "make-mintpy":
        make_mintpy(a.path, a.dates, a.rows, a.cols)
    elif a.what == "make-egms":
        make_egms(a.path, a.points, a.dates)
    elif a.what == "peer-mintpy":
        peer_mintpy(a.path)
    else:
        peer_egms(a.path)


if __name__ == "__main__":
    sys.exit(main())
