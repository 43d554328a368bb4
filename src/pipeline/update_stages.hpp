// Private to src/pipeline: what `hlstm update` adds to run's stages (stages.hpp): the earlier
// output it starts from (update_previous.cpp), the score of its forecast on the new epochs and
// the drift check (update_score.cpp), and the warm-started fine-tuning that takes the place of
// the grid search (finetune_stage.cpp). update.cpp calls them in order with run's stages.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hlstm/model/model.hpp"
#include "hlstm/partition/partition.hpp"
#include "match.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

/// Update subregion -> the PREV subregion whose model and method it starts from (originsOf).
using Origins = std::map<std::int32_t, std::int32_t>;

/// Settings of the update (config section [update]).
struct UpdateConfig {
    int epochs = 3;            ///< update.epochs: fine-tuning epochs (0: the models as they are)
    bool reselect = true;      ///< update.reselect: judge the models against the baselines again
    bool repartition = false;  ///< update.repartition: partition NEW again instead of keeping PREV's
    double driftFactor = 1.5;  ///< update.drift_factor: validation error after / at the selection
    double zoneShare = 0.5;    ///< update.zone_share: share of a subregion's points in another zone
    static UpdateConfig from(const Config& config);
};

/// The earlier hlstm-output an update starts from (--models), read on every rank (small:
/// models, tables and the per-point map).
struct Previous {
    std::string path, configText, input;
    KnownPoints known;
    std::vector<std::int32_t> knownZone;    ///< per known point
    std::vector<float> nextCum, low, high;  ///< known points x Y: its forecast and interval (mm)
    std::vector<std::int32_t> inputDates;   ///< every epoch it read (empty in older files)
    std::vector<std::int32_t> holdoutDates, nextDates;
    int horizon = 1;
    std::map<std::int32_t, model::Model> models;  ///< by subregion: each one's best candidate, winner or not
    std::vector<std::int32_t> subIds;
    std::vector<std::string> subMethod;
    std::vector<double> subScore;          ///< selection score of each subregion's winner
    std::vector<std::string> subCombined;  ///< the baseline mixed into a model's forecast ("": none)
    std::vector<double> subWeight;         ///< the model's weight in that mix, subregions x Y
    partition::PartitionSummary summary;
    std::vector<double> mlrCoefficients;
    std::vector<std::string> chain;  ///< inputs it was made from, oldest first

    /// Index of subregion `s` in the /subregions tables, or -1.
    [[nodiscard]] int subIndex(std::int32_t s) const;
    /// Whether subregion `s`'s model won its selection (else a baseline did, or it has no model).
    [[nodiscard]] bool modelWon(std::int32_t s) const;
    /// Epochs of the archive it was made from (inputDates, else its last holdout date's count).
    [[nodiscard]] std::size_t epochs() const { return inputDates.size(); }
};
/// An entry of /update/inputs: the input's path and the epochs read of it.
std::string inputEntry(const std::string& path, const std::vector<std::int32_t>& dates);

/// Reads `path` on every rank (collective: InputError naming the file when it is not a
/// complete hlstm-output of `hlstm run` or `hlstm update`).
Previous readPrevious(const Comm& comm, const std::string& path);
/// The configuration text stored in `path` (collective; InputError as readPrevious).
std::string previousConfig(const Comm& comm, const std::string& path);

/// NEW's dates must be PREV's followed by at least one later date: InputError naming the first
/// date that differs, a missing one or the last date when nothing was added.
void checkExtends(const Previous& prev, const std::vector<std::int32_t>& dates, const std::string& input);

/// The points that are far from every known point leave the kept points for the dropped ones
/// (status far), so every stage sees only points with a subregion (collective).
void dropFar(const Comm& comm, LocalBlock& block, PointMatch& match);

/// The partition of PREV on this block: its summary with the points counted again, each
/// point's velocity over the visible epochs and the zone and subregion of its match.
partition::PartitionResult previousPartition(const Comm& comm, const Previous& prev, const LocalBlock& block,
                                             const PointMatch& match, std::size_t visibleEpochs);

/// PREV's forecast judged on the new epochs that it forecast: position errors of HLSTM (its
/// next_cumulative) and of every per-point baseline (recomputed from the epochs PREV saw, on
/// the same level), against the observed values and the truth, and the interval coverage.
struct UpdateScore {
    std::vector<std::int32_t> dates;
    std::vector<std::string> methods;   ///< "hlstm" first
    std::vector<double> mae, maeTruth;  ///< methods x dates, mm (NaN: nothing to judge)
    std::vector<double> coverage;       ///< per date
    std::vector<std::uint64_t> points;  ///< per date: points judged
};
/// Collective; the sums are exact in 1e-6 mm units, so the result does not depend on the ranks.
UpdateScore scorePrevious(const Comm& comm, const Previous& prev, const LocalBlock& block, const PointMatch& match,
                          const RunConfig& rc);

/// One subregion per entry: 1 when a full run is advised (error grew by drift_factor, or its
/// points moved to other velocity zones), with why.
struct Drift {
    std::vector<std::int8_t> flag;
    std::vector<std::string> why;
};
Drift driftOf(const Comm& comm, const Previous& prev, const UpdateConfig& uc, const Selection& sel,
              const partition::PartitionResult& part, const Origins& origins);

/// Writes /update/* (before writeStage, in the same file).
void writeUpdate(const h5::File& out, bool root, const Previous& prev, const UpdateScore& score, const Drift& drift,
                 const std::string& input);

/// For each subregion of the update's partition, the PREV subregion whose model (and method)
/// it starts from: itself with PREV's partition; with update.repartition the PREV subregion of
/// most of its points (ties: the smaller id). Collective.
Origins originsOf(const Comm& comm, const Previous& prev, const partition::PartitionResult& part,
                  const PointMatch& match, bool repartitioned);

/// Plan of the update: one task per subregion with its origin's model shape (L, K, S), never
/// data-parallel, costed as what the update does with it (its baselines, the fine-tuning on the
/// new windows and the scoring on the validation cut) and assigned longest first to the least
/// loaded rank (collective; logs it).
Plan updatePlan(const Comm& comm, const RunConfig& rc, const UpdateConfig& uc, const Previous& prev,
                const partition::PartitionSummary& summary, std::size_t visibleEpochs, const Origins& origins);

/// Rank-local (update.cpp coordinates it with the baselines' work): fine-tunes each subregion's model of this rank (the winner or the candidate kept beside a
/// winning baseline), warm-started from PREV's weights and optimizer state for update.epochs epochs on the windows that the
/// epochs made visible since PREV complete; scores it on the validation cut. A subregion without
/// a model of PREV gets a failed result (its baselines compete alone).
/// Each finished subregion is checkpointed in `store` and restored from it on --resume; a stop
/// signal stops it before the next subregion (StopRequested, exit code 3).
TrainOutcome fineTuneStage(const RunContext& ctx, const HeldMap& held, const Previous& prev, const UpdateConfig& uc,
                           const Origins& origins, const CheckpointStore& store);

/// update.reselect = false: every subregion keeps its origin's position choice per step
/// (/subregions/position_choice of PREV; position_choice.cpp). Collective.
void keepPreviousPositions(const RunContext& ctx, const Previous& prev, const BaselineSet& baselines,
                           const Origins& origins, Selection& sel);
/// update.reselect = false: every subregion keeps its origin's method.
void keepPreviousChoice(const RunContext& ctx, const Previous& prev, const BaselineSet& baselines,
                        const Origins& origins, Selection& sel);

}  // namespace hlstm::pipeline
