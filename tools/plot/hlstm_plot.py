#!/usr/bin/python3
"""Figures and the offline HTML report of an hlstm output (driven by `hlstm plot` / `hlstm report`).

    hlstm_plot.py plot   OUT.h5 -o DIR [--format png|pdf] [--points ID,...] [--lalo LAT,LON]
                         [--input FILE] [--no-history] [--error-file F]
    hlstm_plot.py report OUT.h5 -o report.html [--input FILE] [--no-history] [--map-points N]

The C++ subcommands check OUT (complete hlstm-output) and the input checksum before calling
this script; it reads the datasets named in include/hlstm/io/output_format.hpp with h5py and
draws with matplotlib (Debian: python3-matplotlib python3-h5py python3-numpy).

Exit codes: 0 done, 1 bad input (the message names the file), 3 a Python module is missing,
2 anything else. With --error-file the one-line reason is also written there.
With HLSTM_PLOT_DATA=DIR every point figure's labelled lines are written to DIR/<figure>.json
(x as ISO dates, y in mm) - the arrays that were drawn, for tests.
"""
import argparse
import base64
import datetime as dt
import html
import io
import json
import math
import os
import sys

MISSING_HELP = "install the Debian packages python3-matplotlib python3-h5py python3-numpy (tools/setup.sh --with-plot)"


class BadInput(Exception):
    """Bad input: the message names the file (exit 1)."""


try:
    import numpy as np
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors as mcolors
except ImportError as e:  # pragma: no cover - exercised by the C++ test with a broken PYTHONPATH
    _missing = getattr(e, "name", None) or str(e)
    _msg = f"{sys.executable} cannot import the Python module '{_missing}': {MISSING_HELP}"
    _ef = None
    if "--error-file" in sys.argv:
        i = sys.argv.index("--error-file")
        _ef = sys.argv[i + 1] if i + 1 < len(sys.argv) else None
    if _ef:
        with open(_ef, "w") as fh:
            fh.write(_msg)
    print("hlstm_plot: " + _msg, file=sys.stderr)
    sys.exit(3)

DPI = 120


# ----------------------------------------------------------------------------------------- reading
def to_date(d):
    d = int(d)
    return dt.date(d // 10000, d // 100 % 100, d % 100)


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, np.bytes_)) else str(v)


class Output:
    """The hlstm-output file: lazily read datasets, forecasts as (points, Y)."""

    def __init__(self, path):
        self.path = path
        try:
            self.f = h5py.File(path, "r")
        except OSError as e:
            raise BadInput(f"{path}: cannot open as HDF5 ({e})")
        fmt = text(self.f.attrs.get("format", b""))
        if fmt not in ("hlstm-output", "hlstm-prediction"):
            raise BadInput(f"{path}: not an hlstm output file (format attribute is '{fmt}')")
        if int(self.f.attrs.get("complete", 0)) != 1:
            raise BadInput(f"{path}: incomplete hlstm output (complete != 1)")
        self.format = fmt
        self.n = self.f["/points/x"].shape[0]
        self._cache = {}

    def has(self, name):
        return name in self.f

    def get(self, name):
        if name not in self._cache:
            if name not in self.f:
                raise BadInput(f"{self.path}: no dataset {name}")
            self._cache[name] = self.f[name][()]
        return self._cache[name]

    def fc(self, name):
        """A /forecast dataset as (points, steps)."""
        key = "fc:" + name
        if key not in self._cache:
            a = np.asarray(self.get("/forecast/" + name), dtype=np.float64)
            self._cache[key] = a.reshape(a.shape[0], -1)
        return self._cache[key]

    def strings(self, name):
        return [text(v) for v in self.get(name)]

    def attr(self, name, default=None, obj="/"):
        v = self.f[obj].attrs.get(name, default) if obj in self.f else default
        return text(v) if isinstance(v, (bytes, np.bytes_)) else v

    def coords(self):
        """(X, Y, xlabel, ylabel, aspect, kind): lon/lat when known, else x/y in the file's CRS."""
        if self.has("/points/lon") and self.has("/points/lat"):
            lon = np.asarray(self.get("/points/lon"), float)
            lat = np.asarray(self.get("/points/lat"), float)
            if np.isfinite(lon).mean() > 0.5 and np.isfinite(lat).mean() > 0.5:
                aspect = 1.0 / max(0.05, math.cos(math.radians(np.nanmedian(lat))))
                return lon, lat, "longitude (\u00b0E, WGS84)", "latitude (\u00b0N, WGS84)", aspect, "lonlat"
        crs = self.attr("crs", "", obj="/points/x") or self.attr("crs", "") or "undefined CRS"
        x = np.asarray(self.get("/points/x"), float)
        y = np.asarray(self.get("/points/y"), float)
        return x, y, f"x (m, {crs})", f"y (m, {crs})", 1.0, "xy"

    def dates(self, name):
        return [to_date(d) for d in np.atleast_1d(self.get("/forecast/" + name))] if self.has("/forecast/" + name) else []

    def forecast_mask(self):
        """Points that were forecast (status 0, or finite forecast when the file has no status)."""
        if self.has("/points/status"):
            return np.asarray(self.get("/points/status")) == 0
        if self.has("/forecast/next_cumulative"):
            return np.isfinite(self.fc("next_cumulative")[:, 0])
        return np.ones(self.n, bool)


