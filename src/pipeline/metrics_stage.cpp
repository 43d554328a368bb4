#include <cmath>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

void MetricBook::add(const std::string& name, std::vector<Metrics> values) {
    names_.push_back(name);
    values_.push_back(std::move(values));
}

const std::vector<Metrics>& MetricBook::operator[](const std::string& name) const {
    for (std::size_t i = 0; i < names_.size(); ++i)
        if (names_[i] == name) return values_[i];
    throw RuntimeError("metrics: no table " + name);
}

bool MetricBook::has(const std::string& name) const {
    return std::find(names_.begin(), names_.end(), name) != names_.end();
}

void MetricBook::share(const Comm& comm) {
    std::vector<double> flat;
    for (const auto& v : values_) {
        flat.push_back(static_cast<double>(v.size()));
        for (const auto& x : v) flat.insert(flat.end(), {static_cast<double>(x.n), x.mae, x.sd, x.mse, x.accuracy});
    }
    comm.bcastVector(flat);
    std::size_t o = 0;
    for (auto& v : values_) {
        v.resize(static_cast<std::size_t>(flat[o++]));
        for (auto& x : v) {
            x = {static_cast<std::uint64_t>(flat[o]), flat[o + 1], flat[o + 2], flat[o + 3], flat[o + 4]};
            o += 5;
        }
    }
}

namespace {

OwnerForecasts ownerForecasts(const LocalBlock& block, const HoldoutTail& tail, const std::vector<float>& winner,
                              const std::vector<std::vector<float>>& halfWidths,
                              const std::vector<std::int32_t>& subregion, const std::vector<float>& baselineVals,
                              std::size_t nB, const std::vector<float>& positions, std::size_t Y,
                              std::size_t visibleEpochs, bool hasTruth) {
    const std::size_t n = block.points.size(), m = block.points.nEpochs(), W = 4 * Y + 2;
    const std::size_t nP = static_cast<std::size_t>(kPositionBaselines), P = 1 + nP * Y;
    const std::size_t tw = block.truthEpochs, t0 = m - tw;  // truth holds the last tw epochs
    OwnerForecasts f;
    const std::size_t yN = n * Y;
    for (auto* v :
         {&f.pred, &f.observed, &f.truth, &f.predCum, &f.observedCum, &f.truthCum, &f.low, &f.high, &f.nextDiff,
          &f.nextCum, &f.nextLow, &f.nextHigh, &f.persistence, &f.predPos, &f.observedPos, &f.truthPos})
        v->assign(yN, kNaN);
    f.baseline.assign(nB, std::vector<float>(yN, kNaN));
    f.baselinePos.assign(nB + nP, std::vector<float>(yN, kNaN));
    f.baselineCum = f.baseline;
    f.split.assign(n, -1);
    f.covered.assign(yN, -1);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = [&](std::size_t t) { return tail.at(i, t); };
        const float* w = winner.data() + i * W;
        const float* half = halfWidths[static_cast<std::size_t>(subregion[i])].data();
        const float last = c(visibleEpochs - 1);
        const float* pos = positions.data() + i * P;
        const double level = pos[0];  // the robust level at the last visible epoch
        if (std::isfinite(w[3 * Y])) f.split[i] = static_cast<std::int8_t>(w[3 * Y]);
        double cum = 0, truthCum0 = hasTruth ? block.truth[i * tw + visibleEpochs - 1 - t0] : 0.0;
        std::vector<double> bcum(nB, 0.0);
        for (std::size_t y = 0; y < Y; ++y) {
            const std::size_t t = visibleEpochs + y, k = i * Y + y;
            f.pred[k] = w[y];
            // A held-out value missing from the input is not judged (gap filling would invent it), nor
            // a differential from a last visible value refilled from the left (visible_fill.hpp).
            const bool seen = block.observed(i, t) && block.observed(i, t - 1);
            f.observed[k] = seen ? c(t) - c(t - 1) : kNaN;
            if (hasTruth) {
                f.truth[k] = block.truth[i * tw + t - t0] - block.truth[i * tw + t - 1 - t0];
                f.truthCum[k] = static_cast<float>(block.truth[i * tw + t - t0] - truthCum0);
            }
            f.persistence[k] = c(visibleEpochs - 1) - c(visibleEpochs - 2);  // the last visible differential
            cum += w[y];
            f.predCum[k] = static_cast<float>(cum);
            f.observedCum[k] = block.observed(i, t) ? c(t) - last : kNaN;
            f.predPos[k] = w[3 * Y + 2 + y];  // the position method of the step (position_choice.cpp)
            f.observedPos[k] = block.observed(i, t) ? c(t) : kNaN;
            if (hasTruth) f.truthPos[k] = block.truth[i * tw + t - t0];
            f.low[k] = f.predPos[k] - half[y];
            f.high[k] = f.predPos[k] + half[y];
            if (std::isfinite(half[y]) && std::isfinite(f.predPos[k]) && std::isfinite(f.observedPos[k]))
                f.covered[k] = std::abs(f.observedPos[k] - f.predPos[k]) <= half[y] ? 1 : 0;
            for (std::size_t j = 0; j < nP; ++j) f.baselinePos[nB + j][k] = pos[1 + j * Y + y];
            f.nextDiff[k] = w[Y + y];
            f.nextCum[k] = w[2 * Y + y];
            f.nextLow[k] = w[2 * Y + y] - half[y];
            f.nextHigh[k] = w[2 * Y + y] + half[y];
            for (std::size_t b = 0; b < nB; ++b) {
                const float v = baselineVals[i * nB * Y + b * Y + y];
                f.baseline[b][k] = v;
                bcum[b] += v;
                f.baselineCum[b][k] = static_cast<float>(bcum[b]);
                f.baselinePos[b][k] = static_cast<float>(level + bcum[b]);
            }
        }
    }
    return f;
}

