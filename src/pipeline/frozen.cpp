// `hlstm backtest --strategy frozen` (issue 23): the methods selected at the first origin - its
// partition, each subregion's winning model (with its combination) or baseline, the global MLR
// and the interval half-widths - forecast every later origin without any refitting, as a model
// in service would; the per-point baselines are recomputed from each origin's history as they
// always are. Each rank forecasts its own rows (the winners' models are on every rank).
#include "frozen.hpp"

#include <map>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/pipeline/position_choice.hpp"

namespace hlstm::pipeline {

FrozenService FrozenService::capture(const RunContext& ctx, const RunOutputs& r) {
    FrozenService s;
    s.part_ = r.part;
    s.choice_ = r.selection.choice;
    s.baselines_ = r.baselines;
    s.halfWidths_ = r.back.halfWidths;
    s.nBaselines_ = r.back.nBaselines;
    s.names_ = r.eval.names;
    s.nSub_ = ctx.nSub;
    const std::size_t Y = static_cast<std::size_t>(ctx.rc.horizon), W = 4 * Y + 2;
    for (std::size_t i = 0; i < r.block.points.size(); ++i) s.split_.push_back(r.back.winner[i * W + 3 * Y]);
    const GatheredModels& g = r.back.models;
    for (std::size_t k = 0; k < g.subregion.size(); ++k)
        s.models_.emplace(g.subregion[k], model::modelFromBytes(std::string(
                                              reinterpret_cast<const char*>(g.bytes.data()) + g.offset[k], g.size[k])));
    return s;
}

Forecaster FrozenService::method(std::int32_t s, const RunConfig& rc) const {
    const Choice& c = choice_[static_cast<std::size_t>(s)];
    if (c.task >= 0) {
        auto it = models_.find(s);
        if (it == models_.end()) return {};
        Forecaster f = modelForecaster(it->second, rc.threads);
        if (c.combineBaseline >= 0)
            f = combinedForecaster(f, baselines_.forecaster(static_cast<std::size_t>(c.combineBaseline), rc.horizon),
                                   c.combineWeights);
        return f;
    }
    if (c.baseline >= 0) return baselines_.forecaster(static_cast<std::size_t>(c.baseline), rc.horizon);
    return {};
}

Returned FrozenService::forecast(const Comm& comm, const RunConfig& rc, const LocalBlock& block,
                                 const model::TimeAxis& axis, std::size_t visibleEpochs) const {
    const std::size_t n = block.points.size(), m = block.points.nEpochs(), V = visibleEpochs;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), W = 4 * Y + 2;
    const std::size_t nP = static_cast<std::size_t>(kPositionBaselines), P = 1 + nP * Y;
    const std::size_t nPerPoint = baselines_.kinds.size(), nB = nBaselines_;
    Returned back;
    back.nBaselines = nB;
    back.halfWidths = halfWidths_;
    back.winner.assign(n * W, kNaN);
    back.baselines.assign(n * nB * Y, kNaN);  // learned baselines (global LSTM, RNN) stay NaN: not refitted
    back.positions.assign(n * P, kNaN);
    coordinated(comm, "frozen forecast", [&] {
        std::map<std::int32_t, std::vector<std::size_t>> members;
        for (std::size_t i = 0; i < n; ++i) members[part_.subregion[i]].push_back(i);
        for (const auto& [s, rows] : members) {
            // The rows of one subregion as one block of series (the forecasters take blocks).
            std::vector<float> series;
            series.reserve(rows.size() * m);
            for (std::size_t i : rows) series.insert(series.end(), block.points.series(i), block.points.series(i) + m);
            const model::SeriesView view{series.data(), rows.size(), V, &axis, m};
            std::vector<float> diff, chosen;
            if (s >= 0 && s < nSub_) {
                if (const Forecaster f = method(s, rc)) {
                    const std::vector<float> rates = f(view);
                    ratesToDifferentials(rates, rc.horizon, axis, V - 1, diff);
                    // The first origin's position choice, as predict applies it (position_choice.cpp).
                    chosen = positionsOf(choice_[static_cast<std::size_t>(s)].positionSteps, view, rates, baselines_,
                                         rc.level, rc.horizon, rc.positionHedge);
                }
            }
            for (std::size_t k = 0; k < rows.size(); ++k) {
                float* w = back.winner.data() + rows[k] * W;
                for (std::size_t y = 0; y < Y && !diff.empty(); ++y) w[y] = diff[k * Y + y];
                for (std::size_t y = 0; y < Y && !chosen.empty(); ++y) w[3 * Y + 2 + y] = chosen[k * Y + y];
                w[3 * Y] = split_[rows[k]];
                w[3 * Y + 1] = static_cast<float>(localLevel(view.row(k), axis, m, rc.level));
                float* pos = back.positions.data() + rows[k] * P;
                pos[0] = static_cast<float>(localLevel(view.row(k), axis, V, rc.level));
                forecastPositions(view.row(k), axis, V, rc.horizon, rc.level, pos + 1);
            }
            for (std::size_t b = 0; b < nPerPoint; ++b) {
                std::vector<float> bd;
                ratesToDifferentials(baselines_.forecaster(b, rc.horizon)(view), rc.horizon, axis, V - 1, bd);
                for (std::size_t k = 0; k < rows.size(); ++k)
                    std::copy_n(bd.data() + k * Y, Y, back.baselines.data() + (rows[k] * nB + b) * Y);
            }
        }
    });
    return back;
}

}  // namespace hlstm::pipeline
