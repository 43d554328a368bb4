// Per-method error distribution of the holdout forecasts (the paper's section III-E: the share
// of points within +-0.5 mm and the largest error) and a paired comparison of HLSTM with the
// best baseline, gathered on root in row order so nothing depends on the rank count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

constexpr double kNaNd = std::numeric_limits<double>::quiet_NaN();
constexpr int kReplicates = 2000;  // bootstrap replicates of the paired MAE difference

// Linear-interpolation quantile of sorted values (numpy's default).
double quantile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return kNaNd;
    const double h = p * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// quantile() without sorting: the order statistics it reads (floor(h) and the next, for each p),
// each found by selection in the part of `e` not yet partitioned (ascending indices), so the
// values are the sorted array's, in linear time instead of a sort per method and reference.
std::vector<double> quantilesOf(std::vector<double>& e, const std::vector<double>& ps) {
    std::vector<double> out(ps.size(), kNaNd);
    if (e.empty()) return out;
    std::vector<std::size_t> at;
    for (double p : ps) {
        const auto lo = static_cast<std::size_t>(std::floor(p * static_cast<double>(e.size() - 1)));
        at.push_back(lo);
        at.push_back(std::min(lo + 1, e.size() - 1));
    }
    std::vector<std::size_t> order = at;
    std::sort(order.begin(), order.end());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    std::size_t from = 0;
    for (std::size_t k : order) {
        std::nth_element(e.begin() + static_cast<std::ptrdiff_t>(from), e.begin() + static_cast<std::ptrdiff_t>(k),
                         e.end());
        from = k + 1;
    }
    for (std::size_t i = 0; i < ps.size(); ++i) {
        const double h = ps[i] * static_cast<double>(e.size() - 1);
        const std::size_t lo = at[2 * i], hi = at[2 * i + 1];
        out[i] = e[lo] + (h - static_cast<double>(lo)) * (e[hi] - e[lo]);  // as quantile()
    }
    return out;
}

// Share within the threshold and max, p50, p90, p99 of |pred - ref| over the finite pairs.
void distribution(const std::vector<float>& pred, const std::vector<float>& ref, double threshold,
                  std::vector<double>& within, std::vector<double>& quantiles) {
    std::vector<double> e;
    e.reserve(pred.size());
    for (std::size_t i = 0; i < pred.size(); ++i)
        if (std::isfinite(pred[i]) && std::isfinite(ref[i])) e.push_back(std::fabs(double(pred[i]) - double(ref[i])));
    const auto inside = std::count_if(e.begin(), e.end(), [threshold](double v) { return v <= threshold; });
    within.push_back(e.empty() ? kNaNd : static_cast<double>(inside) / static_cast<double>(e.size()));
    const double largest = e.empty() ? kNaNd : *std::max_element(e.begin(), e.end());
    const std::vector<double> q = quantilesOf(e, {0.5, 0.9, 0.99});
    quantiles.insert(quantiles.end(), {largest, q[0], q[1], q[2]});
}

// HLSTM's MAE minus `base`'s over the points where both and the reference are finite, with a
// percentile CI from resampling square blocks of `block` metres (point rows x Y steps).
PairedComparison paired(const std::vector<float>& hlstm, const std::vector<float>& base, const std::vector<float>& ref,
                        const std::vector<double>& x, const std::vector<double>& y, std::size_t Y, double block,
                        std::uint64_t seed, const std::string& name) {
    PairedComparison p;
    p.baseline = name;
    std::map<std::pair<std::int64_t, std::int64_t>, std::pair<double, double>> blocks;  // sum of d, count
    double sum = 0, n = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        for (std::size_t s = 0; s < Y; ++s) {
            const std::size_t k = i * Y + s;
            if (!std::isfinite(hlstm[k]) || !std::isfinite(base[k]) || !std::isfinite(ref[k])) continue;
            const double d = std::fabs(double(hlstm[k]) - ref[k]) - std::fabs(double(base[k]) - ref[k]);
            auto& b = blocks[{static_cast<std::int64_t>(std::floor(x[i] / block)),
                              static_cast<std::int64_t>(std::floor(y[i] / block))}];
            b.first += d, b.second += 1;
            sum += d, n += 1;
        }
    p.n = static_cast<std::uint64_t>(n);
    p.blocks = blocks.size();
    if (n == 0) return p;
    p.difference = sum / n;
    std::vector<std::pair<double, double>> list;
    for (const auto& [key, b] : blocks) list.push_back(b);
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, list.size() - 1);
    std::vector<double> reps;
    for (int r = 0; r < kReplicates; ++r) {
        double rs = 0, rn = 0;
        for (std::size_t j = 0; j < list.size(); ++j) {
            const auto& b = list[pick(rng)];
            rs += b.first, rn += b.second;
        }
        reps.push_back(rs / rn);
    }
    std::sort(reps.begin(), reps.end());
    p.low = quantile(reps, 0.025), p.high = quantile(reps, 0.975);
    return p;
}

}  // namespace

