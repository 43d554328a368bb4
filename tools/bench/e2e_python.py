#!/usr/bin/python3
"""Reference peer of tools/bench/e2e.sh: the HLSTM method end to end as a user would write it
in Python - the scene read with h5py (the reader's rules: drop sparse points, fill gaps), the
last epoch held out, velocity K-means with k by the Davies-Bouldin index and the Delaunay cut
(partition_sklearn.py's functions: scikit-learn KMeans, SciPy Delaunay and connected
components), one PyTorch LSTM per subregion (K layers of S units, dense head; the latest window
of L rates per point, z-scored by its input part; 70/30 split; Adam, MSE, the configured batch
and epochs; trained on the epochs before the selection cuts, as hlstm does), the holdout and
next forecasts of every point, and the NumPy baselines (persistence, window_mean, velocity,
linear_trend, ses with a = 0.01..1, ar with p <= 5 by AIC, mlr on 12 lags), every method's
holdout MAE against the observations and the truth.

Usage: e2e_python.py INPUT.h5 [--L 60 --K 3 --S 10 --epochs 30 --batch 256 --lr 0.001
       --threads 2 --train-cut 12 --seed 42]
Prints the phase timings and the methods' MAE; the caller times the whole process.
"""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from partition_sklearn import days, load, partition  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, layers, units):
        super().__init__()
        self.lstm = torch.nn.LSTM(1, units, layers)  # sequence-first
        self.dense = torch.nn.Linear(units, 1)

    def forward(self, x):  # [T, B, 1]
        out, _ = self.lstm(x)
        return self.dense(out[-1])


def windows(rates, end, steps):
    """The latest window per point: `steps` rates before index `end` (exclusive), z-scored by
    their mean and standard deviation (floored)."""
    x = rates[:, end - steps:end]
    mean = x.mean(axis=1)
    scale = np.maximum(x.std(axis=1), 1e-6)
    return (x - mean[:, None]) / scale[:, None], mean, scale


def predict(model, x):
    with torch.no_grad():
        xt = torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32)).unsqueeze(-1)
        return torch.cat([model(xt[:, i:i + 1024]) for i in range(0, xt.shape[1], 1024)]).numpy()[:, 0]


def ols_slope(c, s):
    sc = s - s.mean()
    return (c - c.mean(axis=1, keepdims=True)) @ sc / (sc @ sc)


def ses(r):
    best = np.full(len(r), np.inf)
    level_best = np.zeros(len(r))
    for k in range(1, 101):
        a = k / 100
        level = r[:, 0].copy()
        sse = np.zeros(len(r))
        for t in range(1, r.shape[1]):
            e = r[:, t] - level
            sse += e * e
            level += a * e
        better = sse < best
        best[better] = sse[better]
        level_best[better] = level[better]
    return level_best


