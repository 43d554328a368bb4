"""Issue 23's table from tools/eval/atmosphere.sh's runs: HLSTM and every baseline against the
truth (validation points, as /metrics), h = 1 differential (Y = 1 run) and positions at
h = 1, 3, 6, 12 (12-epoch holdout run), the best baseline per cell and the subregions (points)
the learned model won.  usage: atmosphere_table.py DIR SCENE..."""
import sys

import h5py
import numpy as np

STEPS = [1, 3, 6, 12]


def names(ds):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in ds[:]]


def won(f):
    method = names(f["subregions/method"])
    n = f["subregions/n_points"][:]
    learned = [i for i, m in enumerate(method) if m in ("lstm", "gru", "rnn") or m.startswith("lstm") or "+" in m]
    return "%d/%d (%d/%d pts)" % (len(learned), len(method), int(sum(n[i] for i in learned)), int(n.sum()))


def cell(h, base):
    b = min(base, key=lambda kv: kv[1])
    mark = "**" if h <= b[1] else ""
    return "%s%.3f%s vs %s %.3f" % (mark, h, mark, b[0], b[1]), h <= b[1]


def main():
    d, scenes = sys.argv[1], sys.argv[2:]
    rows, wins, cells = [], 0, 0
    detail = []
    for s in scenes:
        f1 = h5py.File("%s/%s.y1.h5" % (d, s), "r")
        f12 = h5py.File("%s/%s.y12.h5" % (d, s), "r")
        h = float(f1["metrics"].attrs["mae_truth"])
        base = list(zip(names(f1["baselines/name"]), f1["baselines/mae_truth"][:]))
        c, ok = cell(h, base)
        out = [c]
        atm = not s.endswith("n")
        wins += ok and atm
        cells += atm
        detail.append("%s y1: HLSTM %.3f | " % (s, h) + " ".join("%s %.3f" % kv for kv in base))
        hp = f12["metrics/position_step_mae_truth"][:]
        pn = names(f12["baselines/position_name"])
        bp = f12["baselines/position_step_mae_truth"][:]
        for k in STEPS:
            c, ok = cell(hp[k - 1], [(pn[j], bp[j, k - 1]) for j in range(len(pn)) if pn[j] != "persistence"])
            out.append(c)
            wins += ok and atm
            cells += atm
        detail.append(
            "%s y12 (h=%s): HLSTM %s | " % (s, ",".join(map(str, STEPS)), "/".join("%.2f" % hp[k - 1] for k in STEPS))
            + " ".join("%s %s" % (pn[j], "/".join("%.2f" % bp[j, k - 1] for k in STEPS)) for j in range(len(pn))))
        cov1 = f1["metrics"].attrs["interval_coverage"]
        cov12 = f12["metrics"].attrs["interval_coverage"]
        rows.append("| %s | %s | %s | %s | %.3f / %.3f |" % (s, " | ".join(out), won(f1), won(f12), cov1, cov12))
    print("| scene | h=1 differential | position h=1 | h=3 | h=6 | h=12 | learned won (Y=1) | learned won (Y=12) "
          "| coverage Y=1 / Y=12 |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("HLSTM <= best baseline in %d of %d cells with the atmosphere on" % (wins, cells))
    print("\n".join(detail))


if __name__ == "__main__":
    main()