ErrorDistribution errorDistribution(const RunContext& ctx, const LocalBlock& block, const OwnerForecasts& f,
                                    const MetricBook& book, const std::vector<std::string>& names, bool hasTruth) {
    const Comm& comm = ctx.comm;
    const std::size_t Y = static_cast<std::size_t>(ctx.rc.horizon);
    ErrorDistribution e;
    e.threshold = ctx.rc.errorThreshold;
    const auto pred = comm.gatherv(f.pred), obs = comm.gatherv(f.observed), truth = comm.gatherv(f.truth);
    const auto x = comm.gatherv(block.points.x), y = comm.gatherv(block.points.y);
    std::vector<std::vector<float>> base;
    for (std::size_t b = 0; b < names.size(); ++b) base.push_back(comm.gatherv(f.baseline[b]));
    if (comm.isRoot()) {
        distribution(pred, obs, e.threshold, e.within, e.quantiles);
        if (hasTruth) distribution(pred, truth, e.threshold, e.withinTruth, e.quantilesTruth);
        for (const auto& b : base) {
            distribution(b, obs, e.threshold, e.within, e.quantiles);
            if (hasTruth) distribution(b, truth, e.threshold, e.withinTruth, e.quantilesTruth);
        }
        // The best baseline by MAE against each reference.
        auto best = [&](const std::string& suffix) {
            std::size_t arg = 0;
            for (std::size_t b = 1; b < names.size(); ++b)
                if (book[names[b] + suffix][0].mae < book[names[arg] + suffix][0].mae) arg = b;
            return arg;
        };
        if (!names.empty()) {
            const std::size_t b = best("");
            e.paired = paired(pred, base[b], obs, x, y, Y, ctx.rc.bootstrapBlock, ctx.rc.seed, names[b]);
            if (hasTruth) {
                const std::size_t bt = best("/truth");
                e.pairedTruth = paired(pred, base[bt], truth, x, y, Y, ctx.rc.bootstrapBlock, ctx.rc.seed, names[bt]);
            }
        }
    }
    comm.bcastVector(e.within), comm.bcastVector(e.withinTruth);
    comm.bcastVector(e.quantiles), comm.bcastVector(e.quantilesTruth);
    for (PairedComparison* p : {&e.paired, &e.pairedTruth}) {
        std::vector<double> v{p->difference, p->low, p->high, double(p->n), double(p->blocks)};
        comm.bcastVector(v);
        comm.bcast(p->baseline);
        p->difference = v[0], p->low = v[1], p->high = v[2];
        p->n = static_cast<std::uint64_t>(v[3]), p->blocks = static_cast<std::uint64_t>(v[4]);
    }
    return e;
}

}  // namespace hlstm::pipeline