class History:
    """The observed displacement (mm) of points of the input, by output point id."""

    def __init__(self, path):
        self.path = path
        self.truth = None
        if not os.path.exists(path):
            raise BadInput(f"{path}: no such input file")
        if h5py.is_hdf5(path):
            self.f = h5py.File(path, "r")
            if "/displacement" in self.f:
                self.kind = "native"
                self.date_list = [to_date(d) for d in self.f["/dates"][()]]
                self._ids = self.f["/id"][()] if "/id" in self.f else None
                self._order = np.argsort(self._ids, kind="stable") if self._ids is not None else None
            elif "/timeseries" in self.f or "/HDFEOS/GRIDS/timeseries/observation/displacement" in self.f:
                self.kind = "mintpy"
                eos = "/timeseries" not in self.f
                base = "/HDFEOS/GRIDS/timeseries/observation/" if eos else "/"
                self.cube = base + ("displacement" if eos else "timeseries")
                self.date_list = [to_date(text(d)[:8]) for d in self.f[base + "date"][()]]
                unit = text(self.f.attrs.get("UNIT", "m"))
                self.scale = {"m": 1000.0, "cm": 10.0, "mm": 1.0}.get(unit, 1000.0)
            elif "/cum" in self.f:
                self.kind = "licsbas"
                self.date_list = [to_date(d) for d in self.f["/imdates"][()]]
            else:
                raise BadInput(f"{path}: an HDF5 file without /displacement, /timeseries or /cum")
        else:
            self.kind = "csv"
            self._read_csv_header()

    def _read_csv_header(self):
        with open(self.path, "r", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline().strip()
        self.sep = ";" if header.count(";") > header.count(",") else ","
        cols = [c.strip().strip('"') for c in header.split(self.sep)]
        self.date_cols = [i for i, c in enumerate(cols) if len(c) == 8 and c.isdigit()]
        if len(self.date_cols) < 2:
            raise BadInput(f"{self.path}: not an input hlstm reads (no YYYYMMDD columns)")
        self.date_list = [to_date(cols[i]) for i in self.date_cols]

    @property
    def dates(self):
        return self.date_list

    def rows(self, ids):
        """(len(ids), epochs) float64 in mm (NaN where missing) and truth rows (or None)."""
        ids = [int(i) for i in ids]
        m = len(self.date_list)
        out = np.full((len(ids), m), np.nan)
        truth = None
        if self.kind == "native":
            n = self.f["/displacement"].shape[0]
            if self._ids is not None:
                pos = np.searchsorted(self._ids[self._order], ids)
                rows = [int(self._order[p]) if p < n and self._ids[self._order[p]] == i else -1 for p, i in zip(pos, ids)]
            else:
                rows = [i if 0 <= i < n else -1 for i in ids]
            good = sorted({r for r in rows if r >= 0})
            if good:
                block = self.f["/displacement"][good, :].astype(np.float64)
                tblock = self.f["/truth"][good, :].astype(np.float64) if "/truth" in self.f else None
                where = {r: k for k, r in enumerate(good)}
                if tblock is not None:
                    truth = np.full((len(ids), tblock.shape[1]), np.nan)
                for k, r in enumerate(rows):
                    if r >= 0:
                        out[k] = block[where[r]]
                        if tblock is not None:
                            truth[k, m - tblock.shape[1]:] = tblock[where[r]]
            if text(self.f["/displacement"].attrs.get("unit", "mm")) == "m":
                out *= 1000.0
            if truth is not None and text(self.f["/truth"].attrs.get("unit", "mm")) == "m":
                truth *= 1000.0
        elif self.kind in ("mintpy", "licsbas"):
            ds = self.f[self.cube if self.kind == "mintpy" else "/cum"]
            scale = self.scale if self.kind == "mintpy" else 1.0
            _, rows_, cols_ = ds.shape
            for k, i in enumerate(ids):
                r, c = divmod(i, cols_)
                if 0 <= r < rows_:
                    out[k] = ds[:, r, c].astype(np.float64) * scale
        else:
            want = {i: k for k, i in enumerate(ids)}
            with open(self.path, "r", encoding="utf-8-sig", errors="replace") as fh:
                fh.readline()
                for line_no, line in enumerate(fh):
                    if line_no in want:
                        f = line.rstrip("\n").split(self.sep)
                        vals = []
                        for c in self.date_cols:
                            try:
                                vals.append(float(f[c].strip().strip('"')))
                            except (ValueError, IndexError):
                                vals.append(np.nan)
                        out[want[line_no]] = vals
                        if len(want) == 1:
                            break
                        del want[line_no]
                        if not want:
                            break
        return out, truth


# -------------------------------------------------------------------------------------- drawing
def raster(x, y, v, categorical=False, max_cells=640000):
    """Aggregates points on a regular grid: mean of v per cell (or the last category), so a
    national scene is drawn as an image, not millions of markers. Returns (image, extent)."""
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(v)
    x, y, v = x[ok], y[ok], v[ok]
    if x.size == 0:
        return np.full((1, 1), np.nan), (0, 1, 0, 1)
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    cells = int(np.clip(x.size / 12.0, 900, max_cells))  # ~12 points per cell: few empty cells
    nx = int(np.clip(math.sqrt(cells * w / h), 10, 1600))
    ny = int(np.clip(cells / nx, 10, 1600))
    ix = np.minimum(((x - x0) / w * nx).astype(np.int64), nx - 1)
    iy = np.minimum(((y - y0) / h * ny).astype(np.int64), ny - 1)
    idx = iy * nx + ix
    if categorical:
        img = np.full(nx * ny, np.nan)
        img[idx] = v
    else:
        cnt = np.bincount(idx, minlength=nx * ny)
        s = np.bincount(idx, weights=v, minlength=nx * ny)
        with np.errstate(invalid="ignore", divide="ignore"):
            img = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
    return img.reshape(ny, nx), (x0, x0 + w, y0, y0 + h)


def map_panel(fig, ax, out, values, title, unit, cmap="RdBu", symmetric=True, vlim=None, categorical=False,
              norm=None):
    X, Y, xl, yl, aspect, _ = out.coords()
    img, ext = raster(X, Y, np.asarray(values, float), categorical=categorical)
    if norm is None:
        if vlim is None:
            finite = img[np.isfinite(img)]
            lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
            if symmetric:
                m = max(abs(lo), abs(hi), 1e-9)
                lo, hi = -m, m
            if hi <= lo:
                hi = lo + 1e-9
            vlim = (lo, hi)
        norm = mcolors.Normalize(vmin=vlim[0], vmax=vlim[1])
    cm = plt.get_cmap(cmap).copy() if isinstance(cmap, str) else cmap
    cm.set_bad((0.93, 0.93, 0.93, 0.0))
    ax.set_facecolor((0.96, 0.96, 0.96))
    im = ax.imshow(np.ma.masked_invalid(img), origin="lower", extent=ext, cmap=cm, norm=norm,
                   interpolation="nearest", aspect=aspect)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title)
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label(unit)
    if categorical and isinstance(norm, mcolors.BoundaryNorm):
        cb.set_ticks(np.arange(norm.boundaries[0] + 0.5, norm.boundaries[-1], max(1, int(len(norm.boundaries) / 10))))
    return im, cb


def save(fig, odir, name, fmt, sidecar=None):
    path = os.path.join(odir, f"{name}.{fmt}")
    tmp = os.path.join(odir, f".{name}.tmp.{fmt}")
    fig.savefig(tmp, dpi=DPI, format=fmt)
    os.replace(tmp, path)
    data_dir = os.environ.get("HLSTM_PLOT_DATA")
    if data_dir and sidecar is not None:
        with open(os.path.join(data_dir, name + ".json"), "w") as fh:
            json.dump(sidecar, fh)
    plt.close(fig)
    print(f"hlstm plot: wrote {path}", flush=True)
    return path


def lines_of(fig):
    """The labelled lines of a figure as drawn: {label: {x: [...ISO dates...], y: [...]}}."""
    out = {}
    for ax in fig.axes:
        for ln in ax.get_lines():
            label = ln.get_label()
            if label.startswith("_"):
                continue
            xs, ys = ln.get_xdata(), ln.get_ydata()
            out[label] = {"x": [matplotlib.dates.num2date(v).date().isoformat() if isinstance(v, (float, np.floating))
                                else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in xs],
                          "y": [None if not np.isfinite(float(v)) else float(v) for v in ys]}
    return out


def fig_velocity(out):
    fig, ax = plt.subplots(figsize=(10, 8))
    v = np.asarray(out.get("/points/velocity"), float)
    map_panel(fig, ax, out, v, f"LOS velocity (OLS over the visible epochs), {out.n:,} points", "mm/yr")
    return fig


def fig_subregions(out):
    zone = np.asarray(out.get("/points/zone"), float)
    sub = np.asarray(out.get("/points/subregion"), float)
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    nz = int(np.nanmax(zone)) + 1 if np.isfinite(zone).any() and np.nanmax(zone) >= 0 else 1
    zone = np.where(zone < 0, np.nan, zone)
    zc = plt.get_cmap("viridis", max(nz, 2))
    map_panel(fig, axes[0], out, zone, f"velocity zones (K-means, k = {nz})", "zone", cmap=zc, categorical=True,
              norm=mcolors.BoundaryNorm(np.arange(-0.5, max(nz, 2) + 0.5), max(nz, 2)))
    ids = np.unique(sub[np.isfinite(sub) & (sub >= 0)])
    # colours by rank of the id, cycling tab20 so that neighbours differ
    rank = np.full(sub.shape, np.nan)
    ok = np.isfinite(sub) & (sub >= 0)
    nc = int(min(max(len(ids), 2), 20))
    rank[ok] = np.searchsorted(ids, sub[ok]) % nc  # ids: sorted (np.unique)
    label = "subregion" if len(ids) <= 20 else "subregion (colours repeat every 20; ids on the map)"
    _, cb = map_panel(fig, axes[1], out, rank, f"subregions (Delaunay, long edges cut): {len(ids)}", label,
              cmap=mcolors.ListedColormap(plt.get_cmap("tab20").colors[:nc]), categorical=True,
              norm=mcolors.BoundaryNorm(np.arange(-0.5, nc + 0.5), nc))
    if len(ids) <= 20:
        cb.set_ticks(np.arange(len(ids)))
        cb.set_ticklabels([str(int(i)) for i in ids])
    if len(ids) <= 60:
        X, Y, *_ = out.coords()
        for s in ids:
            m = sub == s
            axes[1].text(np.nanmedian(X[m]), np.nanmedian(Y[m]), str(int(s)), fontsize=8, ha="center", va="center",
                         bbox=dict(boxstyle="round,pad=0.1", fc="white", alpha=0.7, lw=0))
    fig.suptitle("Partition (paper Fig. 7): gray = noise / not partitioned")
    fig.tight_layout()
    return fig


