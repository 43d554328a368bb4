#!/usr/bin/python3
"""Writes one small InSAR scene in every input form hlstm reads (README: "Input: the archives users have"), the way
each tool writes it, plus malformed variants and the expected content (tests/data/test_formats.cpp).

usage: make_fixtures.py OUTDIR [--rows 30] [--cols 40] [--dates 24] [--seed 3]

The scene is a geographic grid: pixel centres lon = 116.50 + 0.0005 * col,
lat = 38.40 - 0.0005 * row (row 0 north); dates every 12 days from 20190103. Displacement (mm):
two subsidence bowls (one accelerating), a seasonal term and noise; a rectangle of all-NaN
pixels ("water"), one pixel with a single valid epoch, one with exactly two, ~3 % random gaps.
Every value is a multiple of 0.001 mm and never exactly 0 (a NO_DATA_VALUE of 0 or HDF-EOS5's
MissingValue 0 cannot hide a real value), so every form decodes to the same mm within 0.01 mm.

Points (native, EGMS CSV, expected.h5) are the pixels with >= 2 finite epochs, in row-major
pixel order; a point's id is its pixel index row * cols + col.

Files: native.h5, mintpy_geo.h5, mintpy_geo_nodata.h5, mintpy_radar.h5 + geometryRadar.h5,
maskTempCoh.h5, mintpy.he5, cum.h5, egms_l2b.csv, egms_l3.csv, bad_*.{h5,csv}, expected.h5,
manifest.json and manifest.txt (the same list, tab-separated, '-' for none).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import h5py
import numpy as np

LON0, LAT0, STEP = 116.50, 38.40, 0.0005
FIRST_DATE = datetime.date(2019, 1, 3)
SPACING_DAYS = 12
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

L2B_COLUMNS = ["pid", "mp_type", "latitude", "longitude", "easting", "northing", "height", "height_wgs84",
               "line", "pixel", "rmse", "temporal_coherence", "amplitude_dispersion", "incidence_angle",
               "track_angle", "los_east", "los_north", "los_up", "mean_velocity", "mean_velocity_std",
               "acceleration", "acceleration_std", "seasonality", "seasonality_std"]
L3_COLUMNS = ["pid", "easting", "northing", "height", "rmse", "mean_velocity", "mean_velocity_std",
              "acceleration", "acceleration_std", "seasonality", "seasonality_std"]


# ------------------------------------------------------------------------------------------------
# The scene.
class Scene:
    def __init__(self, rows, cols, m, seed):
        rng = np.random.default_rng(seed)
        self.rows, self.cols, self.m = rows, cols, m
        days = SPACING_DAYS * np.arange(m)
        self.date_strs = [(FIRST_DATE + datetime.timedelta(days=int(d))).strftime("%Y%m%d") for d in days]
        self.dates = np.array([int(s) for s in self.date_strs], dtype=np.int32)
        self.years = days / 365.25
        self.bperp = rng.uniform(-150.0, 150.0, m).astype(np.float32)

        r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
        size = max(rows, cols)

        def bowl(r0, c0, radius):
            return np.exp(-((r - r0) ** 2 + (c - c0) ** 2) / (2.0 * radius ** 2))

        b1, b2 = bowl(0.35 * rows, 0.30 * cols, 0.15 * size), bowl(0.70 * rows, 0.72 * cols, 0.10 * size)
        velocity = -80.0 * b1 - 35.0 * b2 - 2.0                   # mm/yr
        acceleration = -30.0 * b2                                 # mm/yr^2: the second bowl speeds up
        amplitude = 3.0 + 2.0 * rng.random((rows, cols))          # seasonal, mm
        phase = 2.0 * np.pi * rng.random((rows, cols))
        t = self.years[:, None, None]
        seasonal = amplitude * (np.sin(2 * np.pi * t + phase) - np.sin(phase))
        signal = velocity * t + 0.5 * acceleration * t ** 2 + seasonal
        mm = np.round(signal + rng.normal(0.0, 1.5, (m, rows, cols)), 3)
        mm[mm == 0.0] = 0.001

        # Reference pixel (MintPy REF_Y/REF_X, LiCSBAS refarea): always observed.
        self.ref_y, self.ref_x = min(5, rows - 1), min(10, cols - 1)
        missing = rng.random((m, rows, cols)) < 0.03
        self.water = (slice(int(0.60 * rows), max(int(0.85 * rows), int(0.60 * rows) + 1)),
                      slice(int(0.05 * cols), max(int(0.25 * cols), int(0.05 * cols) + 1)))
        missing[(slice(None),) + self.water] = True
        self.single = (1, cols - 2)                               # one valid epoch: not a point
        missing[:, self.single[0], self.single[1]] = True
        missing[m // 2, self.single[0], self.single[1]] = False
        self.single_kept = (3, 1)                                 # the same inside the mask: too few epochs
        missing[:, self.single_kept[0], self.single_kept[1]] = True
        missing[m // 3, self.single_kept[0], self.single_kept[1]] = False
        self.two = (2, cols - 3)                                  # exactly two valid epochs: a point
        missing[:, self.two[0], self.two[1]] = True
        missing[[1, m - 2], self.two[0], self.two[1]] = False
        missing[:, self.ref_y, self.ref_x] = False
        mm[missing] = np.nan
        self.mm = mm                                              # float64, (m, rows, cols), NaN = no data

        # What the files hold: mm in float32; MintPy metres in float32 (the reader multiplies by 1000).
        self.mm32 = mm.astype(np.float32)
        self.metres32 = (mm / 1000.0).astype(np.float32)
        decoded = self.metres32 * np.float32(1000.0)
        err = np.nanmax(np.abs(decoded.astype(np.float64) - self.mm32))
        assert err < 1e-3, f"metres do not decode to mm within 0.001 mm ({err})"

        self.col_grid, self.row_grid = np.meshgrid(np.arange(cols), np.arange(rows))
        self.lon_grid = LON0 + STEP * self.col_grid
        self.lat_grid = LAT0 - STEP * self.row_grid
        valid = np.isfinite(mm).sum(axis=0)
        self.ids = np.flatnonzero((valid >= 2).ravel()).astype(np.int64)
        self.prow, self.pcol = self.ids // cols, self.ids % cols
        self.lon, self.lat = LON0 + STEP * self.pcol, LAT0 - STEP * self.prow
        self.point_mm = self.mm[:, self.prow, self.pcol].T        # (n, m) float64
        self.mask = self.col_grid < (3 * cols) // 4               # maskTempCoh: left 3/4 of columns
        self.mask_ids = self.ids[self.mask.ravel()[self.ids]]
        self.pids = [pid_of(i) for i in self.ids]

    @property
    def n(self):
        return len(self.ids)


def pid_of(pixel_id):
    """A 10-character base62 EGMS-like point id, unique per pixel."""
    value = 3 * 62 ** 9 + 1234567890123 + 104729 * int(pixel_id)
    digits = []
    for _ in range(10):
        value, d = divmod(value, 62)
        digits.append(BASE62[d])
    assert value == 0
    return "".join(reversed(digits))


def velocity_fit(years, series):
    """Least-squares velocity (mm/yr) of each row of `series` (n, m), NaN skipped."""
    w = np.isfinite(series)
    y = np.where(w, series, 0.0)
    t = np.broadcast_to(years, series.shape)
    cnt = w.sum(axis=1)
    tm = (w * t).sum(axis=1) / cnt
    ym = y.sum(axis=1) / cnt
    dt = np.where(w, t - tm[:, None], 0.0)
    vel = (dt * (y - ym[:, None])).sum(axis=1) / np.maximum((dt * dt).sum(axis=1), 1e-12)
    return vel


# ------------------------------------------------------------------------------------------------
# MintPy.
def mintpy_attrs(s, geocoded=True):
    """Root attributes as MintPy writes them: every value str(value)."""
    a = {
        "FILE_TYPE": "timeseries", "LENGTH": str(s.rows), "WIDTH": str(s.cols), "UNIT": "m",
        "DATA_TYPE": "float32", "PROCESSOR": "mintpy", "PLATFORM": "Sen", "ORBIT_DIRECTION": "ASCENDING",
        "WAVELENGTH": "0.05546576", "ANTENNA_SIDE": "-1", "REF_DATE": s.date_strs[0],
        "REF_Y": str(s.ref_y), "REF_X": str(s.ref_x), "START_DATE": s.date_strs[0], "END_DATE": s.date_strs[-1],
    }
    if geocoded:
        a.update({
            "X_FIRST": str(LON0 - STEP / 2), "Y_FIRST": str(LAT0 + STEP / 2),
            "X_STEP": str(STEP), "Y_STEP": str(-STEP), "X_UNIT": "degrees", "Y_UNIT": "degrees", "EPSG": "4326",
            "REF_LAT": str(LAT0 - STEP * s.ref_y), "REF_LON": str(LON0 + STEP * s.ref_x),
        })
    return a


def write_attrs(obj, attrs):
    for key, value in attrs.items():
        obj.attrs[key] = value


def write_mintpy(path, s, attrs, values=None, with_date=True, **dataset_options):
    with h5py.File(path, "w") as f:
        f.create_dataset("timeseries", data=s.metres32 if values is None else values, **dataset_options)
        if with_date:
            f.create_dataset("date", data=np.array(s.date_strs, dtype=np.bytes_))
        f.create_dataset("bperp", data=s.bperp)
        write_attrs(f, attrs)


def write_geometry_radar(path, s):
    with h5py.File(path, "w") as f:
        f.create_dataset("latitude", data=s.lat_grid.astype(np.float32))
        f.create_dataset("longitude", data=s.lon_grid.astype(np.float32))
        f.create_dataset("height", data=(25.0 + 0.01 * s.row_grid).astype(np.float32))
        write_attrs(f, {"FILE_TYPE": "geometry", "LENGTH": str(s.rows), "WIDTH": str(s.cols)})


def write_mask(path, s):
    with h5py.File(path, "w") as f:
        f.create_dataset("mask", data=s.mask)
        write_attrs(f, {"FILE_TYPE": "mask", "LENGTH": str(s.rows), "WIDTH": str(s.cols)})


def write_hdfeos5(path, s):
    """As mintpy save_hdfeos5.py lays it out, but uncompressed (it uses LZF by default)."""
    zero = np.float32(0.0)
    with h5py.File(path, "w") as f:
        obs = f.create_group("HDFEOS/GRIDS/timeseries/observation")
        d = obs.create_dataset("displacement", data=s.metres32, chunks=True, maxshape=(None, s.rows, s.cols))
        write_attrs(d, {"Title": "displacement", "MissingValue": zero, "_FillValue": zero, "Units": "meters"})
        obs.create_dataset("date", data=np.array(s.date_strs, dtype=np.bytes_))
        obs.create_dataset("bperp", data=s.bperp)
        f.create_group("HDFEOS/GRIDS/timeseries/quality").create_dataset("mask", data=s.mask, chunks=True)
        f.create_group("HDFEOS/GRIDS/timeseries/geometry").create_dataset(
            "height", data=(25.0 + 0.01 * s.row_grid).astype(np.float32), chunks=True)
        attrs = mintpy_attrs(s)
        attrs["FILE_TYPE"] = "HDFEOS"
        write_attrs(f, attrs)
        # save_hdfeos5.py also writes a few UNAVCO attributes as numbers, not strings.
        write_attrs(f, {"beam_swath": 1, "relative_orbit": 142, "prf": 486.486, "wavelength": 0.05546576,
                        "processing_software": "isce", "first_date": "2019-01-03"})


# ------------------------------------------------------------------------------------------------
# LiCSBAS.
def write_licsbas(path, s, post_lat=-STEP):
    """As LiCSBAS13_sb_inv.py writes cum.h5 (geocoded): mm, NaN for no data."""
    flat = s.mm.reshape(s.m, -1).T
    vel = np.full(s.rows * s.cols, np.nan)
    ok = np.isfinite(flat).sum(axis=1) >= 2
    vel[ok] = velocity_fit(s.years, flat[ok])
    with h5py.File(path, "w") as f:
        f.create_dataset("imdates", data=s.dates)
        f.create_dataset("bperp", data=s.bperp.astype(np.float64))
        f.create_dataset("cum", data=s.mm32)
        f.create_dataset("vel", data=vel.reshape(s.rows, s.cols).astype(np.float32))
        f.create_dataset("vintercept", data=np.zeros((s.rows, s.cols), np.float32))
        f.create_dataset("gap", data=np.zeros((s.m - 1, s.rows, s.cols), np.int8))
        f.create_dataset("refarea", data=f"{s.ref_x}:{s.ref_x + 1}/{s.ref_y}:{s.ref_y + 1}")
        f.create_dataset("corner_lat", data=LAT0)
        f.create_dataset("corner_lon", data=LON0)
        f.create_dataset("post_lat", data=float(post_lat))
        f.create_dataset("post_lon", data=STEP)


# ------------------------------------------------------------------------------------------------
# EGMS.
def etrs89_laea(lat, lon):
    """(easting, northing) strings in EPSG:3035 with 4 decimals, computed by cs2cs. cs2cs follows
    the authority axis order (EPSG:4326 lat, lon; EPSG:3035 northing, easting): a probe at the
    projection centre (52 N, 10 E -> E 4321000, N 3210000) checks which order came out."""
    text = "52 10\n" + "".join(f"{la:.10f} {lo:.10f}\n" for la, lo in zip(lat, lon))
    out = subprocess.run(["cs2cs", "-f", "%.4f", "EPSG:4326", "EPSG:3035"], input=text, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    probe = out[0].split()
    if abs(float(probe[0]) - 3210000) < 1 and abs(float(probe[1]) - 4321000) < 1:
        first_is_northing = True
    elif abs(float(probe[0]) - 4321000) < 1 and abs(float(probe[1]) - 3210000) < 1:
        first_is_northing = False
    else:
        sys.exit(f"cs2cs: unexpected output for the probe point: {out[0]!r}")
    east, north = [], []
    for line in out[1:1 + len(lat)]:
        a, b = line.split()[:2]
        east.append(b if first_is_northing else a)
        north.append(a if first_is_northing else b)
    if len(east) != len(lat):
        sys.exit(f"cs2cs returned {len(east)} points for {len(lat)}")
    return east, north


def mm_field(v):
    return "" if not np.isfinite(v) else repr(float(v))


def egms_lines(s, level):
    """Header and rows of an EGMS CSV: L2b (',', lat/lon and easting/northing) or L3 (';', Ortho)."""
    east, north = etrs89_laea(s.lat, s.lon)
    vel = velocity_fit(s.years, s.point_mm)
    header = (L2B_COLUMNS if level == "l2b" else L3_COLUMNS) + s.date_strs
    lines = []
    for k in range(s.n):
        r, c = int(s.prow[k]), int(s.pcol[k])
        height = 20.0 + 0.01 * r + 0.003 * c
        meta = {
            "pid": s.pids[k], "mp_type": "PS" if k % 3 == 0 else "DS",
            "latitude": repr(float(s.lat[k])), "longitude": repr(float(s.lon[k])), "easting": east[k], "northing": north[k],
            "height": f"{height:.1f}", "height_wgs84": f"{height - 8.3:.1f}", "line": str(r), "pixel": str(c),
            "rmse": f"{1.0 + (k % 7) / 10:.1f}", "temporal_coherence": f"{0.70 + (k % 29) / 100:.3f}",
            "amplitude_dispersion": f"{0.20 + (k % 17) / 100:.3f}", "incidence_angle": "39.2", "track_angle": "-13.1",
            "los_east": "-0.618", "los_north": "-0.137", "los_up": "0.774", "mean_velocity": f"{vel[k]:.1f}",
            "mean_velocity_std": "0.4", "acceleration": "0.0", "acceleration_std": "0.1", "seasonality": "3.1",
            "seasonality_std": "0.5",
        }
        fields = [meta[name] for name in header[:len(header) - s.m]] + [mm_field(v) for v in s.point_mm[k]]
        lines.append(fields)
    return header, lines


def write_text(path, lines):
    with open(path, "w", newline="") as f:
        f.write("".join(line + "\n" for line in lines))


# ------------------------------------------------------------------------------------------------
def write_expected(path, s):
    with h5py.File(path, "w") as f:
        f.create_dataset("ids", data=s.ids)
        f.create_dataset("lon", data=s.lon.astype(np.float64))
        f.create_dataset("lat", data=s.lat.astype(np.float64))
        f.create_dataset("mm", data=s.point_mm.astype(np.float32))
        f.create_dataset("dates", data=s.dates)
        f.create_dataset("mask_ids", data=s.mask_ids.astype(np.int64))
        f.create_dataset("pids", data=np.array(s.pids, dtype="S10"))
        f.create_dataset("grid_shape", data=np.array([s.rows, s.cols], dtype=np.int64))
        # /points/status of every pixel of a grid read with maskTempCoh.h5 (minValidFraction 0):
        # 3 no data in any epoch, 2 masked out, 1 one valid epoch (fewer than 2), 0 kept.
        valid = np.isfinite(s.mm).sum(axis=0).ravel()
        keep = s.mask.ravel()
        status = np.where(valid == 0, 3, np.where(~keep, 2, np.where(valid < 2, 1, 0))).astype(np.int8)
        f.create_dataset("masked_status", data=status)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir")
    p.add_argument("--rows", type=int, default=30)
    p.add_argument("--cols", type=int, default=40)
    p.add_argument("--dates", type=int, default=24)
    p.add_argument("--seed", type=int, default=3)
    a = p.parse_args()
    if a.rows < 8 or a.cols < 12 or a.dates < 4:
        p.error("need --rows >= 8, --cols >= 12, --dates >= 4")
    os.makedirs(a.outdir, exist_ok=True)

    def out(name):
        return os.path.join(a.outdir, name)

    s = Scene(a.rows, a.cols, a.dates, a.seed)
    manifest = []

    def entry(file, fmt, expect_error=None, geometry=None, mask=None):
        manifest.append({"file": file, "format": fmt, "geometry": geometry, "mask": mask,
                         "expect_error": expect_error})

    # Native.
    with h5py.File(out("native.h5"), "w") as f:
        f.create_dataset("x", data=s.lon.astype(np.float64))
        f.create_dataset("y", data=s.lat.astype(np.float64))
        f.create_dataset("id", data=s.ids)
        f.create_dataset("dates", data=s.dates)
        f.create_dataset("displacement", data=s.point_mm.astype(np.float32)).attrs["unit"] = "mm"
        f.attrs["crs"] = "EPSG:4326"
    entry("native.h5", "native")

    # MintPy.
    geo = mintpy_attrs(s)
    write_mintpy(out("mintpy_geo.h5"), s, geo)
    entry("mintpy_geo.h5", "mintpy")
    entry("mintpy_geo.h5", "mintpy", mask="maskTempCoh.h5")
    nodata = np.where(np.isfinite(s.mm).any(axis=0), s.metres32, np.float32(0.0))
    write_mintpy(out("mintpy_geo_nodata.h5"), s, {**geo, "NO_DATA_VALUE": "0"}, values=nodata)
    entry("mintpy_geo_nodata.h5", "mintpy")
    write_mintpy(out("mintpy_radar.h5"), s, mintpy_attrs(s, geocoded=False), chunks=True)
    write_geometry_radar(out("geometryRadar.h5"), s)
    entry("mintpy_radar.h5", "mintpy", geometry="geometryRadar.h5")
    write_mask(out("maskTempCoh.h5"), s)
    write_hdfeos5(out("mintpy.he5"), s)
    entry("mintpy.he5", "mintpy")

    # LiCSBAS.
    write_licsbas(out("cum.h5"), s)
    entry("cum.h5", "licsbas")

    # EGMS.
    header, rows = egms_lines(s, "l2b")
    l2b = [",".join(header)] + [",".join(r) for r in rows]
    write_text(out("egms_l2b.csv"), l2b)
    entry("egms_l2b.csv", "egms")
    header3, rows3 = egms_lines(s, "l3")
    write_text(out("egms_l3.csv"), [";".join(header3)] + [";".join(r) for r in rows3])
    entry("egms_l3.csv", "egms")

    # Malformed variants.
    write_mintpy(out("bad_mintpy_no_xstep.h5"), s, {k: v for k, v in geo.items() if k != "X_STEP"})
    entry("bad_mintpy_no_xstep.h5", "mintpy", "X_STEP")
    write_licsbas(out("bad_licsbas_post_lat_zero.h5"), s, post_lat=0.0)
    entry("bad_licsbas_post_lat_zero.h5", "licsbas", "post_lat")
    bad = list(l2b)
    bad[4] = bad[4].rsplit(",", 1)[0]                       # line 5 of the file: one field fewer
    write_text(out("bad_egms_missing_field.csv"), bad)
    entry("bad_egms_missing_field.csv", "egms", "line 5")
    bad_header = list(header)
    bad_header[len(L2B_COLUMNS) + 3] = "20191332"           # 8 digits, month 13
    write_text(out("bad_egms_bad_date.csv"), [",".join(bad_header)] + l2b[1:])
    entry("bad_egms_bad_date.csv", "egms", "20191332")
    bad = list(l2b)
    bad[3] = bad[3].replace(",", ";")                       # line 4 of the file
    write_text(out("bad_egms_mixed_delimiters.csv"), bad)
    entry("bad_egms_mixed_delimiters.csv", "egms", "line 4")
    write_mintpy(out("bad_mintpy_lzf.h5"), s, geo, compression="lzf", chunks=True)
    entry("bad_mintpy_lzf.h5", "mintpy", "LZF")
    write_mintpy(out("bad_mintpy_no_date.h5"), s, geo, with_date=False)
    entry("bad_mintpy_no_date.h5", "mintpy", "/date")

    write_expected(out("expected.h5"), s)
    with open(out("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    fields = ["file", "format", "geometry", "mask", "expect_error"]
    write_text(out("manifest.txt"), ["# " + "\t".join(fields)] +
               ["\t".join(e[k] if e[k] is not None else "-" for k in fields) for e in manifest])
    print(f"{a.outdir}: {s.n} points of {s.rows} x {s.cols} pixels, {s.m} dates, "
          f"{len(manifest)} manifest entries")


if __name__ == "__main__":
    main()
