#!/usr/bin/python3
"""PyTorch side of tools/bench/lstm_infer.sh: the same network (K stacked LSTM layers of S units,
a dense head on the last step, weights written by hlstm_bench_lstm_infer) on the same windows,
under torch.no_grad(), at the given threads and batch sizes; checks its outputs against hlstm's
and prints one RESULT line per batch size (median seconds of RUNS passes over all windows).

usage: lstm_infer_torch.py DIR N L K S RUNS THREADS BATCH [BATCH ...]
"""
import sys
import time

import numpy as np
import torch


def main():
    d, n, L, K, S, runs, threads = sys.argv[1], *map(int, sys.argv[2:8])
    batches = [int(b) for b in sys.argv[8:]]
    torch.set_num_threads(threads)
    T = L - 1
    x = torch.from_numpy(np.fromfile(f"{d}/x.bin", dtype=np.float32).reshape(n, T, 1))
    flat = np.fromfile(f"{d}/params.bin", dtype=np.float32)
    lstm = torch.nn.LSTM(1, S, K, batch_first=True)
    head = torch.nn.Linear(S, 1)
    at = 0

    def take(count):
        nonlocal at
        v = flat[at:at + count]
        at += count
        return torch.from_numpy(v.copy())

    with torch.no_grad():
        # Parameters' layouts (include/hlstm/model/parameters.hpp): ldigo = PyTorch's transposed.
        for l in range(K):
            inp = 1 if l == 0 else S
            getattr(lstm, f"weight_ih_l{l}").copy_(take(inp * 4 * S).reshape(inp, 4 * S).T)
            getattr(lstm, f"weight_hh_l{l}").copy_(take(S * 4 * S).reshape(S, 4 * S).T)
            getattr(lstm, f"bias_ih_l{l}").copy_(take(4 * S))
            getattr(lstm, f"bias_hh_l{l}").zero_()
        head.weight.copy_(take(S).reshape(S, 1).T)
        head.bias.copy_(take(1))
        assert at == flat.size
        hlstm = np.fromfile(f"{d}/out.bin", dtype=np.float32)
        for batch in batches:
            times = []
            for _ in range(runs):
                out = np.empty(n, dtype=np.float32)
                start = time.perf_counter()
                for first in range(0, n, batch):
                    h, _ = lstm(x[first:first + batch])
                    out[first:first + batch] = head(h[:, -1, :])[:, 0].numpy()
                times.append(time.perf_counter() - start)
            t = sorted(times)[len(times) // 2]
            diff = float(np.max(np.abs(out - hlstm)))
            print(f"torch batch {batch}: {n} windows in {t:.3f} s = {n / t:.0f} windows/s, "
                  f"largest |torch - hlstm| = {diff:.3g}")
            print(f"RESULT torch {batch} {t:.6f} {diff:.6g}")


if __name__ == "__main__":
    main()