namespace hlstm::pipeline {

void writeErrorDistribution(h5::File& out, const ErrorDistribution& e, const OwnerForecasts& f,
                            const output::PointRows& rows, std::size_t nB, std::uint64_t Y, bool hasTruth, bool root) {
    namespace ob = output::baselines;
    namespace om = output::metrics;
    // /baselines/holdout_pred: methods x points x Y (kept rows, then NaN for the rows not kept).
    const auto ds = out.createDataset<double>(ob::kHoldoutPred, {nB, rows.total(), Y});
    const std::vector<double> nan(rows.droppedCount * Y, kNaNd);
    for (std::size_t b = 0; b < nB; ++b) {
        const std::vector<double> kept(f.baseline[b].begin(), f.baseline[b].end());
        ds.writeSlab<double>({b, rows.keptOffset, 0}, {1, rows.keptCount, Y}, kept.data());
        ds.writeSlab<double>({b, rows.keptTotal + rows.droppedOffset, 0}, {1, rows.droppedCount, Y}, nan.data());
    }
    auto slice = [](const std::vector<double>& v, std::size_t from, std::size_t to) {
        return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(from),
                                   v.begin() + static_cast<std::ptrdiff_t>(to));
    };
    auto quantiles = [&](const std::string& path, const std::vector<double>& v, std::size_t from, std::size_t n) {
        out.createDataset<double>(path, {n, 4}).writeRows(0, root ? n : 0, v.data() + 4 * from);
    };
    out.writeObjectAttribute(ob::kGroup, ob::kAttrErrorThreshold, e.threshold);
    out.writeSmall(ob::kWithinThreshold, slice(e.within, 1, 1 + nB));
    quantiles(ob::kAbsErrorQuantiles, e.quantiles, 1, nB);
    out.writeObjectAttribute(om::kGroup, om::kAttrWithinThreshold, e.within[0]);
    quantiles(om::kAbsErrorQuantiles, e.quantiles, 0, 1);
    if (hasTruth) {
        out.writeSmall(ob::kWithinThresholdTruth, slice(e.withinTruth, 1, 1 + nB));
        quantiles(ob::kAbsErrorQuantilesTruth, e.quantilesTruth, 1, nB);
        out.writeObjectAttribute(om::kGroup, om::kAttrWithinThresholdTruth, e.withinTruth[0]);
        quantiles(om::kAbsErrorQuantilesTruth, e.quantilesTruth, 0, 1);
    }
    auto pairedAttributes = [&](const PairedComparison& p, const std::string& suffix) {
        out.writeObjectStringAttribute(om::kGroup, om::kAttrPairedBaseline + suffix, p.baseline);
        out.writeObjectAttribute(om::kGroup, om::kAttrPairedDifference + suffix, p.difference);
        out.writeObjectAttribute(om::kGroup, om::kAttrPairedLow + suffix, p.low);
        out.writeObjectAttribute(om::kGroup, om::kAttrPairedHigh + suffix, p.high);
        out.writeObjectAttribute(om::kGroup, om::kAttrPairedN + suffix, p.n);
        out.writeObjectAttribute(om::kGroup, om::kAttrPairedBlocks + suffix, p.blocks);
    };
    if (nB > 0) pairedAttributes(e.paired, "");
    if (nB > 0 && hasTruth) pairedAttributes(e.pairedTruth, om::kTruthSuffix);
}

}  // namespace hlstm::pipeline

namespace hlstm::pipeline {

std::string errorTable(const ErrorDistribution& e, const std::vector<std::string>& names, bool hasTruth) {
    std::string s;
    char line[320];
    std::snprintf(line, sizeof line,
                  "\nerror distribution of the holdout differentials: share of |error| <= %.3g mm, then max, p50, p90, "
                  "p99 of |error| (mm), vs observed%s:\n",
                  e.threshold, hasTruth ? " | vs truth" : "");
    s += line;
    std::snprintf(line, sizeof line, "  %-14s %7s %8s %7s %7s %7s", "method", "within", "max", "p50", "p90", "p99");
    s += line;
    if (hasTruth) {
        std::snprintf(line, sizeof line, " | %7s %8s %7s %7s %7s", "within", "max", "p50", "p90", "p99");
        s += line;
    }
    for (std::size_t m = 0; m < e.within.size(); ++m) {
        const double* q = e.quantiles.data() + 4 * m;
        std::snprintf(line, sizeof line, "\n  %-14s %6.1f%% %8.3f %7.3f %7.3f %7.3f",
                      m == 0 ? "HLSTM" : names[m - 1].c_str(), 100 * e.within[m], q[0], q[1], q[2], q[3]);
        s += line;
        if (hasTruth && m < e.withinTruth.size()) {
            const double* t = e.quantilesTruth.data() + 4 * m;
            std::snprintf(line, sizeof line, " | %6.1f%% %8.3f %7.3f %7.3f %7.3f", 100 * e.withinTruth[m], t[0], t[1],
                          t[2], t[3]);
            s += line;
        }
    }
    auto paired = [&](const PairedComparison& p, const char* against) {
        if (p.baseline.empty()) return;
        std::snprintf(line, sizeof line,
                      "\npaired vs %s: MAE(HLSTM) - MAE(%s) = %+.4f mm, 95 %% CI [%+.4f, %+.4f] (bootstrap over %llu "
                      "blocks, %llu point-steps)%s",
                      against, p.baseline.c_str(), p.difference, p.low, p.high,
                      static_cast<unsigned long long>(p.blocks), static_cast<unsigned long long>(p.n),
                      p.high < 0  ? ": HLSTM better"
                      : p.low > 0 ? ": the baseline better"
                                  : ": no clear difference");
        s += line;
    };
    paired(e.paired, "observed");
    if (hasTruth) paired(e.pairedTruth, "truth");
    return s;
}

}  // namespace hlstm::pipeline