def fig_db_index(out):
    k = np.asarray(out.get("/partition/k_values"))
    kc = int(np.atleast_1d(out.get("/partition/k_chosen"))[0])
    dist = out.attr("db_distance", "velocity", obj="/partition/k_chosen")
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, name, label in zip(axes, ("db_index_velocity", "db_index_pearson"), ("mean-velocity distance", "Pearson distance")):
        if out.has("/partition/" + name):
            ax.plot(k, out.get("/partition/" + name), "o-", label=label)
        ax.axvline(kc, color="crimson", ls="--", label=f"chosen k = {kc} (by {dist})")
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel("Davies-Bouldin index (lower is better)")
        ax.set_title(f"DB index, {label}")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("Choice of k (paper Fig. 6)")
    fig.tight_layout()
    return fig


def fig_grid_mae(out):
    sub = np.asarray(out.get("/grid_search/subregion"))
    mae = np.asarray(out.get("/grid_search/validation_mae"), float)
    status = np.asarray(out.get("/grid_search/status")) if out.has("/grid_search/status") else np.zeros_like(sub)
    mae = np.where(status == 0, mae, np.nan)
    fig, axes = plt.subplots(1, 3, figsize=(16, 6))
    subs = np.unique(sub)
    if out.has("/subregions/n_points") and out.has("/subregions/id"):
        size = dict(zip(np.asarray(out.get("/subregions/id")).tolist(), np.asarray(out.get("/subregions/n_points")).tolist()))
        subs = sorted(subs, key=lambda s: -size.get(int(s), 0))
    shown = list(subs[:12])
    for ax, p in zip(axes, ("L", "K", "S")):
        par = np.asarray(out.get("/grid_search/" + p))
        vals = np.unique(par)
        for s in shown:
            ys = [np.nanmin(np.where((sub == s) & (par == v), mae, np.nan)) if np.any((sub == s) & (par == v) & np.isfinite(mae))
                  else np.nan for v in vals]
            ax.plot(vals, ys, "o-", label=f"subregion {int(s)}")
        ax.set_xlabel({"L": "sequence length L", "K": "LSTM layers K", "S": "hidden units S"}[p])
        ax.set_ylabel("best validation MAE over the other parameters (mm/step)")
        ax.set_title(f"validation MAE by {p}")
        ax.set_xticks(vals)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    extra = "" if len(subs) <= 12 else f" (the 12 largest of {len(subs)} subregions)"
    fig.suptitle("Grid search (paper Figs. 9-10)" + extra)
    fig.tight_layout()
    return fig


def fig_forecast(out):
    obs = out.fc("holdout_true")
    pred = out.fc("holdout_pred")
    nxt = out.fc("next_diff")
    hd, nd = out.dates("holdout_dates"), out.dates("next_dates")
    fig, axes = plt.subplots(1, 3, figsize=(20, 6.5))
    o1, p1 = np.nansum(obs, axis=1), np.nansum(pred, axis=1)
    o1[~np.isfinite(obs).any(axis=1)] = np.nan
    p1[~np.isfinite(pred).any(axis=1)] = np.nan
    both = np.concatenate([o1[np.isfinite(o1)], p1[np.isfinite(p1)]])
    m = float(np.percentile(np.abs(both), 98)) if both.size else 1.0
    span = (str(hd[0]) if len(hd) == 1 else f"{hd[0]} .. {hd[-1]}") if hd else "holdout"
    map_panel(fig, axes[0], out, o1, f"observed, holdout {span}", "mm", vlim=(-m, m))
    map_panel(fig, axes[1], out, p1, f"HLSTM forecast, holdout {span}", "mm", vlim=(-m, m))
    n1 = np.nansum(nxt, axis=1)
    n1[~np.isfinite(nxt).any(axis=1)] = np.nan
    nspan = (str(nd[0]) if len(nd) == 1 else f"{nd[0]} .. {nd[-1]}") if nd else "next epochs"
    map_panel(fig, axes[2], out, n1, f"HLSTM next forecast, {nspan}", "mm")
    fig.suptitle("Forecast (paper Fig. 13): displacement over the forecast epochs")
    fig.tight_layout()
    return fig


def fig_abs_error(out):
    err = out.fc("abs_error")
    with np.errstate(all="ignore"):
        import warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        e = np.nanmean(err, axis=1) if err.size else err
    fig, axes = plt.subplots(1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [1.4, 1]})
    hi = float(np.nanpercentile(e, 98)) if np.isfinite(e).any() else 1.0
    map_panel(fig, axes[0], out, e, "absolute error of the holdout forecast (mean over steps)", "mm",
              cmap="magma_r", symmetric=False, vlim=(0, max(hi, 1e-6)))
    fin = e[np.isfinite(e)]
    axes[1].hist(fin, bins=60, range=(0, max(hi * 1.5, 1e-6)), color="steelblue")
    mae = out.attr("mae", None, obj="/metrics")
    if mae is not None:
        axes[1].axvline(float(mae), color="crimson", label=f"MAE = {float(mae):.3f} mm (/metrics)")
        axes[1].legend()
    axes[1].set_xlabel("absolute error (mm)")
    axes[1].set_ylabel("points")
    axes[1].set_title(f"distribution over {fin.size:,} points")
    fig.suptitle("Holdout absolute error (paper Fig. 13)")
    fig.tight_layout()
    return fig


def best_baseline(out):
    """(label, first-step holdout predictions per point) of the baseline with the lowest holdout MAE
    (/baselines/mae), from /baselines/holdout_pred; None for files without per-method predictions."""
    if not all(out.has(n) for n in ("/baselines/holdout_pred", "/baselines/name", "/baselines/mae")):
        return None
    names = out.strings("/baselines/name")
    mae = np.asarray(out.get("/baselines/mae"), dtype=np.float64).reshape(-1)
    ok = np.isfinite(mae[:len(names)])
    if not ok.any():
        return None
    k = int(np.nanargmin(np.where(ok, mae[:len(names)], np.inf)))
    pred = np.asarray(out.f["/baselines/holdout_pred"][k], dtype=np.float64).reshape(out.n, -1)[:, 0]
    return f"best baseline ({names[k]})", pred


