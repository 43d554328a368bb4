#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The rank that sums each subregion's normal equations: its first rank, but the data-parallel
// subregions that share a group take its ranks in turn (every rank of a group holds all their
// rows), so at 5,000,000 points the two of them are summed side by side, not one after the other.
std::map<std::int32_t, int> mlrSummers(const Plan& plan) {
    std::map<std::int32_t, std::pair<std::int32_t, std::int32_t>> groups;  // spread subregion -> group
    std::set<std::int32_t> subregions;
    for (const auto& t : plan.tasks) {
        subregions.insert(t.subregion);
        if (t.sharded) groups.emplace(t.subregion, std::make_pair(t.rank, t.groupSize));
    }
    std::map<std::int32_t, int> out;
    std::map<std::pair<std::int32_t, std::int32_t>, int> taken;  // group -> its subregions so far
    for (const std::int32_t s : subregions) {                    // ascending
        const auto g = groups.find(s);
        if (g == groups.end()) {
            const auto r = plan.ranksOf(s);
            if (!r.empty()) out[s] = r.front();
        } else {
            out[s] = g->second.first + taken[g->second]++ % std::max(1, g->second.second);
        }
    }
    return out;
}

// Each subregion's normal equations are summed by one rank (mlrSummers) over its training points
// in row order; the sums are added in subregion order, so the fit does not depend on the rank
// count or on which rank summed them.
model::MlrModel fitGlobalMlr(const RunContext& ctx, const HeldMap& held, int lags) {
    const Comm& comm = ctx.comm;
    std::vector<double> local;
    const std::map<std::int32_t, int> summers = mlrSummers(ctx.plan);
    constexpr int kMlrRelay = 31004;
    for (const auto& [s, h] : held) {
        const auto summer = summers.find(s);
        const Comm* group = sliced(h) ? groupOf(ctx.groups, s) : nullptr;
        if (s >= ctx.nSub || (group == nullptr && (summer == summers.end() || summer->second != comm.rank()))) continue;
        model::MlrSums sums(lags);
        // Sliced rows: the group's ranks continue one another's sums in rank order (row order).
        if (group != nullptr && group->rank() > 0) group->recv(sums, group->rank() - 1, kMlrRelay);
        // Fitted on the candidates' training epochs: the selection judges it after them too.
        const model::SeriesView view = h.visible(ctx.axis, ctx.rc.trainEpochs(ctx.visibleEpochs));
        for (std::size_t i : h.split.train)
            sums.addPoint(model::rates({view.row(i), ctx.axis.steps.data(), view.epochs}));
        if (group != nullptr && group->rank() + 1 < group->size()) {  // the last one reports them
            group->send(sums, group->rank() + 1, kMlrRelay);
            continue;
        }
        local.push_back(static_cast<double>(s));
        local.push_back(static_cast<double>(sums.n));
        local.insert(local.end(), sums.xtx.begin(), sums.xtx.end());
        local.insert(local.end(), sums.xty.begin(), sums.xty.end());
    }
    const std::vector<double> all = comm.allgatherv(local);
    const std::size_t width = 2 + static_cast<std::size_t>((lags + 1) * (lags + 1) + lags + 1);
    std::map<std::int32_t, model::MlrSums> bySub;
    for (std::size_t o = 0; o + width <= all.size(); o += width) {
        model::MlrSums sums(lags);
        sums.n = static_cast<std::uint64_t>(all[o + 1]);
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 2), sums.xtx.size(), sums.xtx.begin());
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 2 + sums.xtx.size()), sums.xty.size(),
                    sums.xty.begin());
        bySub.emplace(static_cast<std::int32_t>(all[o]), std::move(sums));
    }
    model::MlrSums total(lags);
    for (const auto& [s, sums] : bySub) total.merge(sums);
    return model::solveMlr(total);
}

}  // namespace

BaselineSet makeBaselines(const RunContext& ctx, const HeldMap& held) {
    BaselineSet baselines;
    baselines.kinds = ctx.rc.baselines.kinds;
    baselines.window = ctx.rc.baselineWindow();
    constexpr int kMlrLags = 12;  // the paper's MLR on lagged differentials; 12 ~ 5 months at 12 days
    const auto start = std::chrono::steady_clock::now();
    baselines.mlr = fitGlobalMlr(ctx, held, std::min<int>(kMlrLags, static_cast<int>(ctx.visibleEpochs) - 3));
    log::debug() << "global MLR fitted in " << secondsSince(start) << " s";
    return baselines;
}

std::vector<std::string> baselineNames(const RunConfig& rc, const BaselineSet& baselines) {
    std::vector<std::string> names;
    for (auto kind : baselines.kinds) names.push_back(model::toString(kind));
    for (const auto& l : rc.learned()) names.push_back(l.name);
    return names;
}

