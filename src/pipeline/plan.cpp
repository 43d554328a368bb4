#include "hlstm/pipeline/plan.hpp"

#include "hlstm/model/network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

namespace hlstm::pipeline {

double candidateCost(std::uint64_t trainSamples, int L, int K, int S, int horizon, int epochs) {
    constexpr double kGates = 4.0, kFlopsPerMac = 2.0, kForwardPlusBackward = 3.0;
    // The engine runs S padded to whole vectors (model::paddedUnits): that is the size the
    // time follows (fitted on tools/bench/scaling.sh's 84 timed candidates: median error 5 %).
    const double Sp = model::paddedUnits(S);
    const double steps = static_cast<double>(std::max(1, L - horizon));
    const double perStep = K * kGates * kFlopsPerMac * 2.0 * Sp * Sp;
    return static_cast<double>(std::max<std::uint64_t>(1, trainSamples)) * epochs * kForwardPlusBackward * steps *
           perStep;
}

Plan buildPlan(const std::vector<PlanSubregion>& subregions, const PlanSettings& s, int ranks) {
    Plan plan;
    for (const auto& sub : subregions)
        for (auto L : sub.fixed ? std::vector<std::int64_t>{sub.L} : s.L)
            for (auto K : sub.fixed ? std::vector<std::int64_t>{sub.K} : s.K)
                for (auto S : sub.fixed ? std::vector<std::int64_t>{sub.S} : s.S) {
                    const auto reach = static_cast<std::size_t>(std::max(0, s.labelReach));
                    if (static_cast<std::size_t>(L) + 1 + reach > s.visibleEpochs) continue;  // no window fits
                    Task t;
                    t.index = static_cast<std::int32_t>(plan.tasks.size());
                    t.subregion = sub.id;
                    t.L = static_cast<std::int32_t>(L);
                    t.K = static_cast<std::int32_t>(K);
                    t.S = static_cast<std::int32_t>(S);
                    t.cell = sub.cell;
                    double windows = 1.0;
                    if (s.allWindows)
                        windows =
                            std::floor(static_cast<double>(s.visibleEpochs - 1 - reach - static_cast<std::size_t>(L)) /
                                       std::max(1, s.stride)) +
                            1.0;
                    const auto train = static_cast<std::uint64_t>(
                        std::ceil(static_cast<double>(sub.points) * (1.0 - s.validationFraction) * windows));
                    t.cost = sub.cost > 0 ? sub.cost : candidateCost(train, t.L, t.K, t.S, s.horizon, s.epochs);
                    plan.tasks.push_back(t);
                }
    // A candidate that dominates the plan is trained data-parallel by a group of ranks sized
    // to its subregion's share of the cost (its load per group rank is then at most the
    // average), before the group's ranks take other tasks.
    double total = 0;
    for (const auto& t : plan.tasks) total += t.cost;
    plan.loadPerRank.assign(static_cast<std::size_t>(ranks), 0.0);
    std::map<std::int32_t, double> shardedCost;  // subregion -> its data-parallel candidates' cost
    for (auto& t : plan.tasks) {
        t.sharded = s.shardShare > 0 && t.cost > s.shardShare * total;
        if (t.sharded) shardedCost[t.subregion] += t.cost;
    }
    std::vector<std::pair<double, std::int32_t>> bySize;
    for (const auto& [sub, cost] : shardedCost) bySize.emplace_back(cost, sub);
    std::stable_sort(bySize.begin(), bySize.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    const double average = total / ranks;
    for (const auto& [cost, sub] : bySize) {
        // The smallest group (from ceil(share x ranks) up) that keeps its ranks at or below the
        // average load, in the window of consecutive ranks whose busiest rank is least loaded
        // (lowest first); the largest group when none does.
        const int largest = std::max(1, std::min(s.shards, ranks));
        int g = std::clamp(static_cast<int>(std::ceil(cost / total * ranks - 1e-9)), 1, largest);
        int first = 0;
        for (;; ++g) {
            double best = std::numeric_limits<double>::infinity();
            for (int f = 0; f + g <= ranks; ++f) {
                const auto from = plan.loadPerRank.begin() + f;
                const double busiest = *std::max_element(from, from + g);
                if (busiest < best) {
                    best = busiest;
                    first = f;
                }
            }
            if (g == largest || best + cost / g <= average * (1 + 1e-9)) break;
        }
        for (int r = first; r < first + g; ++r) plan.loadPerRank[static_cast<std::size_t>(r)] += cost / g;
        for (auto& t : plan.tasks)
            if (t.sharded && t.subregion == sub) {
                t.rank = first;
                t.groupSize = g;
            }
    }
    // Longest processing time first: biggest task to the least-loaded rank.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < plan.tasks.size(); ++i)
        if (!plan.tasks[i].sharded) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return plan.tasks[a].cost > plan.tasks[b].cost; });
    for (std::size_t i : order) {
        auto least = std::min_element(plan.loadPerRank.begin(), plan.loadPerRank.end());
        plan.tasks[i].rank = static_cast<std::int32_t>(least - plan.loadPerRank.begin());
        *least += plan.tasks[i].cost;
    }
    std::int32_t maxId = -1;
    for (const auto& sub : subregions) maxId = std::max(maxId, sub.id);
    std::vector<std::vector<std::int32_t>> need(static_cast<std::size_t>(maxId + 1));
    for (const auto& t : plan.tasks) {
        auto& n = need[static_cast<std::size_t>(t.subregion)];
        for (int r = t.rank; r < t.rank + (t.sharded ? t.groupSize : 1); ++r) n.push_back(r);
    }
    plan.subregionRankOffsets.push_back(0);
    for (auto& ranksOfSub : need) {
        std::sort(ranksOfSub.begin(), ranksOfSub.end());
        ranksOfSub.erase(std::unique(ranksOfSub.begin(), ranksOfSub.end()), ranksOfSub.end());
        plan.subregionRanks.insert(plan.subregionRanks.end(), ranksOfSub.begin(), ranksOfSub.end());
        plan.subregionRankOffsets.push_back(static_cast<std::int32_t>(plan.subregionRanks.size()));
    }
    return plan;
}