MetricBook tables(const Comm& comm, const OwnerForecasts& f, const std::vector<std::int32_t>& subregion,
                  const std::vector<std::int32_t>& zone, std::size_t Y, std::int32_t nSub, std::int32_t nZones,
                  const std::vector<std::string>& names, const std::vector<std::string>& positionNames, bool hasTruth,
                  double* coverage) {
    std::vector<std::int32_t> groupSub, groupZone, groupStep;
    for (std::size_t i = 0; i < subregion.size(); ++i)
        for (std::size_t y = 0; y < Y; ++y) {
            groupSub.push_back(subregion[i]);
            groupZone.push_back(zone[i]);
            groupStep.push_back(static_cast<std::int32_t>(y));
        }
    const bool root = comm.isRoot();
    const auto sub = comm.gatherv(groupSub), zn = comm.gatherv(groupZone), step = comm.gatherv(groupStep);
    const auto pred = comm.gatherv(f.pred), obs = comm.gatherv(f.observed), truth = comm.gatherv(f.truth);
    const auto pCum = comm.gatherv(f.predCum), oCum = comm.gatherv(f.observedCum), tCum = comm.gatherv(f.truthCum);
    MetricBook book;
    auto table = [&](const std::vector<float>& p, const std::vector<float>& t, const std::vector<std::int32_t>& g,
                     std::int32_t groups) { return root ? groupMetrics(p, t, g, groups) : std::vector<Metrics>{}; };
    book.add("global", table(pred, obs, {}, 1));
    book.add("sub", table(pred, obs, sub, nSub));
    book.add("zone", table(pred, obs, zn, nZones));
    book.add("step", table(pCum, oCum, step, static_cast<std::int32_t>(Y)));
    if (hasTruth) {
        book.add("global_truth", table(pred, truth, {}, 1));
        book.add("sub_truth", table(pred, truth, sub, nSub));
        // The noise floor: the truth's own error against the observations (Table IV).
        book.add("noise", table(truth, obs, {}, 1));
        book.add("noise/sub", table(truth, obs, sub, nSub));
        book.add("zone_truth", table(pred, truth, zn, nZones));
        book.add("step_truth", table(pCum, tCum, step, static_cast<std::int32_t>(Y)));
    }
    // Positions per step against the observed and the truth's positions (not increments).
    const auto oPos = comm.gatherv(f.observedPos), tPos = comm.gatherv(f.truthPos);
    const auto nY = static_cast<std::int32_t>(Y);
    book.add("pos_step", table(comm.gatherv(f.predPos), oPos, step, nY));
    if (hasTruth) book.add("pos_step_truth", table(comm.gatherv(f.predPos), tPos, step, nY));
    for (std::size_t b = 0; b < positionNames.size(); ++b) {
        const auto bp = comm.gatherv(f.baselinePos[b]);
        book.add(positionNames[b] + "/pos_step", table(bp, oPos, step, nY));
        if (hasTruth) book.add(positionNames[b] + "/pos_step_truth", table(bp, tPos, step, nY));
    }
    for (std::size_t b = 0; b < names.size(); ++b) {
        const std::string& name = names[b];
        const auto bp = comm.gatherv(f.baseline[b]), bc = comm.gatherv(f.baselineCum[b]);
        book.add(name, table(bp, obs, {}, 1));
        book.add(name + "/sub", table(bp, obs, sub, nSub));
        book.add(name + "/step", table(bc, oCum, step, static_cast<std::int32_t>(Y)));
        if (hasTruth) {
            book.add(name + "/truth", table(bp, truth, {}, 1));
            book.add(name + "/sub_truth", table(bp, truth, sub, nSub));
            book.add(name + "/step_truth", table(bc, tCum, step, static_cast<std::int32_t>(Y)));
        }
    }
    book.share(comm);
    // Holdout coverage of the cumulative intervals (the observed value inside [low, high]).
    std::uint64_t inside = 0, counted = 0;
    for (auto c : f.covered) {
        counted += c >= 0 ? 1 : 0;
        inside += c == 1 ? 1 : 0;
    }
    inside = comm.allreduce(inside, Reduce::kSum);
    counted = comm.allreduce(counted, Reduce::kSum);
    *coverage = counted > 0 ? static_cast<double>(inside) / static_cast<double>(counted) : std::nan("");
    return book;
}

}  // namespace

