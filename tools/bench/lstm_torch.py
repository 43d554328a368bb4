#!/usr/bin/python3
"""PyTorch side of tools/bench/lstm.sh: the same model (K stacked LSTM layers of S units, a
dense head on the last step), data (samples dumped by hlstm_bench_lstm), loss (MSE), optimiser
(Adam), batch, epochs and threads as hlstm's engine; prints one RESULT line.

usage: lstm_torch.py DATA K S BATCH EPOCHS THREADS LR SEED
       lstm_torch.py blas      (prints the BLAS library torch runs with)
"""
import re
import sys
import time

import numpy as np
import torch


def blas_in_use():
    """The BLAS shared object this process mapped, and torch's own BLAS_INFO."""
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if re.search(r"(blas|lapack|mkl)", path):
                libs.add(path)
    info = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return sorted(libs), info.group(1) if info else "?"


def load(path):
    with open(path, "rb") as f:
        n_train, n_val, steps, horizon = np.fromfile(f, dtype=np.int32, count=4)
        def take(n):
            return np.fromfile(f, dtype=np.float32, count=int(n))
        x_train = take(n_train * steps).reshape(n_train, steps)
        y_train = take(n_train * horizon).reshape(n_train, horizon)
        x_val = take(n_val * steps).reshape(n_val, steps)
        take(n_val * horizon)  # z-scored validation labels (unused: MAE is in mm)
        mean = take(n_val)
        scale = take(n_val)
        y_val_mm = take(n_val * horizon).reshape(n_val, horizon)
    return x_train, y_train, x_val, mean, scale, y_val_mm


class Net(torch.nn.Module):
    def __init__(self, layers, units, horizon):
        super().__init__()
        self.lstm = torch.nn.LSTM(1, units, layers)  # sequence-first, like oneDNN's tnc
        self.dense = torch.nn.Linear(units, horizon)

    def forward(self, x):  # x: [T, B, 1]
        out, _ = self.lstm(x)
        return self.dense(out[-1])


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "blas":
        torch.mm(torch.randn(64, 64), torch.randn(64, 64))  # make sure the BLAS is loaded
        libs, info = blas_in_use()
        print("BLAS torch %s BLAS_INFO=%s mapped: %s" % (torch.__version__, info, " ".join(libs) or "none"))
        return
    if len(sys.argv) < 9:
        sys.exit(__doc__)
    path = sys.argv[1]
    layers, units, batch, epochs, threads = (int(v) for v in sys.argv[2:7])
    lr, seed = float(sys.argv[7]), int(sys.argv[8])
    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    x_train, y_train, x_val, mean, scale, y_val_mm = load(path)
    n, steps = x_train.shape
    horizon = y_train.shape[1]
    # Pre-packed tensors: [T, N, 1] inputs so that a batch is one index_select.
    xs = torch.from_numpy(np.ascontiguousarray(x_train.T)).unsqueeze(-1)
    ys = torch.from_numpy(y_train)
    model = Net(layers, units, horizon)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.MSELoss()

    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for first in range(0, n, batch):
            idx = perm[first:first + batch]
            xb = xs.index_select(1, idx)
            yb = ys.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - start

    with torch.no_grad():
        xv = torch.from_numpy(np.ascontiguousarray(x_val.T)).unsqueeze(-1)
        z = torch.cat([model(xv[:, i:i + 1024]) for i in range(0, xv.shape[1], 1024)]).numpy()
    pred_mm = z.astype(np.float64) * scale[:, None] + mean[:, None]
    mae = float(np.mean(np.abs(pred_mm - y_val_mm)))

    rate = n * epochs / train_s
    fwd = sum(2.0 * 4 * units * ((1 if l == 0 else units) + units) * steps for l in range(layers))
    fwd += 2.0 * units * horizon
    print("RESULT engine=torch K=%d S=%d B=%d threads=%d train_samples=%d epochs=%d train_s=%.3f "
          "samples_per_s=%.1f gflops=%.2f val_mae=%.6f status=%s"
          % (layers, units, batch, threads, n, epochs, train_s, rate, rate * 3 * fwd / 1e9, mae,
             "ok" if np.isfinite(mae) else "diverged"))


if __name__ == "__main__":
    main()