std::vector<std::int32_t> Plan::ranksOf(std::int32_t s) const {
    if (s < 0 || static_cast<std::size_t>(s) + 1 >= subregionRankOffsets.size()) return {};
    return {subregionRanks.begin() + subregionRankOffsets[static_cast<std::size_t>(s)],
            subregionRanks.begin() + subregionRankOffsets[static_cast<std::size_t>(s) + 1]};
}

std::vector<Task> Plan::tasksOf(int rank) const {
    std::vector<Task> out;
    for (const auto& t : tasks)
        if (t.rank == rank && !t.sharded) out.push_back(t);
    return out;
}

std::vector<Task> Plan::groupTasksOf(int rank) const {
    std::vector<Task> out;
    for (const auto& t : tasks)
        if (t.sharded && t.rank <= rank && rank < t.rank + t.groupSize) out.push_back(t);
    return out;
}

std::pair<std::int32_t, std::int32_t> Plan::groupOf(std::int32_t s) const {
    for (const auto& t : tasks)
        if (t.sharded && t.subregion == s) return {t.rank, t.groupSize};
    return {0, 0};
}

double expectedSeconds(const Plan& plan, const std::vector<double>& taskFlopsPerSecond, int ranks) {
    std::vector<double> load(static_cast<std::size_t>(std::max(ranks, 1)), 0.0);
    for (const auto& t : plan.tasks) {
        const double seconds = t.cost / taskFlopsPerSecond[static_cast<std::size_t>(t.index)];
        const int g = t.sharded ? t.groupSize : 1;
        for (int r = t.rank; r < t.rank + g; ++r) load[static_cast<std::size_t>(r)] += seconds / g;
    }
    return *std::max_element(load.begin(), load.end());
}

}  // namespace hlstm::pipeline
