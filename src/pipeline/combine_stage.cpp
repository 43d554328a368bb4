// Forecast combination (issue 23): where a grid candidate won a subregion, a weighted mean of
// its forecast and the subregion's best baseline's is judged on the same out-of-time cuts as
// every candidate and baseline (select_stage.cpp), and replaces the plain model when its score
// is lower. The learned model and the baselines trade wins from cut to cut and from step to
// step; their mean is rarely worse than the worse of the two and often better than both.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "hlstm/core/coordinated.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

std::string weightsText(const std::vector<double>& w) {
    std::string s;
    for (std::size_t y = 0; y < w.size(); ++y) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%s%.2f", y > 0 ? "," : "", w[y]);
        s += buf;
    }
    return s;
}

}  // namespace

Forecaster combinedForecaster(Forecaster learned, Forecaster baseline, std::vector<double> weights) {
    return [learned = std::move(learned), baseline = std::move(baseline),
            weights = std::move(weights)](const model::SeriesView& v) {
        std::vector<float> a = learned(v);
        mixRates(a, baseline(v), weights, v.points > 0 ? a.size() / v.points : 1);
        return a;
    };
}

void mixRates(std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& weights, std::size_t Y) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        const double w = weights.size() == 1 ? weights[0] : weights[std::min(i % Y, weights.size() - 1)];
        a[i] = static_cast<float>(w * a[i] + (1 - w) * b[i]);
    }
}

void combineStage(const RunContext& ctx, const HeldMap& held, const TrainOutcome& trained, const BaselineSet& baselines,
                  Selection& sel) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    if (rc.combineWeights.empty() || !rc.selectSmoothed) return;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), R = 3 + Y;
    // Records of R doubles: subregion, mix index, its score, its Y per-step weights; one
    // reporting rank per subregion.
    std::vector<double> local;
    coordinated(comm, "combine", [&] {
        for (std::int32_t s = 0; s < ctx.nSub; ++s) {
            const Choice& c = sel.choice[static_cast<std::size_t>(s)];
            if (c.task < 0 || c.bestBaseline < 0) continue;
            auto it = trained.models.find(c.task);
            if (it == trained.models.end()) continue;
            auto h = held.find(s);
            if (h == held.end()) continue;
            const Task& task = ctx.plan.tasks[static_cast<std::size_t>(c.task)];
            // A data-parallel winner is on every rank of its group: they judge it together and its
            // first rank reports; a candidate trained alone is held (and judged) by one rank.
            const Comm* group = task.sharded ? groupOf(ctx.groups, s) : nullptr;
            if (task.sharded && group == nullptr) continue;
            const bool reports = !task.sharded || task.rank == comm.rank();
            // Each mix forecasts the model and the baseline at the same views: once each (forecast_cache.hpp).
            const Forecaster learned =
                cachedForecaster(h->second.forecasts, taskMethod(c.task), modelForecaster(it->second, rc.threads));
            const auto b = static_cast<std::size_t>(c.bestBaseline);
            const Forecaster baseline =
                cachedForecaster(h->second.forecasts, baselineMethod(b), baselines.forecaster(b, rc.horizon));
            auto judged = [&](const std::vector<double>& w) {
                const Forecaster f = combinedForecaster(learned, baseline, w);
                return group != nullptr && !sliced(h->second) ? sharedAmong(*group, f) : f;
            };
            std::vector<std::vector<double>> mixes;
            if (rc.combinePerStep) {
                // Per step, the weight with the smallest out-of-time error at that step (the
                // model's own weight 1 first, so a tie keeps more of the model).
                std::vector<double> best(Y, 1.0), bestScore(Y, std::nan(""));
                for (double w : rc.combineWeights) {
                    const std::vector<double> steps = h->second.cut->stepScores(judged({w}));
                    for (std::size_t y = 0; y < Y && y < steps.size(); ++y)
                        if (std::isfinite(steps[y]) && !(steps[y] >= bestScore[y]))
                            best[y] = w, bestScore[y] = steps[y];
                }
                mixes.push_back(best);
            } else {
                for (double w : rc.combineWeights) mixes.emplace_back(Y, w);
            }
            for (std::size_t k = 0; k < mixes.size(); ++k) {
                const double score = h->second.cut->score(judged(mixes[k]));
                if (!reports) continue;
                local.insert(local.end(), {static_cast<double>(s), static_cast<double>(k), score});
                local.insert(local.end(), mixes[k].begin(), mixes[k].end());
            }
        }
    });
    for (const auto& entry : held)  // the mixes are judged: their forecasts are not needed again
        if (entry.second.forecasts) entry.second.forecasts->clear();
    const std::vector<double> all = comm.allgatherv(local);
    // In (subregion, mix) order whatever rank judged what, so the choice does not depend on ranks.
    std::vector<std::size_t> order;
    for (std::size_t o = 0; o + R <= all.size(); o += R) order.push_back(o);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return all[a] != all[b] ? all[a] < all[b] : all[a + 1] < all[b + 1];
    });
    auto better = [](double a, double b) { return std::isfinite(a) && (!std::isfinite(b) || a < b); };
    for (std::size_t o : order) {
        Choice& c = sel.choice[static_cast<std::size_t>(all[o])];
        if (c.combineBaseline < 0) c.learnedScore = c.score;
        // Strictly lower than the plain model's score and than the mixes before it.
        if (!better(all[o + 2], c.score)) continue;
        const std::vector<double> weights(all.begin() + static_cast<std::ptrdiff_t>(o + 3),
                                          all.begin() + static_cast<std::ptrdiff_t>(o + R));
        const std::string bname = model::toString(baselines.kinds[static_cast<std::size_t>(c.bestBaseline)]);
        char line[512];
        std::snprintf(line, sizeof line,
                      "%s mixed with %s (the model's weight per step %s): out-of-time error vs smoothed rates %.4f "
                      "< the model's alone %.4f (best baseline's %.4f) mm/step",
                      model::toString(rc.shape.cell).c_str(), bname.c_str(), weightsText(weights).c_str(), all[o + 2],
                      c.learnedScore, c.bestBaselineScore);
        c.combineBaseline = c.bestBaseline;
        c.combineWeights = weights;
        c.score = all[o + 2];
        c.why = line;
    }
}

}  // namespace hlstm::pipeline
