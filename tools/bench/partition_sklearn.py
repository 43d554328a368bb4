#!/usr/bin/python3
"""Reference peer of `hlstm partition`: the same KDP partition written plainly with
scikit-learn and SciPy (KMeans n_init=10 per k + davies_bouldin_score + scipy.spatial.Delaunay
+ scipy.sparse.csgraph.connected_components), timed on the same points, and compared with
hlstm's output file by the adjusted Rand index of the subregion labels.

Usage: partition_sklearn.py INPUT.h5 HLSTM_OUTPUT.h5 [--k-min 2 --k-max 10 --alpha 3
       --min-points 1000 --holdout 1 --min-valid-fraction 0.5 --hlstm-seconds S]

Prints the timings, both chosen k, the ARI and last `RATIO partition sklearn/hlstm = X`
(when --hlstm-seconds is given).
"""
import argparse
import sys
import time
from datetime import date

import h5py
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score


def days(yyyymmdd):
    return np.array([date(d // 10000, (d // 100) % 100, d % 100).toordinal() for d in yyyymmdd], float)


def load(path, min_valid_fraction):
    """The reader's rules: metres -> mm, drop points with < 2 or < fraction valid epochs,
    fill gaps linearly in time (nearest value at the ends)."""
    with h5py.File(path, "r") as f:
        x = f["/x"][:]
        y = f["/y"][:]
        dates = f["/dates"][:]
        disp = f["/displacement"][:].astype(np.float64)
        unit = f["/displacement"].attrs["unit"]
        unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    if unit == "m":
        disp *= 1000.0
    m = disp.shape[1]
    valid = np.isfinite(disp)
    count = valid.sum(axis=1)
    keep = (count >= 2) & (count >= min_valid_fraction * m)
    x, y, disp, valid = x[keep], y[keep], disp[keep], valid[keep]
    d = days(dates)
    cols = np.arange(m)
    prev = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(valid, cols, m)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(disp.shape[0])[:, None]
    p = np.clip(prev, 0, m - 1)
    q = np.clip(nxt, 0, m - 1)
    vp = disp[rows, p]
    vq = disp[rows, q]
    dp, dq = d[p], d[q]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(dq > dp, (d[None, :] - dp) / (dq - dp), 0.0)
    filled = np.where(prev < 0, vq, np.where(nxt >= m, vp, (1 - w) * vp + w * vq))
    disp = np.where(valid, disp, filled)
    return x, y, dates, disp


def partition(x, y, years, disp, k_min, k_max, alpha, min_points):
    t = {}
    t0 = time.perf_counter()
    # velocity: OLS slope of the cumulative displacement (mm/yr)
    tc = years - years.mean()
    v = (disp - disp.mean(axis=1, keepdims=True)) @ tc / (tc @ tc)
    t["velocity"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    db = {}
    labels = {}
    for k in range(k_min, k_max + 1):
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(v.reshape(-1, 1))
        labels[k] = km.labels_
        db[k] = davies_bouldin_score(v.reshape(-1, 1), km.labels_)
    k_best = min(db, key=lambda k: (db[k], k))
    t["kmeans_db"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    tri = Delaunay(np.column_stack([x, y]))
    s = tri.simplices
    e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [2, 0]]]).astype(np.int64)
    e.sort(axis=1)
    key = np.unique(e[:, 0] * len(x) + e[:, 1])  # each undirected edge once
    e = np.column_stack([key // len(x), key % len(x)])
    t["delaunay"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    length = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    threshold = length.mean() + alpha * length.std()
    zone = labels[k_best]
    kept = (length <= threshold) & (zone[e[:, 0]] == zone[e[:, 1]])
    n = len(x)
    graph = coo_matrix((np.ones(kept.sum()), (e[kept, 0], e[kept, 1])), shape=(n, n))
    ncomp, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    big = sizes >= min_points
    sub = np.where(big[comp], comp, -1)
    t["cut_components"] = time.perf_counter() - t3
    t["total"] = time.perf_counter() - t0
    return dict(v=v, db=db, k=k_best, sub=sub, ncomp=ncomp, nsub=int(big.sum()) + int((~big[comp]).any()),
                n_edges=len(e), threshold=threshold, dropped=len(tri.coplanar), t=t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("hlstm_output")
    ap.add_argument("--k-min", type=int, default=2)
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=3.0)
    ap.add_argument("--min-points", type=int, default=1000)
    ap.add_argument("--holdout", type=int, default=1)
    ap.add_argument("--min-valid-fraction", type=float, default=0.5)
    ap.add_argument("--hlstm-seconds", type=float, default=None)
    a = ap.parse_args()

    x, y, dates, disp = load(a.input, a.min_valid_fraction)
    m = disp.shape[1] - a.holdout
    years = (days(dates) - days(dates)[0]) / 365.25
    with h5py.File(a.hlstm_output, "r") as f:
        h_sub = f["/points/subregion"][:]
        h_vel = f["/points/velocity"][:]
        h_k = int(f["/partition/k_chosen"][0])
        h_db = f["/partition/db_index_velocity"][:]
        h_edges = int(f["/partition/n_edges"][0])
        h_thr = float(f["/partition/edge_threshold"][0])
    if len(h_sub) != len(x):
        sys.exit(f"point sets differ: hlstm {len(h_sub)}, this reader {len(x)}")

    r = partition(x, y, years[:m], disp[:, :m], a.k_min, a.k_max, a.alpha, a.min_points)
    print(f"points {len(x)}, epochs used {m}")
    print("sklearn phases (s): " + ", ".join(f"{k} {v:.3f}" for k, v in r["t"].items()))
    print(f"max |velocity difference| hlstm vs numpy: {np.max(np.abs(h_vel - r['v'])):.3e} mm/yr")
    print("DB velocity   k: " + " ".join(f"{k}:{r['db'][k]:.4f}" for k in sorted(r["db"])))
    print("DB hlstm      k: " + " ".join(f"{k}:{d:.4f}" for k, d in zip(range(a.k_min, a.k_max + 1), h_db)))
    print(f"chosen k: sklearn {r['k']}, hlstm {h_k}")
    print(f"Delaunay edges: sklearn {r['n_edges']} (Qhull left out {r['dropped']} points), hlstm {h_edges}; "
          f"threshold sklearn {r['threshold']:.3f}, hlstm {h_thr:.3f}")
    print(f"subregions: sklearn {r['nsub']}, hlstm {int(h_sub.max()) + 1}")
    ari = adjusted_rand_score(h_sub, r["sub"])
    same = "same k" if r["k"] == h_k else "different k: ARI not comparable"
    print(f"ARI subregions hlstm vs sklearn = {ari:.6f} ({same})")
    print(f"sklearn partition time = {r['t']['total']:.3f} s")
    if a.hlstm_seconds:
        print(f"hlstm partition time = {a.hlstm_seconds:.3f} s")
        print(f"RATIO partition sklearn/hlstm = {r['t']['total'] / a.hlstm_seconds:.2f}")


if __name__ == "__main__":
    main()
