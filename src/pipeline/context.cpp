#include <map>
#include <set>
#include <stdexcept>

#include "hlstm/core/random.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

std::uint64_t splitSeed(std::uint64_t modelSeed, std::int32_t subregion) {
    return mixKey({modelSeed, stream::kSubregionSplit, static_cast<std::uint64_t>(subregion)});
}

}  // namespace

Held holdSubregion(std::int32_t s, const SubregionRows& sr, const RunConfig& rc, const model::TimeAxis& axis,
                   std::size_t visibleEpochs, const Comm* group) {
    Held h;
    h.rows = &sr;
    // One split per subregion: every candidate and baseline is judged on the same points,
    // whichever rank holds them. A sliced subregion's ranks take the part in their slice.
    h.split =
        model::splitPoints(sr.sliced ? sr.total : sr.rows.size(), rc.train.validationFraction, splitSeed(rc.seed, s));
    if (sr.sliced) {
        if (group == nullptr) throw std::logic_error("a sliced subregion needs its group");
        const auto local = [&](std::vector<std::size_t>& rows) {
            std::vector<std::size_t> out;
            for (const std::size_t r : rows)
                if (r >= sr.first && r < sr.first + sr.rows.size()) out.push_back(r - sr.first);
            rows = std::move(out);
        };
        local(h.split.train);
        local(h.split.validation);
    }
    h.cut = std::make_unique<ValidationCut>(h.visible(axis, visibleEpochs), h.split.validation, rc.horizon,
                                            rc.shape.smoothing, rc.trainEpochs(visibleEpochs), rc.selectionCuts,
                                            rc.cutStride, sr.sliced ? group : nullptr);
    return h;
}

HeldMap holdSubregions(const SubregionMap& mine, const RunConfig& rc, const model::TimeAxis& axis,
                       std::size_t visibleEpochs, const Groups* groups) {
    HeldMap held;
    for (const auto& [s, sr] : mine)
        held.emplace(s,
                     holdSubregion(s, sr, rc, axis, visibleEpochs, groups != nullptr ? groupOf(*groups, s) : nullptr));
    return held;
}

std::set<std::int32_t> slicedSubregions(const Plan& plan, const RunConfig& rc, std::int32_t nSub) {
    std::set<std::int32_t> out;
    if (!rc.sliceRows || rc.refitEpochs > 0) return out;
    std::map<std::int32_t, bool> everyOne;  // subregion -> every candidate data-parallel
    for (const auto& t : plan.tasks) {
        const auto [at, fresh] = everyOne.emplace(t.subregion, t.sharded);
        if (!fresh) at->second = at->second && t.sharded;
    }
    for (const auto& [s, every] : everyOne)
        if (every && s < nSub && plan.groupOf(s).second > 1) out.insert(s);
    return out;
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