Evaluation metricsStage(const RunContext& ctx, const LocalBlock& block, const HoldoutTail& tail,
                        const partition::PartitionResult& part, const Returned& back, std::vector<std::string> names) {
    const Comm& comm = ctx.comm;
    const std::size_t Y = static_cast<std::size_t>(ctx.rc.horizon), m = ctx.epochs;
    const bool hasTruth = block.stats.hasTruth;  // a file-level fact, the same on every rank
    Evaluation e;
    e.owned = ownerForecasts(block, tail, back.winner, back.halfWidths, part.subregion, back.baselines, back.nBaselines,
                             back.positions, Y, ctx.visibleEpochs, hasTruth);
    e.positionNames = names;
    for (const auto& p : positionBaselineNames()) e.positionNames.push_back(p);
    {
        std::uint64_t unseen = 0;
        for (std::size_t i = 0; i < block.points.size(); ++i)
            for (std::size_t t = ctx.visibleEpochs; t < m; ++t) unseen += block.observed(i, t) ? 0 : 1;
        unseen = comm.allreduce(unseen, Reduce::kSum);
        if (unseen > 0 && comm.isRoot())
            log::warn() << unseen << " held-out value(s) of " << block.keptTotal * Y
                        << " are missing in the input: they are excluded from the metrics (not gap-filled)";
    }
    e.book = tables(comm, e.owned, part.subregion, part.zone, Y, ctx.nSub,
                    static_cast<std::int32_t>(part.summary.zoneCenters.size()), names, e.positionNames, hasTruth,
                    &e.coverage);
    e.errors = errorDistribution(ctx, block, e.owned, e.book, names, hasTruth);
    e.names = std::move(names);
    return e;
}

}  // namespace hlstm::pipeline
