#include <set>

#include "hlstm/core/random.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

std::uint64_t splitSeed(std::uint64_t modelSeed, std::int32_t subregion) {
    return mixKey({modelSeed, stream::kSubregionSplit, static_cast<std::uint64_t>(subregion)});
}

}  // namespace

Held holdSubregion(std::int32_t s, const SubregionRows& sr, const RunConfig& rc, const model::TimeAxis& axis,
                   std::size_t visibleEpochs) {
    Held h;
    h.rows = &sr;
    // One split per subregion: every candidate and baseline is judged on the same points,
    // whichever rank holds them.
    h.split = model::splitPoints(sr.rows.size(), rc.train.validationFraction, splitSeed(rc.seed, s));
    h.cut = std::make_unique<ValidationCut>(h.visible(axis, visibleEpochs), h.split.validation, rc.horizon,
                                            rc.shape.smoothing, rc.trainEpochs(visibleEpochs), rc.selectionCuts,
                                            rc.cutStride);
    return h;
}

HeldMap holdSubregions(const SubregionMap& mine, const RunConfig& rc, const model::TimeAxis& axis,
                       std::size_t visibleEpochs) {
    HeldMap held;
    for (const auto& [s, sr] : mine) held.emplace(s, holdSubregion(s, sr, rc, axis, visibleEpochs));
    return held;
}

bool spread(const Plan& plan, std::int32_t s) { return plan.groupOf(s).second > 0; }

bool leads(const Plan& plan, std::int32_t s, int rank) {
    if (spread(plan, s)) return plan.groupOf(s).first == rank;
    const auto r = plan.ranksOf(s);
    return !r.empty() && r.front() == rank;
}

Groups makeGroups(const Comm& comm, const Plan& plan) {
    std::set<std::int32_t> subregions;
    for (const auto& t : plan.tasks)
        if (t.sharded) subregions.insert(t.subregion);
    Groups groups;
    for (auto s : subregions) {
        const auto [first, size] = plan.groupOf(s);
        auto group = comm.split(comm.rank() >= first && comm.rank() < first + size);
        if (group) groups.emplace(s, std::move(group));
    }
    return groups;
}

const Comm* groupOf(const Groups& groups, std::int32_t s) {
    const auto it = groups.find(s);
    return it == groups.end() ? nullptr : it->second.get();
}

Forecaster modelForecaster(const model::Model& m, int threads) {
    auto predictor = std::make_shared<model::Predictor>(m, threads);
    return [predictor](const model::SeriesView& v) { return (*predictor)(v).differential; };
}

}  // namespace hlstm::pipeline