def fig_scatter(out):
    obs = out.fc("holdout_true")[:, 0]
    series = [("HLSTM", out.fc("holdout_pred")[:, 0])]
    best = best_baseline(out)
    if best is not None:
        series.append(best)
    elif out.has("/forecast/persistence_pred"):
        series.append(("persistence baseline", out.fc("persistence_pred")[:, 0]))
    truth = out.fc("holdout_truth")[:, 0] if out.has("/forecast/holdout_truth") else None
    refs = [("observed", obs)] + ([("noise-free truth", truth)] if truth is not None and np.isfinite(truth).any() else [])
    fig, axes = plt.subplots(len(refs), len(series), figsize=(7 * len(series), 6 * len(refs)), squeeze=False)
    fig.sidecar = {"panels": []}  # what each panel shows (HLSTM_PLOT_DATA), for the tests
    for r, (rname, ref) in enumerate(refs):
        for c, (name, pred) in enumerate(series):
            ax = axes[r][c]
            ok = np.isfinite(ref) & np.isfinite(pred)
            lim = float(np.percentile(np.abs(np.concatenate([ref[ok], pred[ok]])), 99.5)) if ok.any() else 1.0
            hb = ax.hexbin(ref[ok], pred[ok], gridsize=70, extent=(-lim, lim, -lim, lim), bins="log", mincnt=1, cmap="viridis")
            ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="1:1")
            mae = float(np.mean(np.abs(ref[ok] - pred[ok]))) if ok.any() else float("nan")
            fig.sidecar["panels"].append({"method": name, "reference": rname, "mae": mae, "n": int(ok.sum())})
            ax.set_title(f"{name} vs {rname} (first holdout step): MAE {mae:.3f} mm")
            ax.set_xlabel(f"{rname} displacement (mm)")
            ax.set_ylabel(f"{name} forecast (mm)")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            fig.colorbar(hb, ax=ax, shrink=0.85).set_label("points per cell")
            ax.legend(loc="upper left")
    fig.suptitle("Predicted against observed (paper Fig. 12): HLSTM and " +
                 (series[1][0] if len(series) > 1 else "no baseline"))
    fig.tight_layout()
    return fig


def method_rows(out):
    """[(name, mae, sd, mse, accuracy, mae_truth)] for HLSTM (/metrics) and every baseline."""
    rows = []
    g = lambda k: out.attr(k, float("nan"), obj="/metrics")
    rows.append(("HLSTM", g("mae"), g("sd"), g("mse"), g("accuracy"), g("mae_truth")))
    if out.has("/baselines/name"):
        names = out.strings("/baselines/name")
        cols = {k: (np.asarray(out.get("/baselines/" + k), float) if out.has("/baselines/" + k) else np.full(len(names), np.nan))
                for k in ("mae", "sd", "mse", "accuracy", "mae_truth")}
        for i, nm in enumerate(names):
            rows.append((nm, cols["mae"][i], cols["sd"][i], cols["mse"][i], cols["accuracy"][i], cols["mae_truth"][i]))
    return rows


def curve_rows(out):
    """Grid-search rows whose curves curves.png draws: each subregion's learned winner (its
    /subregions L, K, S), else (a baseline won) its candidate with the lowest selection score."""
    gsub = np.asarray(out.get("/grid_search/subregion"))
    gL, gK, gS = (np.asarray(out.get("/grid_search/" + p)) for p in ("L", "K", "S"))
    score = np.asarray(out.get("/grid_search/selection_score"), float)
    ids = np.asarray(out.get("/subregions/id")).tolist()
    sL, sK, sS = (np.asarray(out.get("/subregions/" + p)).tolist() for p in ("L", "K", "S"))
    size = np.asarray(out.get("/subregions/n_points")).tolist()
    rows = []
    for i in sorted(range(len(ids)), key=lambda i: -size[i])[:12]:
        mine = np.flatnonzero(gsub == ids[i])
        won = [r for r in mine if (gL[r], gK[r], gS[r]) == (sL[i], sK[i], sS[i])]
        if won:
            rows.append((int(ids[i]), int(won[0]), True))
        elif mine.size and np.isfinite(score[mine]).any():
            rows.append((int(ids[i]), int(mine[np.nanargmin(score[mine])]), False))
    return rows


def fig_curves(out):
    """Training curves of the winners (paper II-C: a model is accepted when its train and test
    error curves converge), from /grid_search/train_loss and validation_mae_curve."""
    fig, axes = plt.subplots(1, 2, figsize=(16, 6.5))
    drawn = []
    if not out.has("/grid_search/train_loss"):
        for ax in axes:
            ax.text(0.5, 0.5, "no training curves in this file\n(written before /grid_search/train_loss)",
                    ha="center", va="center", transform=ax.transAxes)
        fig.sidecar = {"curves": drawn}
        return fig
    loss = np.asarray(out.get("/grid_search/train_loss"), float)
    mae = np.asarray(out.get("/grid_search/validation_mae_curve"), float)
    conv = np.asarray(out.get("/grid_search/converged")) if out.has("/grid_search/converged") else None
    best = np.asarray(out.get("/grid_search/best_epoch")) if out.has("/grid_search/best_epoch") else None
    gL, gK, gS = (np.asarray(out.get("/grid_search/" + p)) for p in ("L", "K", "S"))
    epochs = np.arange(1, loss.shape[1] + 1)
    for sub, r, won in curve_rows(out):
        ok = conv is None or int(conv[r]) != 0
        label = (f"subregion {sub}: L={gL[r]} K={gK[r]} S={gS[r]}" + ("" if won else " (best candidate; a baseline won)")
                 + ("" if ok else " - NOT converged"))
        style = "-" if won else ":"
        (ln,) = axes[0].plot(epochs, loss[r], style, marker="o", ms=3, label=label)
        axes[1].plot(epochs, mae[r], style, marker="o", ms=3, color=ln.get_color(), label=label)
        if best is not None and best[r] >= 1 and np.isfinite(mae[r][best[r] - 1]):
            axes[1].plot([best[r]], [mae[r][best[r] - 1]], "*", ms=12, color=ln.get_color())
        drawn.append({"subregion": sub, "task": r, "won": won, "converged": ok,
                      "loss": [None if not np.isfinite(v) else float(v) for v in loss[r]],
                      "mae": [None if not np.isfinite(v) else float(v) for v in mae[r]]})
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss per epoch (z units, log scale)")
    axes[1].set_ylabel("validation MAE per epoch (mm/step); * = the kept epoch")
    for ax, title in zip(axes, ("training loss", "validation MAE")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if drawn:
        axes[1].legend(fontsize=8)
    tol = out.attr("tolerance", None, obj="/grid_search/converged") if conv is not None else None
    fig.suptitle("Training curves of the winners (paper II-C: accepted when both converge" +
                 (f"; tolerance {float(tol):.0%} over the last epochs)" if tol is not None else ")"))
    fig.tight_layout()
    fig.sidecar = {"curves": drawn}
    return fig


def fig_step_mae(out):
    pos = out.has("/metrics/position_step_mae") and out.has("/baselines/position_name")
    fig, axes = plt.subplots(1, 2 if pos else 1, figsize=(20 if pos else 11, 6.5), squeeze=False)
    ax = axes[0][0]
    _step_panel(out, ax, "/metrics/step_mae", "/baselines/name", "/baselines/step_mae",
                "MAE of the cumulative displacement", "increments")
    if pos:
        _step_panel(out, axes[0][1], "/metrics/position_step_mae", "/baselines/position_name",
                    "/baselines/position_step_mae", "MAE of the absolute position", "positions (same level for all)")
    fig.tight_layout()
    return fig


def _step_panel(out, ax, hlstm_path, names_path, base_path, what, title):
    h = np.atleast_1d(np.asarray(out.get(hlstm_path), float))
    steps = np.arange(1, h.size + 1)
    names = out.strings(names_path) if out.has(names_path) else []
    b = np.asarray(out.get(base_path), float).reshape(len(names), -1) if names else np.zeros((0, h.size))
    if h.size == 1:
        labels = ["HLSTM"] + names
        vals = [h[0]] + [float(v) for v in b[:, 0]]
        colors = ["crimson"] + ["steelblue"] * len(names)
        bars = ax.bar(labels, vals, color=colors)
        for bar, v in zip(bars, vals):
            ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=9)
        ax.set_ylabel(f"{what} at step 1 (mm)")
        ax.set_title(f"MAE per method, {title} (one forecast step)")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    else:
        ax.plot(steps, h, "o-", color="crimson", lw=2.5, label="HLSTM")
        for i, nm in enumerate(names):
            ax.plot(steps, b[i], "s--", lw=1.2, label=nm)
        ax.set_xlabel("forecast step")
        ax.set_ylabel(f"{what} (mm)")
        ax.set_title(f"MAE per forecast step, {title}: HLSTM and every baseline")
        ax.set_xticks(steps)
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def point_series(out, hist, rows):
    """Per point: what the point figure and the report draw (numbers in mm, dates as date)."""
    ids = np.asarray(out.get("/points/id"))[rows]
    obs, truth = hist.rows(ids) if hist is not None else (None, None)
    hd, nd = out.dates("holdout_dates"), out.dates("next_dates")
    res = []
    for k, r in enumerate(rows):
        s = {"row": int(r), "id": int(ids[k]), "holdout_dates": hd, "next_dates": nd,
             "velocity": float(out.get("/points/velocity")[r]),
             "subregion": int(out.get("/points/subregion")[r]), "zone": int(out.get("/points/zone")[r])}
        for name in ("holdout_pred", "holdout_cumulative", "holdout_interval_low", "holdout_interval_high", "next_diff",
                     "next_cumulative", "interval_low", "interval_high", "holdout_true"):
            s[name] = out.fc(name)[r] if out.has("/forecast/" + name) else None
        if obs is not None:
            s["dates"] = hist.dates
            s["obs"] = obs[k]
            s["truth"] = truth[k] if truth is not None else None
        res.append(s)
    return res


