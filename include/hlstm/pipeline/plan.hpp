/// The task plan of a run (README: "What a run does and reports"): one task per (subregion, L, K, S) grid
/// candidate with a cost estimate, assigned largest first to the least-loaded rank. The plan
/// depends only on the partition and the configuration, never on timing.
#pragma once

#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hlstm::pipeline {

/// One grid-search candidate of one subregion.
struct Task {
    std::int32_t index = 0;  ///< position in the plan (subregion-major, then L, K, S)
    std::int32_t subregion = 0;
    std::int32_t L = 0, K = 0, S = 0;
    double cost = 0.0;      ///< flop estimate of its training
    std::int32_t rank = 0;  ///< rank that trains it
    std::int32_t cell = 0;  ///< model::CellKind (an RNN only for the learned rnn baseline)
    /// Trained data-parallel (its cost exceeds PlanSettings::shardShare of the plan's): decided
    /// by the data and the configuration only, never by the rank count, so its weights are the
    /// same for any number of ranks. It is trained by the group of ranks
    /// [rank, rank + groupSize); `rank`, the group's first, keeps the result.
    bool sharded = false;
    std::int32_t groupSize = 1;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& index& subregion& L& K& S& cost& rank& cell& sharded& groupSize;
    }
};

/// What the planner needs to know of a subregion.
struct PlanSubregion {
    std::int32_t id = 0;
    std::uint64_t points = 0;
    /// A pseudo subregion (a learned baseline: one model of all points) has one fixed
    /// candidate instead of the grid.
    bool fixed = false;
    std::int32_t L = 0, K = 0, S = 0, cell = 0;
    /// The fixed candidate's cost when it is not a grid training (an update's fine-tuning and
    /// scoring); 0: candidateCost of a training on the subregion's windows.
    double cost = 0;
};

/// Grid and training settings that enter the cost.
struct PlanSettings {
    std::vector<std::int64_t> L, K, S;
    int horizon = 1;
    int epochs = 30;
    double validationFraction = 0.3;
    bool allWindows = false;  ///< model.sampling = all: windows per point ~ (epochs - L)/stride
    int stride = 1;
    std::size_t visibleEpochs = 0;
    int labelReach = 0;       ///< rates a sample needs beyond its L (signal target: lead + input gap)
    double shardShare = 0.3;  ///< a candidate above this share of the total cost is trained data-parallel
    int shards = 4;           ///< shards per data-parallel minibatch: the largest useful group
};

/// The whole plan, identical on every rank.
struct Plan {
    std::vector<Task> tasks;                         ///< by index
    std::vector<double> loadPerRank;                 ///< summed cost per rank
    std::vector<std::int32_t> subregionRanks;        ///< flattened lists: ranks needing each subregion
    std::vector<std::int32_t> subregionRankOffsets;  ///< subregion s: [offsets[s], offsets[s+1])
    /// The calibrated expected training wall time (s; 0: not calibrated). Set by the run's
    /// planning for the progress line; not part of the plan's identity (not serialized).
    double expectedSeconds = 0;

    /// Ranks that train some candidate of subregion `s` (ascending).
    [[nodiscard]] std::vector<std::int32_t> ranksOf(std::int32_t s) const;
    /// Tasks of `rank` that it trains alone (not sharded), in index order.
    [[nodiscard]] std::vector<Task> tasksOf(int rank) const;
    /// Data-parallel tasks whose group holds `rank`, in index order.
    [[nodiscard]] std::vector<Task> groupTasksOf(int rank) const;
    /// The data-parallel group of subregion `s` as (first rank, size); size 0 when `s` has no
    /// data-parallel candidate. Every data-parallel candidate of a subregion has the same group.
    [[nodiscard]] std::pair<std::int32_t, std::int32_t> groupOf(std::int32_t s) const;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& tasks& loadPerRank& subregionRanks& subregionRankOffsets;
    }
};

/// Training cost of one candidate in flops: samples x epochs x (forward + backward ~ 3x
/// forward) x steps x layers x 4 gates x 2 flops x 2 Sp^2, Sp = the engine's padded S.
double candidateCost(std::uint64_t trainSamples, int L, int K, int S, int horizon, int epochs);

/// Builds the plan for `ranks` ranks. A subregion whose data-parallel candidates have the
/// share c of the total cost gets a group of consecutive ranks, largest share first: the
/// smallest group from ceil(c ranks) up to min(shards, ranks) that keeps its ranks at or below
/// the average load (else the largest), where the ranks are least loaded; the other tasks, sorted by cost descending (ties by index), go to
/// the least-loaded rank (ties to the lowest rank). Candidates with L >= visible epochs are
/// left out (no sample fits); the caller checks that every subregion keeps one.
Plan buildPlan(const std::vector<PlanSubregion>& subregions, const PlanSettings& settings, int ranks);

/// Expected wall seconds of a plan with a measured speed per task (flop per second of each
/// task's shape, a data-parallel task's per group rank; the busiest rank decides).
double expectedSeconds(const Plan& plan, const std::vector<double>& taskFlopsPerSecond, int ranks);

}  // namespace hlstm::pipeline