// Each subregion's first rank scores every baseline on the validation cut and forecasts the
// hidden epochs of all the subregion's points with each (for the metrics beside HLSTM).
BaselineOutcome baselineStage(const RunContext& ctx, const HeldMap& held, const BaselineSet& baselines,
                              const KeepTable& keep) {
    BaselineOutcome out;
    coordinated(ctx.comm, "baselines", [&] { out = baselineWork(ctx, held, baselines, keep); });
    return out;
}

BaselineOutcome baselineWork(const RunContext& ctx, const HeldMap& held, const BaselineSet& baselines,
                             const KeepTable& keep) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    const model::TimeAxis& axis = ctx.axis;
    const std::size_t visibleEpochs = ctx.visibleEpochs;
    BaselineOutcome out;
    const std::size_t nB = baselines.kinds.size(), Y = static_cast<std::size_t>(rc.horizon);
    for (const auto& [s, h] : held) {
        if (s >= ctx.nSub) continue;
        // A data-parallel subregion's rows are on every rank of its group: each takes a slice
        // of them (a rank outside the group holds them for a candidate of its own only).
        const bool shared = spread(ctx.plan, s);
        const Comm* group = groupOf(ctx.groups, s);
        const bool lead = leads(ctx.plan, s, comm.rank());
        if (shared ? group == nullptr : !lead) continue;
        // Sliced rows: this rank's are its slice already.
        const auto [from, to] = shared && !sliced(h) ? sliceOf(*group, h.rows->rows.size())
                                                     : std::pair{std::size_t{0}, h.rows->rows.size()};
        const std::size_t n = to - from;
        const std::size_t first = out.holdout.size();
        out.holdout.resize(first + n * nB * Y);
        const std::size_t P = 1 + static_cast<std::size_t>(kPositionBaselines) * Y;
        const std::size_t firstPos = out.positions.size();
        out.positions.resize(firstPos + n * P);
        out.rows.insert(out.rows.end(), h.rows->rows.begin() + static_cast<std::ptrdiff_t>(from),
                        h.rows->rows.begin() + static_cast<std::ptrdiff_t>(to));
        const model::SeriesView all = h.visible(axis, visibleEpochs);
        const model::SeriesView mine{all.row(from), n, all.epochs, all.time, all.stride};
        const auto positionsStart = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            float* o = out.positions.data() + firstPos + i * P;
            o[0] = static_cast<float>(localLevel(mine.row(i), axis, visibleEpochs, rc.level));
            forecastPositions(mine.row(i), axis, visibleEpochs, rc.horizon, rc.level, o + 1);
        }
        // Where the seconds go (HLSTM_LOG=debug): the positions, then each baseline's score and holdout.
        auto timing = log::debug();
        timing << "baselines of subregion " << s << " (" << n << " rows, " << h.cut->points()
               << " validation rows): positions " << secondsSince(positionsStart) << " s";
        for (std::size_t b = 0; b < nB; ++b) {
            const auto start = std::chrono::steady_clock::now();
            const Forecaster f = baselines.forecaster(b, rc.horizon);
            // Every cut of a validation row from one pass over it (bit for bit the per-cut score).
            const CutForecaster atCuts = baselines.cutForecaster(b, rc.horizon);
            // The rates at the cuts are kept for the position choice (position_choice.cpp), which
            // judges them again: scoreAtCuts is scoreOfRates of these, bit for bit.
            std::vector<float> cutRates =
                h.cut->ratesAtCutsInOnePass(shared && !sliced(h) ? sharedCutsAmong(*group, atCuts) : atCuts);
            const double score = h.cut->scoreOfRates(cutRates);
            const CutScores cutScores = lead && rc.incumbent >= 0 ? h.cut->cutScoresOfRates(cutRates) : noCutScores();
            if (rc.choosePositions) {
                auto& kept = out.cutRates[s];
                kept.resize(nB);
                kept[b] = h.cut->ownRows(std::move(cutRates));  // sliced: this rank's rows
                if (keep) keep(s, b, kept[b]);
            }
            const double scoreSeconds = secondsSince(start);
            std::vector<float> diff;
            if (n > 0) ratesToDifferentials(f(mine), rc.horizon, axis, visibleEpochs - 1, diff);
            for (std::size_t i = 0; i < n; ++i)
                std::copy_n(diff.data() + i * Y, Y, out.holdout.data() + first + (i * nB + b) * Y);
            const double seconds = secondsSince(start);
            timing << "; " << model::toString(baselines.kinds[b]) << " score " << scoreSeconds << " s, holdout "
                   << seconds - scoreSeconds << " s";
            // Every participant's time counts; the score once (the others' is NaN).
            out.local.push_back({s, static_cast<std::int32_t>(b), lead ? score : std::nan(""), seconds, cutScores});
        }
    }
    return out;
}

}  // namespace hlstm::pipeline
