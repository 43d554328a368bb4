"""The table of tools/eval/backtests.sh: per scene, HLSTM's position MAE against the truth at
h = 1, 3, 6, 12, mean over the backtest's origins, beside the best baseline of each cell
(persistence aside: it never leads); the cells HLSTM holds; the intervals' coverage; and over
the atmosphere scenes ("sN", "demo") the mean of every method and of the best baseline per cell.
usage: backtest_table.py DIR SCENE..."""
import os
import sys

import h5py
import numpy as np

STEPS = [1, 3, 6, 12]


def names(ds):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in ds[:]]


def main():
    d, scenes = sys.argv[1], sys.argv[2:]
    print("| scene | origins | " + " | ".join("h=%d HLSTM vs best baseline" % h for h in STEPS) + " | coverage |")
    print("|---|---|" + "---|" * len(STEPS) + "---|")
    per_method, best_rows, won, cells = {}, [], {True: 0, False: 0}, {True: 0, False: 0}
    for s in scenes:
        path = os.path.join(d, s + ".bt.h5")
        if not os.path.exists(path):
            continue
        with h5py.File(path, "r") as f:
            methods = names(f["backtest/method"])
            err = f["backtest/mae_truth"][:]  # methods x origins x Y
            cov = f["backtest/coverage"][:]
        mean = np.nanmean(err, axis=1)
        atm = not s.endswith("n")
        row, best = [], []
        for h in STEPS:
            k = h - 1
            j = min((j for j in range(1, len(methods)) if methods[j] != "persistence"), key=lambda j: mean[j, k])
            ok = mean[0, k] <= mean[j, k]
            won[atm] += ok
            cells[atm] += 1
            mark = "**" if ok else ""
            row.append("%s%.3f%s vs %s %.3f" % (mark, mean[0, k], mark, methods[j], mean[j, k]))
            best.append(mean[j, k])
        print("| %s | %d | %s | %.3f |" % (s, err.shape[1], " | ".join(row), float(np.nanmean(cov))))
        if atm:
            best_rows.append(best)
            for j, m in enumerate(methods):
                per_method.setdefault(m, []).append([mean[j, h - 1] for h in STEPS])
    for atm in (True, False):
        if cells[atm]:
            print("HLSTM <= the best baseline (mean over origins) in %d of %d cells with the atmosphere %s" %
                  (won[atm], cells[atm], "on" if atm else "off"))
    if best_rows:
        print("\nmean over the %d atmosphere scenes of each scene's mean over its origins, h = %s:" %
              (len(best_rows), " / ".join(str(h) for h in STEPS)))
        rows = sorted(per_method.items(), key=lambda kv: np.mean(kv[1], axis=0)[0])
        rows.insert(0, ("best baseline per cell", best_rows))
        for m, v in rows:
            print("  %-24s %s" % (m, " / ".join("%.3f" % x for x in np.mean(v, axis=0))))


if __name__ == "__main__":
    main()