def ar(r, max_order=5):
    n, m = r.shape
    P = min(max_order, (m - 2) // 2)
    mu = r.mean(axis=1, keepdims=True)
    x = r - mu
    y = x[:, P:]
    count = m - P
    tss = (y * y).sum(1) - y.sum(1) ** 2 / count
    best_aic = count * np.log(np.maximum(tss, 1e-300) / count) + 2
    pred = y.mean(1) + mu[:, 0]
    for p in range(1, P + 1):
        X = np.concatenate([np.ones((n, count, 1))] + [x[:, P - k:m - k, None] for k in range(1, p + 1)], axis=2)
        G = np.einsum("ntk,ntl->nkl", X, X)
        b = np.einsum("ntk,nt->nk", X, y)
        try:
            coef = np.linalg.solve(G, b[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            break
        rss = np.maximum((y * y).sum(1) - (coef * b).sum(1), 1e-300)
        aic = count * np.log(rss / count) + 2 * (p + 1)
        lags = np.stack([x[:, m - k] for k in range(1, p + 1)], axis=1)
        fc = coef[:, 0] + (coef[:, 1:] * lags).sum(1) + mu[:, 0]
        better = aic < best_aic
        best_aic[better] = aic[better]
        pred[better] = fc[better]
    return pred


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--L", type=int, default=60)
    ap.add_argument("--K", type=int, default=3)
    ap.add_argument("--S", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-cut", type=int, default=12)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--min-points", type=int, default=1000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t = {}
    t0 = time.perf_counter()
    x, y, dates, disp = load(a.input, 0.5)
    with h5py.File(a.input, "r") as f:  # the truth of the kept points (same rule as load)
        raw = f["/displacement"][:]
        count = np.isfinite(raw).sum(axis=1)
        keep = (count >= 2) & (count >= 0.5 * raw.shape[1])
        truth = f["/truth"][:][keep].astype(np.float64) if "truth" in f else None
    d = days(dates)
    steps = d / np.median(np.diff(d))
    m = disp.shape[1]
    V = m - 1  # the holdout: the last epoch
    t["read"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    part = partition(x, y, d[:V] / 365.25, disp[:, :V], 2, 10, 3.0, a.min_points)
    sub = part["sub"]
    t["partition"] = time.perf_counter() - t1

    rates = np.diff(disp, axis=1) / np.diff(steps)[None, :]  # mm per nominal step
    gap_h = steps[V] - steps[V - 1]
    inp = a.L - 1
    t2 = time.perf_counter()
    pred_hold = np.full(len(x), np.nan)
    pred_next = np.full(len(x), np.nan)
    T = V - a.train_cut  # the epochs the candidates train on
    for s in np.unique(sub):
        idx = np.where(sub == s)[0]
        perm = rng.permutation(len(idx))
        n_val = int(round(0.3 * len(idx)))
        val, train = idx[perm[:n_val]], idx[perm[n_val:]]
        # Latest window inside the training epochs: inputs rates [T-1-L, T-2), label rate T-2.
        xw, mean, scale = windows(rates[train], T - 2, inp)
        lab = (rates[train, T - 2] - mean) / scale
        model = Net(a.K, a.S)
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
        loss_fn = torch.nn.MSELoss()
        xs = torch.from_numpy(np.ascontiguousarray(xw.T, dtype=np.float32)).unsqueeze(-1)
        ys = torch.from_numpy(lab.astype(np.float32))[:, None]
        for _ in range(a.epochs):
            order = torch.randperm(len(train))
            for first in range(0, len(train), a.batch):
                b = order[first:first + a.batch]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xs.index_select(1, b)), ys.index_select(0, b))
                loss.backward()
                opt.step()
        xv, mv, sv = windows(rates[val], T - 2, inp)  # eq. (3): validation MAE in mm
        val_mae = np.mean(np.abs(predict(model, xv) * sv + mv - rates[val, T - 2]))
        xh, mh, sh = windows(rates[idx], V - 1, inp)  # holdout: the visible rates
        pred_hold[idx] = (predict(model, xh) * sh + mh) * gap_h
        xn, mn, sn = windows(rates[idx], m - 1, inp)  # next: every rate
        pred_next[idx] = predict(model, xn) * sn + mn
        print(f"subregion {s}: {len(idx)} points, validation MAE {val_mae:.4f} mm")
    t["lstm"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    rv = rates[:, :V - 1]
    base = {
        "persistence": rv[:, -1],
        "window_mean": rv[:, -(a.L - 1):].mean(1),
        "velocity": ols_slope(disp[:, :V], steps[:V]),
        "linear_trend": ols_slope(disp[:, V - a.L:V], steps[V - a.L:V]),
        "ses": ses(rv),
        "ar": ar(rv),
    }
    lags = 12
    tr = rates[:, :T - 1]
    X = np.concatenate([np.ones((len(x), tr.shape[1] - lags, 1))] +
                       [tr[:, lags - k:tr.shape[1] - k, None] for k in range(1, lags + 1)], axis=2)
    coef = np.linalg.lstsq(X.reshape(-1, lags + 1), tr[:, lags:].reshape(-1), rcond=None)[0]
    base["mlr"] = coef[0] + np.stack([rv[:, -k] for k in range(1, lags + 1)], axis=1) @ coef[1:]
    t["baselines"] = time.perf_counter() - t3

    observed = disp[:, V] - disp[:, V - 1]
    true_d = truth[:, V] - truth[:, V - 1] if truth is not None else None
    print("method          MAE  MAE truth")
    for name, p in [("HLSTM", pred_hold)] + [(k, v * gap_h) for k, v in base.items()]:
        tm = np.nanmean(np.abs(p - true_d)) if true_d is not None else float("nan")
        print(f"{name:<12} {np.nanmean(np.abs(p - observed)):7.3f} {tm:9.3f}")
    t["total"] = time.perf_counter() - t0
    print("python phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in t.items()))
    print(f"points {len(x)}, subregions {len(np.unique(sub))}, k {part['k']}, next forecast finite "
          f"{int(np.isfinite(pred_next).sum())}")


if __name__ == "__main__":
    main()