def years(dates, t0):
    return np.array([(d - t0).days / 365.25 for d in dates])


def fig_point(out, s, lonlat):
    fig, ax = plt.subplots(figsize=(12, 6.5))
    hd, nd = s["holdout_dates"], s["next_dates"]
    if "obs" in s:
        dates, obs = s["dates"], s["obs"]
        vis = np.array([d < hd[0] for d in dates]) if hd else np.ones(len(dates), bool)
        ax.plot([d for d, v in zip(dates, vis) if v], obs[vis], ".-", color="0.25", lw=0.8, ms=4, label="observed history")
        if (~vis).any():
            ax.plot([d for d, v in zip(dates, vis) if not v], obs[~vis], "o", color="darkorange", ms=7,
                    label="observed holdout (hidden from training)")
        if s.get("truth") is not None and np.isfinite(s["truth"]).any():
            ax.plot(dates, s["truth"], "-", color="seagreen", lw=1, alpha=0.8, label="noise-free truth")
        # the velocity baseline: OLS line with the point's velocity over the visible history, extended
        t0 = dates[0]
        tv = years([d for d, v in zip(dates, vis) if v], t0)
        ov = obs[vis]
        ok = np.isfinite(ov)
        if ok.any():
            a = float(np.mean(ov[ok] - s["velocity"] * tv[ok]))
            span = [dates[0]] + list(nd if nd else dates[-1:])
            span = [dates[0], span[-1]]
            ax.plot(span, a + s["velocity"] * years(span, t0), "--", color="gray", lw=1.2,
                    label=f"velocity baseline (OLS, {s['velocity']:.2f} mm/yr)")
        last_vis = [d for d, v in zip(dates, vis) if v][-1]
        if s.get("holdout_cumulative") is not None:
            # absolute positions (format >= issue 23): a robust level at the last visible epoch + increments
            hcum = s["holdout_cumulative"]
            base_h = float(hcum[0] - s["holdout_pred"][0])
        else:  # older outputs: the last visible value + increments
            base_h = ov[ok][-1] if ok.any() else np.nan
            hcum = base_h + np.cumsum(s["holdout_pred"]) if s["holdout_pred"] is not None else None
        if hd and hcum is not None:
            hx = [last_vis] + hd
            hy = np.concatenate([[base_h], hcum])
            ax.plot(hx, hy, "-", color="royalblue", lw=2, marker="s", ms=5, label="holdout forecast (HLSTM)")
            if s["holdout_interval_low"] is not None:
                ax.fill_between(hx, np.concatenate([[base_h], s["holdout_interval_low"]]),
                                np.concatenate([[base_h], s["holdout_interval_high"]]), color="royalblue", alpha=0.15,
                                label="holdout interval")
    if nd and s["next_cumulative"] is not None:
        base_n = float(s["next_cumulative"][0] - s["next_diff"][0]) if s["next_diff"] is not None else np.nan
        start = s["dates"][-1] if "obs" in s else (hd[-1] if hd else nd[0])
        nx_ = [start] + nd
        ny_ = np.concatenate([[base_n], s["next_cumulative"]])
        ax.plot(nx_, ny_, "-", color="crimson", lw=2.2, marker="D", ms=6, label="next forecast (HLSTM)")
        if s["interval_low"] is not None:
            ax.fill_between(nx_, np.concatenate([[base_n], s["interval_low"]]), np.concatenate([[base_n], s["interval_high"]]),
                            color="crimson", alpha=0.18, label=f"forecast interval ({level_text(out)})")
    loc = f", lon {lonlat[0]:.5f}, lat {lonlat[1]:.5f}" if lonlat and all(np.isfinite(lonlat)) else ""
    method = winner_of(out, s["subregion"])
    ax.set_title(f"point {s['id']} (subregion {s['subregion']}, zone {s['zone']}, method {method}{loc})")
    ax.set_xlabel("date")
    ax.set_ylabel("cumulative LOS displacement (mm)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def level_text(out):
    lv = out.attr("interval_level", None, obj="/metrics")
    return f"{100 * float(lv):.0f} %" if lv is not None else "interval"


def winner_of(out, sub):
    if not (out.has("/subregions/id") and out.has("/subregions/method")):
        return "?"
    ids = np.asarray(out.get("/subregions/id")).tolist()
    return out.strings("/subregions/method")[ids.index(sub)] if sub in ids else "none"


def representative(out, count=3):
    """Rows of `count` forecast points: 1st, 50th and 99th velocity percentile (fast subsidence,
    typical, uplift)."""
    ok = np.flatnonzero(out.forecast_mask() & np.isfinite(np.asarray(out.get("/points/velocity"), float)))
    if ok.size == 0:
        return []
    v = np.asarray(out.get("/points/velocity"), float)[ok]
    order = ok[np.argsort(v, kind="stable")]
    qs = [0.01, 0.5, 0.99] if count == 3 else list(np.linspace(0.01, 0.99, count))
    rows = []
    for q in qs:
        r = int(order[min(len(order) - 1, int(q * (len(order) - 1)))])
        if r not in rows:
            rows.append(r)
    return rows


def choose_rows(out, args):
    if args.points:
        ids = np.asarray(out.get("/points/id"))
        where = {int(i): r for r, i in enumerate(ids)}
        rows = []
        for tok in args.points.split(","):
            tok = tok.strip()
            try:
                pid = int(tok)
            except ValueError:
                raise BadInput(f"--points: '{tok}' is not a point id (integer)")
            if pid not in where:
                raise BadInput(f"{out.path}: no point with id {pid} in /points/id")
            rows.append(where[pid])
        return rows
    if args.lalo:
        try:
            lat, lon = (float(t) for t in args.lalo.split(","))
        except ValueError:
            raise BadInput(f"--lalo: '{args.lalo}' is not LAT,LON")
        if not (out.has("/points/lon") and out.has("/points/lat")):
            raise BadInput(f"{out.path}: no /points/lon,lat (the run did not know the CRS): use --points")
        lo, la = np.asarray(out.get("/points/lon"), float), np.asarray(out.get("/points/lat"), float)
        d = (lo - lon) ** 2 * math.cos(math.radians(lat)) ** 2 + (la - lat) ** 2
        d[~np.isfinite(d)] = np.inf
        if not np.isfinite(d).any():
            raise BadInput(f"{out.path}: /points/lon,lat are all NaN: use --points")
        return [int(np.argmin(d))]
    return representative(out)


def lonlat_of(out, r):
    if out.has("/points/lon") and out.has("/points/lat"):
        return float(out.get("/points/lon")[r]), float(out.get("/points/lat")[r])
    return None


# -------------------------------------------------------------------------------------- commands
FIGURES = [("velocity", fig_velocity), ("subregions", fig_subregions), ("db_index", fig_db_index),
           ("grid_mae", fig_grid_mae), ("forecast", fig_forecast), ("abs_error", fig_abs_error),
           ("scatter", fig_scatter), ("step_mae", fig_step_mae), ("curves", fig_curves)]


def open_history(out, args):
    if args.no_history:
        return None
    path = args.input or out.attr("input", "")
    if not path:
        raise BadInput(f"{out.path}: no root attribute 'input': pass --input FILE (or --no-history)")
    return History(path)


def cmd_plot(args):
    out = Output(args.file)
    os.makedirs(args.output, exist_ok=True)
    hist = open_history(out, args)
    written = []
    for name, fn in FIGURES:
        fig = fn(out)
        written.append(save(fig, args.output, name, args.format, getattr(fig, "sidecar", None)))
    rows = choose_rows(out, args)
    for s in point_series(out, hist, rows):
        fig = fig_point(out, s, lonlat_of(out, s["row"]))
        written.append(save(fig, args.output, f"point_{s['id']}", args.format, sidecar=lines_of(fig)))
    return written


def png_data_uri(fig):
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fnum(v, nd=3):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return "" if not math.isfinite(v) else f"{v:.{nd}f}"


def table(headers, rows, tid=None, attrs=None):
    h = [f'<table{f" id={chr(34)}{tid}{chr(34)}" if tid else ""}><thead><tr>']
    h += [f"<th>{html.escape(c)}</th>" for c in headers]
    h.append("</tr></thead><tbody>")
    for k, r in enumerate(rows):
        extra = attrs[k] if attrs else ""
        h.append(f"<tr{extra}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    h.append("</tbody></table>")
    return "".join(h)


def jnum(v, nd=None):
    v = float(v)
    if not math.isfinite(v):
        return None
    return round(v, nd) if nd is not None else v


def report_points(out, hist, max_points, keep_rows):
    """Rows shown on the interactive map: a fixed-seed sample of forecast points plus `keep_rows`."""
    ok = np.flatnonzero(out.forecast_mask())
    rng = np.random.default_rng(20210)
    rows = ok if ok.size <= max_points else np.sort(rng.choice(ok, size=max_points, replace=False))
    rows = sorted(set(int(r) for r in rows) | set(keep_rows))
    return rows


def cmd_report(args):
    out = Output(args.file)
    hist = open_history(out, args)
    X, Y, xl, yl, aspect, kind = out.coords()
    rep = representative(out)
    rows = report_points(out, hist, args.map_points, rep)
    series = point_series(out, hist, rows)
    dates = hist.dates if hist is not None else []
    pts = []
    for s in series:
        r = s["row"]
        p = {"id": s["id"], "x": jnum(X[r]), "y": jnum(Y[r]), "v": jnum(s["velocity"], 3), "sub": s["subregion"],
             "zone": s["zone"], "m": winner_of(out, s["subregion"])}
        if "obs" in s:
            p["obs"] = [jnum(v, 3) for v in s["obs"]]
        for name in ("holdout_pred", "holdout_cumulative", "holdout_interval_low", "holdout_interval_high",
                     "next_cumulative", "next_diff", "interval_low", "interval_high"):
            if s[name] is not None:
                p[name] = [jnum(np.float32(v)) for v in s[name]]
        pts.append(p)
    data = {"dates": [d.isoformat() for d in dates], "holdout_dates": [d.isoformat() for d in out.dates("holdout_dates")],
            "next_dates": [d.isoformat() for d in out.dates("next_dates")], "xlabel": xl, "ylabel": yl,
            "aspect": aspect, "points": pts, "representative": [int(np.asarray(out.get("/points/id"))[r]) for r in rep]}

    # tables
    methods = method_rows(out)
    best = min(range(len(methods)), key=lambda i: methods[i][1] if math.isfinite(float(methods[i][1])) else 1e300)
    mrows, mattrs = [], []
    for i, (nm, mae, sd, mse, acc, maet) in enumerate(methods):
        mrows.append([html.escape(nm) + (" (lowest MAE)" if i == best else ""),
                      f'<span class="mae" data-value="{float(mae)!r}">{fnum(mae, 4)}</span>', fnum(sd, 4), fnum(mse, 4),
                      fnum(acc, 2), fnum(maet, 4)])
        mattrs.append(f' data-method="{html.escape(nm)}"')
    positions = ""
    if out.has("/metrics/position_step_mae") and out.has("/baselines/position_name"):
        ph = np.atleast_1d(np.asarray(out.get("/metrics/position_step_mae"), float))
        pn = out.strings("/baselines/position_name")
        pb = np.asarray(out.get("/baselines/position_step_mae"), float).reshape(len(pn), -1)
        prow = [["HLSTM"] + [fnum(v, 4) for v in ph]] + [[html.escape(n)] + [fnum(v, 4) for v in pb[i]] for i, n in enumerate(pn)]
        positions = ("<h3>Absolute positions (every method on the same robust level): MAE per step (mm)</h3>" +
                     table(["method"] + [f"step {k + 1}" for k in range(ph.size)], prow, tid="position-table"))
    srows = []
    if out.has("/subregions/id"):
        sid = np.asarray(out.get("/subregions/id"))
        col = lambda k: (out.get("/subregions/" + k) if out.has("/subregions/" + k) else [float("nan")] * len(sid))
        meth, why = out.strings("/subregions/method"), out.strings("/subregions/why") if out.has("/subregions/why") else [""] * len(sid)
        bb = out.strings("/subregions/best_baseline") if out.has("/subregions/best_baseline") else [""] * len(sid)
        for i in range(len(sid)):
            srows.append([str(int(sid[i])), str(int(col("zone")[i])), f"{int(col('n_points')[i]):,}", html.escape(meth[i]),
                          f"{int(col('L')[i])}/{int(col('K')[i])}/{int(col('S')[i])}" if out.has("/subregions/L") else "",
                          fnum(col("selection_score")[i], 4), html.escape(bb[i]), fnum(col("best_baseline_score")[i], 4),
                          fnum(col("mae")[i], 4), fnum(col("mae_persistence")[i], 4), fnum(col("mae_truth")[i], 4),
                          html.escape(why[i])])
    zrows = []
    if out.has("/partition/zone_center"):
        zc, zs = out.get("/partition/zone_center"), out.get("/partition/zone_size")
        zst = out.get("/partition/zone_start") if out.has("/partition/zone_start") else [float("nan")] * len(zc)
        zrows = [[str(i), fnum(zst[i], 2), fnum(zc[i], 2), f"{int(zs[i]):,}"] for i in range(len(zc))]
    backtest = ""
    if "/backtest" in out.f:
        parts = []
        for name, ds in out.f["/backtest"].items():
            if isinstance(ds, h5py.Dataset) and ds.ndim <= 2 and ds.size <= 10000:
                a = ds[()]
                a = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
                parts.append(f"<h3>/backtest/{html.escape(name)}</h3>" + table(
                    [f"col {j}" for j in range(a.shape[1])],
                    [[html.escape(text(v)) if not isinstance(v, (float, np.floating)) else fnum(v, 4) for v in row] for row in a]))
        backtest = "<h2>Backtest</h2>" + "".join(parts)
    else:
        backtest = "<h2>Backtest</h2><p>This output has no /backtest group.</p>"

    figs = "".join(f'<figure><img alt="{n}" src="{png_data_uri(fn(out))}"><figcaption>{n}</figcaption></figure>'
                   for n, fn in FIGURES)
    cov, lev = out.attr("interval_coverage", None, obj="/metrics"), out.attr("interval_level", None, obj="/metrics")
    nf = int(out.forecast_mask().sum())
    hd, nd = out.dates("holdout_dates"), out.dates("next_dates")
    input_path = (args.input or out.attr("input", "")) if hist is not None else "(not read: --no-history)"
    summary = [("output", html.escape(os.path.abspath(out.path))), ("format", f"{out.format} v{out.attr('format_version', '?')}, "
               f"hlstm {html.escape(str(out.attr('hlstm_version', '?')))}"),
               ("input", html.escape(str(input_path))), ("input checksum", html.escape(str(out.attr("input_checksum", "")))
               + (" (verified)" if hist is not None else "")),
               ("points", f"{out.n:,} ({nf:,} forecast)"),
               ("epochs", f"{len(dates)} ({dates[0]} .. {dates[-1]})" if dates else "(input not read)"),
               ("holdout dates", ", ".join(map(str, hd))), ("next dates", ", ".join(map(str, nd))),
               ("coordinates", html.escape(xl + " / " + yl))]
    pk = int(np.atleast_1d(out.get("/partition/k_chosen"))[0]) if out.has("/partition/k_chosen") else None
    part = [("k chosen", f"{pk} (Davies-Bouldin, {html.escape(str(out.attr('db_distance', 'velocity', obj='/partition/k_chosen')))} distance)"),
            ("subregions", str(len(srows))),
            ("edge threshold", fnum(np.atleast_1d(out.get("/partition/edge_threshold"))[0], 1) + " m" if out.has("/partition/edge_threshold") else ""),
            ("noise points", str(int(np.atleast_1d(out.get("/partition/n_noise"))[0])) if out.has("/partition/n_noise") else "")]
    kv = lambda pairs: "<table class=kv>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs) + "</table>"
    doc = TEMPLATE.format(
        title=html.escape(os.path.basename(out.path)),
        summary=kv(summary), config=html.escape(str(out.attr("config", ""))),
        partition=kv(part) + table(["zone", "start (mm/yr)", "centre (mm/yr)", "points"], zrows),
        subregions=table(["id", "zone", "points", "winner", "L/K/S", "selection score", "best baseline", "its score",
                          "holdout MAE", "persistence MAE", "truth MAE", "why"], srows, tid="subregion-table"),
        methods=table(["method", "MAE (mm)", "SD", "MSE", "accuracy (%)", "MAE vs truth"], mrows, tid="method-table", attrs=mattrs)
        + positions,
        interval=(f"<p>Interval level {fnum(lev, 2)}; holdout coverage <b id=coverage>{fnum(cov, 4)}</b> "
                  f"(share of holdout values inside their interval).</p>" if cov is not None else "<p>No intervals in this output.</p>"),
        backtest=backtest, figures=figs, data=json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
        script=SCRIPT)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(doc)
    os.replace(tmp, args.output)
    print(f"hlstm report: wrote {args.output} ({os.path.getsize(args.output):,} bytes, {len(pts)} points on the map)", flush=True)
    return [args.output]


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hlstm report: {title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body{{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}} table{{border-collapse:collapse;margin:.5em 0;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} thead th{{background:#eee}} table.kv th{{background:#f6f6f6}}
figure{{display:inline-block;vertical-align:top;margin:.5em;max-width:48%}} figure img{{max-width:100%;border:1px solid #ddd}}
#map{{border:1px solid #999;cursor:crosshair}} #mapbox{{display:flex;gap:1em;flex-wrap:wrap}} #series{{border:1px solid #999}}
.note{{color:#555;font-size:13px}}
</style></head><body>
<h1>hlstm report: {title}</h1>
<h2>Input</h2>{summary}
<details><summary>configuration (TOML)</summary><pre>{config}</pre></details>
<h2>Partition</h2>{partition}
<h2>Subregions: winner and why</h2>{subregions}
<h2>Methods (holdout, all forecast points)</h2>{methods}
<h2>Intervals</h2>{interval}
{backtest}
<h2>Interactive map</h2>
<p class=note>Click a point: its observed history (black), the holdout forecast (blue) and the next forecast with its interval band (red).
Colour: velocity (mm/yr). The map holds a sample of the points.</p>
<div id=mapbox><canvas id=map width=640 height=560></canvas><div><svg id=series width=680 height=420></svg>
<div><label><input type=checkbox id=zoom> last year and the forecast only</label></div><div id=pointinfo class=note></div></div></div>
<h2>Figures</h2>{figures}
<script id=hlstm-data type="application/json">{data}</script>
<script>{script}</script>
</body></html>
"""

SCRIPT = r"""
(function(){
'use strict';
const D = JSON.parse(document.getElementById('hlstm-data').textContent);
const P = D.points, cv = document.getElementById('map'), ctx = cv.getContext('2d');
const W = cv.width, H = cv.height, pad = 30;
let x0=Infinity,x1=-Infinity,y0=Infinity,y1=-Infinity;
for (const p of P) { if (p.x===null||p.y===null) continue; x0=Math.min(x0,p.x); x1=Math.max(x1,p.x); y0=Math.min(y0,p.y); y1=Math.max(y1,p.y); }
const sx=(W-2*pad)/Math.max(1e-12,(x1-x0)), sy=(H-2*pad)/Math.max(1e-12,(y1-y0)*D.aspect);
const s=Math.min(sx,sy);
function px(p){ return [pad+(p.x-x0)*s, H-pad-(p.y-y0)*s*D.aspect]; }
const vs=P.map(p=>Math.abs(p.v||0)).sort((a,b)=>a-b); const vmax=Math.max(1e-9, vs[Math.floor(0.95*(vs.length-1))]||1);
function colour(v){ const t=Math.max(-1,Math.min(1,(v||0)/vmax)); // red = subsidence, blue = uplift
  const r=t<0?255:Math.round(255*(1-t)), b=t>0?255:Math.round(255*(1+t)), g=Math.round(255*(1-Math.abs(t)));
  return 'rgb('+r+','+g+','+b+')'; }
let selected=null;
function drawMap(){ ctx.fillStyle='#f4f4f4'; ctx.fillRect(0,0,W,H);
  for (const p of P){ if(p.x===null||p.y===null) continue; const [a,b]=px(p); ctx.fillStyle=colour(p.v); ctx.fillRect(a-2,b-2,4,4); }
  if (selected){ const [a,b]=px(selected); ctx.strokeStyle='#000'; ctx.lineWidth=2; ctx.beginPath(); ctx.arc(a,b,7,0,2*Math.PI); ctx.stroke(); }
  ctx.fillStyle='#333'; ctx.font='12px sans-serif'; ctx.fillText(D.xlabel+' / '+D.ylabel, 4, H-6);
  ctx.fillText('velocity: red '+(-vmax).toFixed(1)+' .. blue '+vmax.toFixed(1)+' mm/yr', 4, 14); }
const NS='http://www.w3.org/2000/svg', svg=document.getElementById('series');
function el(n,a,parent){ const e=document.createElementNS(NS,n); for(const k in a) e.setAttribute(k,a[k]); (parent||svg).appendChild(e); return e; }
const day=s=>Date.parse(s)/864e5;
function drawSeries(p){
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const SW=+svg.getAttribute('width'), SH=+svg.getAttribute('height'), L=60,R=15,T=25,B=40;
  const hist=(p.obs||[]).map((v,i)=>[day(D.dates[i]),v]).filter(q=>q[1]!==null);
  const hd=D.holdout_dates.map(day), nd=D.next_dates.map(day);
  const hstart=hd.length?hd[0]:Infinity;
  const vis=hist.filter(q=>q[0]<hstart);
  const base=vis.length?vis[vis.length-1]:null;
  const hold=[];
  if(base&&p.holdout_cumulative&&p.holdout_pred){ hold.push([base[0],p.holdout_cumulative[0]-p.holdout_pred[0]]); p.holdout_cumulative.forEach((v,i)=>hold.push([hd[i],v])); }
  else if(base&&p.holdout_pred){ let c=base[1]; hold.push(base); p.holdout_pred.forEach((v,i)=>{ c+=(v||0); hold.push([hd[i],c]); }); }
  const nb=(p.next_cumulative&&p.next_diff)?p.next_cumulative[0]-p.next_diff[0]:null;
  const start=hist.length?hist[hist.length-1][0]:(hd.length?hd[hd.length-1]:nd[0]);
  const fc=[[start,nb]].concat(nd.map((d,i)=>[d,p.next_cumulative[i]]));
  const lo=[[start,nb]].concat(nd.map((d,i)=>[d,p.interval_low?p.interval_low[i]:null]));
  const hi=[[start,nb]].concat(nd.map((d,i)=>[d,p.interval_high?p.interval_high[i]:null]));
  const tEnd=Math.max(...fc.map(q=>q[0])), zoom=document.getElementById('zoom').checked;
  const all=hist.concat(hold,fc,lo,hi).filter(q=>q[1]!==null&&isFinite(q[1])&&(!zoom||q[0]>=tEnd-400));
  let ax0=Math.min(...all.map(q=>q[0])), ax1=Math.max(...all.map(q=>q[0])), ay0=Math.min(...all.map(q=>q[1])), ay1=Math.max(...all.map(q=>q[1]));
  if(ay1-ay0<1e-9){ay0-=1;ay1+=1;} const my=(ay1-ay0)*0.05; ay0-=my; ay1+=my;
  const X=t=>L+(t-ax0)/Math.max(1e-9,ax1-ax0)*(SW-L-R), Y=v=>SH-B-(v-ay0)/(ay1-ay0)*(SH-T-B);
  el('rect',{x:L,y:T,width:SW-L-R,height:SH-T-B,fill:'#fff',stroke:'#999'});
  for(let k=0;k<=4;k++){ const v=ay0+(ay1-ay0)*k/4, t=ax0+(ax1-ax0)*k/4;
    el('text',{x:L-4,y:Y(v)+4,'text-anchor':'end','font-size':11}).textContent=v.toFixed(1);
    el('text',{x:X(t),y:SH-B+16,'text-anchor':'middle','font-size':11}).textContent=new Date(t*864e5).toISOString().slice(0,10); }
  el('text',{x:14,y:T+(SH-T-B)/2,'font-size':12,transform:'rotate(-90 14 '+(T+(SH-T-B)/2)+')','text-anchor':'middle'}).textContent='cumulative displacement (mm)';
  el('text',{x:L,y:16,'font-size':13}).textContent='point '+p.id+' (subregion '+p.sub+', '+p.m+', v = '+p.v+' mm/yr)';
  const path=q=>q.filter(r=>r[1]!==null&&r[0]>=ax0).map((r,i)=>(i?'L':'M')+X(r[0]).toFixed(2)+' '+Y(r[1]).toFixed(2)).join(' ');
  if (p.interval_low&&p.interval_high){ const band=hi.concat(lo.slice().reverse());
    el('path',{d:path(band)+' Z',fill:'rgba(220,20,60,0.18)',stroke:'none','data-series':'band'}); }
  el('path',{d:path(vis),fill:'none',stroke:'#333','stroke-width':1,'data-series':'history'});
  for (const q of hist.filter(r=>r[0]>=ax0)) el('circle',{cx:X(q[0]),cy:Y(q[1]),r:q[0]<hstart?1.8:3.5,fill:q[0]<hstart?'#333':'darkorange'});
  if (hold.length) el('path',{d:path(hold),fill:'none',stroke:'royalblue','stroke-width':2,'data-series':'holdout'});
  const f=el('path',{d:path(fc),fill:'none',stroke:'crimson','stroke-width':2.5,'data-series':'forecast'});
  f.setAttribute('data-values', JSON.stringify(fc.map(q=>q[1])));
  f.setAttribute('data-last', String(fc[fc.length-1][1]));
  svg.setAttribute('data-point-id', String(p.id));
  document.getElementById('pointinfo').textContent='point '+p.id+': next forecast '+D.next_dates.map((d,i)=>d+' '+p.next_cumulative[i].toFixed(2)+' mm ['+
     (p.interval_low?p.interval_low[i].toFixed(2):'?')+', '+(p.interval_high?p.interval_high[i].toFixed(2):'?')+']').join('; ');
}
function select(p){ selected=p; drawMap(); drawSeries(p); }
document.getElementById('zoom').addEventListener('change', ()=>{ const id=+svg.getAttribute('data-point-id'); const p=P.find(q=>q.id===id); if(p) drawSeries(p); });
cv.addEventListener('click', ev=>{ const r=cv.getBoundingClientRect(); const mx=(ev.clientX-r.left)*W/r.width, my=(ev.clientY-r.top)*H/r.height;
  let best=null, bd=Infinity; for(const p of P){ if(p.x===null||p.y===null) continue; const [a,b]=px(p); const d=(a-mx)*(a-mx)+(b-my)*(b-my); if(d<bd){bd=d;best=p;} }
  if (best && bd<=15*15) select(best); });
drawMap();
const first=P.find(p=>p.id===D.representative[0])||P[0]; if(first) drawSeries(first);
window.hlstmReport={points:P, select:id=>select(P.find(p=>p.id===id)),
  pixelOf:id=>{ const p=P.find(q=>q.id===id); const [a,b]=px(p); const r=cv.getBoundingClientRect(); return [r.left+a*r.width/W, r.top+b*r.height/H]; }};
})();
"""


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["plot", "report"])
    ap.add_argument("file")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--format", default="png", choices=["png", "pdf"])
    ap.add_argument("--points", default="")
    ap.add_argument("--lalo", default="")
    ap.add_argument("--input", default="")
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--map-points", type=int, default=2000)
    ap.add_argument("--error-file", default="")
    args = ap.parse_args(argv)
    try:
        (cmd_plot if args.command == "plot" else cmd_report)(args)
        return 0
    except BadInput as e:
        code, msg = 1, str(e)
    except Exception as e:  # noqa: BLE001 - every other failure is a runtime error (exit 2)
        import traceback
        traceback.print_exc()
        code, msg = 2, f"{type(e).__name__}: {e}"
    if args.error_file:
        with open(args.error_file, "w") as fh:
            fh.write(msg)
    print("hlstm_plot: " + msg, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
