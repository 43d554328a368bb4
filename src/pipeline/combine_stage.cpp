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

Forecaster combinedForecaster(Forecaster learned, Forecaster baseline, double weight) {
    return [learned = std::move(learned), baseline = std::move(baseline), weight](const model::SeriesView& v) {
        std::vector<float> a = learned(v);
        const std::vector<float> b = baseline(v);
        for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
            a[i] = static_cast<float>(weight * a[i] + (1 - weight) * b[i]);
        return a;
    };
}

void combineStage(const RunContext& ctx, const HeldMap& held, const TrainOutcome& trained,
                  const BaselineSet& baselines, Selection& sel) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    if (rc.combineWeights.empty() || !rc.selectSmoothed) return;
    // (subregion, weight index, score) of the combinations this rank judged; one reporter each.
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
            const Forecaster learned = modelForecaster(it->second, rc.threads);
            const Forecaster baseline = baselines.forecaster(static_cast<std::size_t>(c.bestBaseline), rc.horizon);
            for (std::size_t w = 0; w < rc.combineWeights.size(); ++w) {
                const Forecaster f = combinedForecaster(learned, baseline, rc.combineWeights[w]);
                const double score = h->second.cut->score(group != nullptr ? sharedAmong(*group, f) : f);
                if (reports) local.insert(local.end(), {static_cast<double>(s), static_cast<double>(w), score});
            }
        }
    });
    const std::vector<double> all = comm.allgatherv(local);
    // In (subregion, weight) order whatever rank judged what, so the choice does not depend on ranks.
    std::vector<std::size_t> order;
    for (std::size_t o = 0; o + 3 <= all.size(); o += 3) order.push_back(o);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return all[a] != all[b] ? all[a] < all[b] : all[a + 1] < all[b + 1];
    });
    auto better = [](double a, double b) { return std::isfinite(a) && (!std::isfinite(b) || a < b); };
    for (std::size_t o : order) {
        Choice& c = sel.choice[static_cast<std::size_t>(all[o])];
        const double weight = rc.combineWeights[static_cast<std::size_t>(all[o + 1])];
        if (c.combineBaseline < 0) c.learnedScore = c.score;
        // Strictly lower than the plain model's score and than the mixes before it.
        if (!better(all[o + 2], c.score)) continue;
        const std::string bname = model::toString(baselines.kinds[static_cast<std::size_t>(c.bestBaseline)]);
        char line[256];
        std::snprintf(line, sizeof line,
                      "%s x %.2f + %s x %.2f: out-of-time error vs smoothed rates %.4f < the model's alone %.4f "
                      "(best baseline's %.4f) mm/step",
                      model::toString(rc.shape.cell).c_str(), weight, bname.c_str(), 1 - weight, all[o + 2],
                      c.learnedScore, c.bestBaselineScore);
        c.combineBaseline = c.bestBaseline;
        c.combineWeight = weight;
        c.score = all[o + 2];
        c.why = line;
    }
}

}  // namespace hlstm::pipeline
