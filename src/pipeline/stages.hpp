// Private to src/pipeline: the stages of `hlstm run` (one file each: read_stage, plan_stage,
// train_stage, baseline_stage, select_stage, forecast_stage, metrics_stage, write_stage,
// report_stage), the context they share and the small result each returns. run.cpp calls them
// in order; exchange.hpp carries all row traffic between ranks.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exchange.hpp"
#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/common_mode.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/visible_fill.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/partition/partition.hpp"
#include "hlstm/pipeline/checkpoint.hpp"
#include "hlstm/pipeline/evaluate.hpp"
#include "hlstm/pipeline/forecast_cache.hpp"
#include "hlstm/pipeline/metrics.hpp"
#include "hlstm/pipeline/plan.hpp"
#include "hlstm/pipeline/run.hpp"
#include "run_config.hpp"

namespace hlstm::pipeline {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------------- shared state
/// Result of one candidate, all-gathered (trivially copyable).
/// Per-cut scores of a method that was not judged: every cut NaN.
inline CutScores noCutScores() {
    CutScores s;
    s.fill(std::numeric_limits<float>::quiet_NaN());
    return s;
}

struct TaskResult {
    std::int32_t index = 0;
    std::int32_t status = 0;
    std::int32_t rank = 0;
    std::int32_t epochs = 0;
    double validationMae = 0;  // eq. (3) on the candidate's own target
    double score = 0;          // selection score against the validation points' smoothed rates
    double seconds = 0;
    std::uint64_t trainSamples = 0;
    std::uint64_t validationSamples = 0;
    double trainLoss = 0;                 // the last epoch's mean training loss (z units)
    std::int32_t bestEpoch = 0;           // the epoch whose weights were kept (1-based)
    CutScores cutScores = noCutScores();  // the score per cut (run.incumbent's paired test)
};

/// What the owners of the points keep of their series once the subregions' rows are with the
/// trainers: the last Y + 2 epochs (the last two visible and the held-out ones).
struct HoldoutTail {
    std::vector<float> values;  // points x width
    std::size_t width = 0;
    std::size_t first = 0;  // epoch of the first column
    [[nodiscard]] float at(std::size_t i, std::size_t t) const { return values[i * width + t - first]; }
};
HoldoutTail holdoutTail(const PointSet& points, std::size_t visibleEpochs);

/// A subregion this rank trains or evaluates: its rows, its split and the validation cut.
struct Held {
    const SubregionRows* rows = nullptr;
    model::PointSplit split;
    std::unique_ptr<ValidationCut> cut;
    /// Forecasts made at the cut's views, shared by the stages that judge them (forecast_cache.hpp).
    std::shared_ptr<ForecastCache> forecasts = std::make_shared<ForecastCache>();

    [[nodiscard]] model::SeriesView visible(const model::TimeAxis& axis, std::size_t epochs) const {
        return {rows->full, rows->rows.size(), epochs, &axis, rows->epochs};
    }
    [[nodiscard]] model::SeriesView full(const model::TimeAxis& axis, std::size_t epochs) const {
        return {rows->full, rows->rows.size(), epochs, &axis, epochs};
    }
};
using HeldMap = std::map<std::int32_t, Held>;
/// Whether h's rows are sliced over its group (SubregionRows::sliced): its cut gathers by itself,
/// so its forecasters are not wrapped in sharedAmong, and its rank forecasts all its own rows.
inline bool sliced(const Held& h) { return h.rows != nullptr && h.rows->sliced; }

/// The communicators of the data-parallel groups, by subregion, on their members only.
using Groups = std::map<std::int32_t, std::shared_ptr<const Comm>>;

// ---------------------------------------------------------------- common mode (common_mode_stage.cpp)
/// The atmosphere filter of one origin: the field removed from the visible epochs [from, to),
/// and the field of all epochs for the forecast beyond the archive.
struct CommonModeState {
    CommonModeField visible, whole;
    std::size_t from = 0, to = 0, wholeFrom = 0, wholeTo = 0;
    std::size_t recent = 0;               // epochs the selection and the level judge (history / recent split)
    std::vector<std::int32_t> cellOfRow;  // every kept point's cell, by global row (whole only)
    /// Series of the given global rows (rows x epochs, in place) from the visible field to the
    /// whole one, with the reader's values of the gaps `fill` refilled (visible_fill.hpp).
    void toWhole(const std::vector<std::uint64_t>& rows, float* series, std::size_t epochs,
                 const ReaderFill* fill) const;
};
/// The field of every epoch of the block as read (before a cut refills its gaps: as `hlstm
/// predict` sees the archive), for the forecast beyond it; empty when the filter is off. Collective.
CommonModeField wholeCommonMode(const Comm& comm, const RunConfig& rc, const LocalBlock& block);
/// Estimates the field on the visible epochs and removes it from the block, keeping `whole`
/// for toWhole. Nothing when input.common_mode is off. Collective.
CommonModeState commonModeStage(const Comm& comm, const RunConfig& rc, LocalBlock& block, std::size_t visibleEpochs,
                                CommonModeField whole);

/// What every stage after the plan shares (read-only).
struct RunContext {
    const Comm& comm;
    const RunConfig& rc;
    const Plan& plan;
    const Groups& groups;
    const model::TimeAxis& axis;
    std::size_t visibleEpochs = 0;  // V: epochs before the holdout
    std::size_t epochs = 0;         // m: all epochs
    std::int32_t nSub = 0;          // real subregions (learned baselines' pseudo subregions follow)
    /// The reader's values of the gaps refilled from the left at the cut (visible_fill.hpp): the
    /// forecast of the epochs beyond the archive, which sees every epoch, restores them.
    const ReaderFill* readerFill = nullptr;
    /// The atmosphere filter (input.common_mode): the forecast beyond the archive swaps its field.
    const CommonModeState* commonMode = nullptr;
};

/// One split and validation cut per subregion: every candidate and baseline is judged on the
/// same points, whichever rank holds them.
/// A sliced subregion (SubregionRows::sliced) keeps the part of the split in its slice and
/// judges with its group (`groups`: ValidationCut over the group).
Held holdSubregion(std::int32_t s, const SubregionRows& sr, const RunConfig& rc, const model::TimeAxis& axis,
                   std::size_t visibleEpochs, const Comm* group = nullptr);
HeldMap holdSubregions(const SubregionMap& mine, const RunConfig& rc, const model::TimeAxis& axis,
                       std::size_t visibleEpochs, const Groups* groups = nullptr);
/// The subregions whose rows go to their group sliced (train.slice_rows): every candidate of
/// the subregion is data-parallel on a group of more than one rank, it is not a learned
/// baseline's pseudo subregion (id >= nSub) and nothing trains on its rows after the selection
/// (run.refit none). Others keep all their rows on every rank that needs them.
std::set<std::int32_t> slicedSubregions(const Plan& plan, const RunConfig& rc, std::int32_t nSub);

/// Whether subregion s has a data-parallel candidate: then every rank of its group holds its
/// rows, and its forecasts (selection score, baselines, intervals, hidden and next epochs) are
/// shared by the group too.
bool spread(const Plan& plan, std::int32_t s);
/// The one rank that reports subregion s's scores and keeps its intervals: the first of its
/// data-parallel group, else the first rank holding it.
bool leads(const Plan& plan, std::int32_t s, int rank);
/// Collective: every rank splits off every group, in subregion order.
Groups makeGroups(const Comm& comm, const Plan& plan);
/// This rank's communicator of subregion s's group, or nullptr (not spread, or not a member).
const Comm* groupOf(const Groups& groups, std::int32_t s);
/// A grid model's forecaster; its network is built once for all the blocks it forecasts.
Forecaster modelForecaster(const model::Model& m, int threads);

/// Checkpoints next to `output`, tied to this configuration, input (rc.inputChecksum is set),
/// thread count, version and `also` (update: its models file); a rerun without `resume` while
/// they exist is refused (collective; run.cpp).
CheckpointStore openCheckpoints(const Comm& comm, const Config& config, RunConfig& rc, const std::string& output,
                                bool resume, const std::string& also = "");

// ---------------------------------------------------------------- read (read_stage.cpp)
/// Reads the input (simulating it first when input.path is empty; rc.input is then set).
LocalBlock readStage(const Comm& comm, RunConfig& rc, const RunArgs& args);
/// input.reference_atmosphere: the reference acquisition's atmosphere, estimated from the first
/// `visibleEpochs` epochs, removed from every epoch of the block (common_mode.hpp). Collective.
void referenceAtmosphereStage(const Comm& comm, const ReferenceAtmosphereOptions& options, PointSet& points,
                              std::size_t visibleEpochs);
/// "12.3 MB", or "?" when the size cannot be read.
std::string fileSizeText(const std::string& path);

// ---------------------------------------------------------------- plan (plan_stage.cpp)
/// Builds the plan on root, broadcasts it, calibrates the cost model on this machine and
/// logs the plan with its expected wall time (collective). `fixed` (update): one given shape
/// per subregion instead of the grid and the learned baselines.
Plan planStage(const Comm& comm, const RunConfig& rc, const partition::PartitionSummary& summary,
               std::uint64_t totalPoints, std::size_t visibleEpochs, bool dryRun,
               const std::vector<PlanSubregion>* fixed = nullptr);

// ---------------------------------------------------------------- baselines (baseline_stage.cpp)
/// A baseline's selection score on one subregion (all-gathered, trivially copyable).
struct BaselineScore {
    std::int32_t subregion = 0;
    std::int32_t baseline = 0;
    double score = 0;
    double seconds = 0;
    CutScores cutScores = noCutScores();  // the score per cut (run.incumbent's paired test)
};
struct BaselineOutcome {
    std::vector<BaselineScore> local;
    std::vector<std::uint64_t> rows;  // global rows whose holdout forecasts follow
    std::vector<float> holdout;       // rows x (baselines x Y) differentials, mm
    /// rows x (1 + kPositionBaselines x Y): the level at the last visible epoch (localLevel of
    /// run.level_epochs), then the position baselines' holdout positions, mm.
    std::vector<float> positions;
    /// Subregion -> each baseline's rates at its selection cuts as its score forecast them
    /// (ValidationCut::ratesAtCutsInOnePass), kept when run.positions = choose so that the
    /// position choice does not forecast them again; emptied by forecastStage.
    std::map<std::int32_t, std::vector<std::vector<float>>> cutRates;
};
/// The baselines of the run (rc.baselines), with the global MLR fitted (collective).
BaselineSet makeBaselines(const RunContext& ctx, const HeldMap& held);
/// Each subregion's first rank scores every baseline on the validation cut and forecasts the
/// hidden epochs of all the subregion's points with each (collective). `keep` (if set) takes each
/// table of cutRates as soon as it is made (s, b, table; origin.cpp moves it to a scratch file).
using KeepTable = std::function<void(std::int32_t, std::size_t, std::vector<float>&)>;
BaselineOutcome baselineStage(const RunContext& ctx, const HeldMap& held, const BaselineSet& baselines,
                              const KeepTable& keep = {});
/// baselineStage's rank-local work, for a caller that coordinates it with other work (update).
BaselineOutcome baselineWork(const RunContext& ctx, const HeldMap& held, const BaselineSet& baselines,
                             const KeepTable& keep = {});
/// Names of every baseline: the per-point ones, then the learned ones.
std::vector<std::string> baselineNames(const RunConfig& rc, const BaselineSet& baselines);

// ---------------------------------------------------------------- train (train_stage.cpp)
struct TrainOutcome {
    std::vector<TaskResult> local;
    std::vector<double> curves;                   // per result in `local`: curveWidth(rc) values (curvesOf)
    std::map<std::int32_t, model::Model> models;  // task index -> model
    // Task index -> its selection score's forecasts (ValidationCut::ratesAtCuts), where scored:
    // the position choice judges them again instead of forecasting them twice.
    std::map<std::int32_t, std::vector<float>> cutRates;
    // Task index -> the winner refitted on the selection's epochs (refit_stage.cpp): it forecasts
    // and is stored; the selected model above still gives the out-of-time interval residuals.
    std::map<std::int32_t, model::Model> refitted;
};
/// A candidate's training curves as one row: train.epochs training losses, then train.epochs
/// validation MAEs (mm), NaN after its last epoch.
std::size_t curveWidth(const RunConfig& rc);
std::vector<double> curvesOf(const RunConfig& rc, const model::FitSummary& summary);
/// Trains this rank's candidates (its data-parallel groups' first, then its own and what it
/// takes from others), checkpointing each; `rows` and `held` grow with taken candidates.
TrainOutcome trainStage(const RunContext& ctx, SubregionMap& rows, HeldMap& held, const CheckpointStore& store);

// ---------------------------------------------------------------- select (select_stage.cpp)
/// What won a subregion: a grid candidate (task >= 0) or a baseline (baseline >= 0).
struct Choice {
    std::int32_t task = -1;
    std::int32_t baseline = -1;
    /// The best grid candidate, winner or not: /models keeps it, so that `hlstm update` can
    /// fine-tune it and let it compete again when a baseline won (-1: none trained).
    std::int32_t learned = -1;
    double score = std::numeric_limits<double>::quiet_NaN();
    double bestCandidate = std::numeric_limits<double>::quiet_NaN();
    std::int32_t bestBaseline = -1;
    double bestBaselineScore = std::numeric_limits<double>::quiet_NaN();
    std::string why;
    // Forecast combination (combine_stage.cpp): the task's forecast x combineWeights + baseline
    // combineBaseline's x (1 - combineWeight); -1: the task alone (learnedScore: its score).
    std::int32_t combineBaseline = -1;
    std::vector<double> combineWeights;  // the model's weight per step
    double learnedScore = std::numeric_limits<double>::quiet_NaN();
    // Position choice (position_choice.cpp): per step, which method's position forecasts the
    // subregion (kOwnPosition: this choice's method on the level); empty: the own at every step.
    std::vector<std::int32_t> positionSteps;
};
/// Per step, the own method's share of the position (poolStage): 1 where the own method positions
/// the step (`steps` as Choice::positionSteps), `hedge` (run.position_hedge) where the choice gave
/// it to another.
std::vector<double> ownShare(const std::vector<std::int32_t>& steps, std::size_t horizon, double hedge);
/// ownShare of every subregion's choice, by subregion.
std::map<std::int32_t, std::vector<double>> ownShares(const std::vector<Choice>& choice, std::size_t horizon,
                                                      double hedge);
/// The baseline whose rates at the selection cuts a subregion's forecast reads (its intervals):
/// the winning baseline, or the one mixed into a winning candidate; -1: none.
inline std::int32_t forecastBaseline(const Choice& c) { return c.task >= 0 ? c.combineBaseline : c.baseline; }
/// Every rank's results, in task and (subregion, baseline) order, and each subregion's winner.
struct Selection {
    std::vector<TaskResult> results;
    std::vector<double> curves;          // per result: the training curves (curvesOf)
    std::vector<std::int8_t> converged;  // per result: model::convergence of its curves
    std::vector<BaselineScore> baselineScores;
    std::vector<Choice> choice;
};
/// Gathers the candidates' and baselines' scores and picks each subregion's winner (collective).
Selection selectStage(const RunContext& ctx, const TrainOutcome& trained, const BaselineOutcome& baselineOut,
                      const BaselineSet& baselines);

// ---------------------------------------------------------------- combine (combine_stage.cpp)
/// Where a grid candidate won: its forecast mixed with the subregion's best baseline at each of
/// rc.combineWeights, judged on the same out-of-time cuts; a mix with a lower score wins
/// (collective; every rank's choice changes the same way).
void combineStage(const RunContext& ctx, const HeldMap& held, const TrainOutcome& trained, const BaselineSet& baselines,
                  Selection& sel);

// ---------------------------------------------------------------- positions (position_choice.cpp)
/// Each subregion's position method per step (choosePositionSteps on its validation cut, by
/// the ranks that hold its winner, as forecast_stage.cpp forecasts it): sets
/// Choice::positionSteps and adds it to Choice::why (collective; every rank's choice changes the
/// same way). Nothing when run.positions = own. `baselineOut`: the baselines' rates at the cuts
/// that the baseline stage kept (not forecast again).
/// `tables` (if set) is called with (s, true) before subregion s's baseline tables are read and
/// (s, false) after (origin.cpp keeps them in a scratch file meanwhile).
void positionStage(const RunContext& ctx, const HeldMap& held, const TrainOutcome& trained,
                   const BaselineSet& baselines, Selection& sel, const BaselineOutcome* baselineOut = nullptr,
                   const std::function<void(std::int32_t, bool)>& tables = {});
/// /subregions/position_choice (subregions x Y): -1 for the own method, else the method's row
/// in /baselines/position_name (`nNames` baselines, learned ones included, come before the
/// position baselines).
std::vector<std::int32_t> positionChoiceColumn(const std::vector<Choice>& choice, std::size_t nNames,
                                               std::size_t horizon);

// ---------------------------------------------------------------- refit (refit_stage.cpp)
/// The latest window of each of `rows` whose label ends in the first e epochs, for e = to,
/// to - step, ... above `from`: the windows that the epochs after `from` complete.
model::SampleSet latestWindows(const Held& h, const model::TimeAxis& axis, const model::ModelConfig& config,
                               const std::vector<std::size_t>& rows, std::size_t from, std::size_t to,
                               std::size_t step = 1);
/// `start` fine-tuned for `epochs` epochs on `trainSet` (`validationSet` keeps its best epoch),
/// warm-started from its weights and optimizer state; `start` itself when there is nothing to
/// train on or the fit fails (rank-local; hlstm update and run.refit).
struct FineTuned {
    model::Model model;
    bool trained = false;
    std::uint64_t windows = 0;
    model::FitStatus status = model::FitStatus::kNoSamples;
};
FineTuned fineTune(const RunContext& ctx, const model::Model& start, const model::SampleSet& trainSet,
                   const model::SampleSet& validationSet, int epochs, std::uint64_t seed);
/// run.refit = finetune | all: each learned winner (alone or in its mix) fine-tuned on the windows
/// that the epochs after its training complete (all: on every window of the visible epochs), up
/// to the last visible one, into trained.refitted;
/// the selection, the mixes and the position choice stay as judged. Adds what was done to
/// Choice::why (collective).
void refitStage(const RunContext& ctx, const HeldMap& held, TrainOutcome& trained, Selection& sel);

// ---------------------------------------------------------------- forecast (forecast_stage.cpp)
/// What the owners of the points receive: per owned row the winner's [holdout differentials |
/// next rates | next positions | split | level at the last epoch | holdout positions] (4 Y + 2), every baseline's
/// holdout differentials (baselines x Y), the level at the last visible epoch and the
/// position baselines' holdout positions (1 + kPositionBaselines x Y), the interval
/// half-widths per subregion and each subregion's best candidate's model (the winner, or kept beside a winning baseline).
struct Returned {
    std::vector<float> winner;
    std::vector<float> baselines;
    std::size_t nBaselines = 0;
    std::vector<float> positions;
    std::vector<std::vector<float>> halfWidths;
    GatheredModels models;
};
/// The learned baselines' forecasts, the winners' forecasts (hidden epochs, next epochs,
/// intervals) and the baselines' holdout forecasts, all sent to the points' owners
/// (collective). Keeps in `trained` only each subregion's best candidate (Choice::learned) and releases `baselineOut`.
/// `winnersForecast` (if set) runs on every rank once `held` is no longer read, before the
/// values travel (origin.cpp frees the rows there and brings back baselineOut's tables).
Returned forecastStage(const RunContext& ctx, const LocalBlock& block, const HeldMap& held, const Selection& sel,
                       TrainOutcome& trained, BaselineOutcome& baselineOut, const BaselineSet& baselines,
                       const std::function<void()>& winnersForecast = {});
/// run.position_pool: the winners' holdout and next forecasts of the owned rows (back.winner)
/// pooled over space (poolStage; `subregion` per owned row), before the metrics judge them.
/// Collective.
void poolRunForecasts(const Comm& comm, const RunConfig& rc, const LocalBlock& block,
                      const std::vector<std::int32_t>& subregion, const std::vector<Choice>& choice, Returned& back);

// ---------------------------------------------------------------- metrics (metrics_stage.cpp)
/// Named metric tables computed on root in global row order, then shared with every rank.
class MetricBook {
public:
    void add(const std::string& name, std::vector<Metrics> values);
    [[nodiscard]] const std::vector<Metrics>& operator[](const std::string& name) const;
    [[nodiscard]] bool has(const std::string& name) const;
    /// Root's values to every rank (every rank added the same names in the same order).
    void share(const Comm& comm);

private:
    std::vector<std::string> names_;
    std::vector<std::vector<Metrics>> values_;
};

/// The forecasts of this rank's rows (owners' view) and what they are judged against.
struct OwnerForecasts {
    std::vector<float> pred, observed, truth;           // holdout differentials, rows x Y
    std::vector<float> predCum, observedCum, truthCum;  // increments since the last visible epoch
    std::vector<float> low, high;                       // holdout cumulative interval (absolute, mm)
    std::vector<float> nextDiff, nextCum, nextLow, nextHigh;
    std::vector<float> persistence;
    std::vector<std::vector<float>> baseline, baselineCum;  // per baseline, rows x Y
    // Positions (absolute, on the input's reference), rows x Y: HLSTM's (the level at the last
    // visible epoch + the forecast increments), the observed and the truth's; then per baseline
    // (the same level + its increments) and per position baseline.
    std::vector<float> predPos, observedPos, truthPos;
    std::vector<std::vector<float>> baselinePos;
    std::vector<std::int8_t> split;
    std::vector<std::int8_t> covered;  // rows x Y: observed inside the holdout interval (1), not (0), no interval (-1)
};

/// The judged forecasts: metric tables of HLSTM and every baseline, interval coverage.
/// HLSTM's MAE minus a baseline's over the same points, with a 95 % block-bootstrap CI.
struct PairedComparison {
    std::string baseline;
    double difference = std::nan(""), low = std::nan(""), high = std::nan("");
    std::uint64_t n = 0, blocks = 0;  // point-steps compared, spatial blocks resampled
};
/// Error distribution per method (row 0 HLSTM, then the baselines in name order): share of
/// |error| <= threshold and {max, p50, p90, p99} of |error| (rows x 4), against the observed
/// values and the truth; the paired comparison with the best baseline against each.
struct ErrorDistribution {
    double threshold = 0.5;
    std::vector<double> within, withinTruth, quantiles, quantilesTruth;
    PairedComparison paired, pairedTruth;
};
/// Computed on root from the gathered rows, shared with every rank (collective).
ErrorDistribution errorDistribution(const RunContext& ctx, const LocalBlock& block, const OwnerForecasts& f,
                                    const MetricBook& book, const std::vector<std::string>& names, bool hasTruth);

/// /baselines/holdout_pred (methods x points x Y), the error distributions in /baselines and
/// /metrics, and the paired comparison as attributes of /metrics (collective).
void writeErrorDistribution(h5::File& out, const ErrorDistribution& e, const OwnerForecasts& f,
                            const output::PointRows& rows, std::size_t nB, std::uint64_t Y, bool hasTruth, bool root);

/// The error-distribution table and the paired comparison, for the run's log.
std::string errorTable(const ErrorDistribution& e, const std::vector<std::string>& names, bool hasTruth);

struct Evaluation {
    OwnerForecasts owned;
    MetricBook book;
    ErrorDistribution errors;
    double coverage = 0;
    std::vector<std::string> names;          // baselines, as in the book
    std::vector<std::string> positionNames;  // names, then the position baselines
};
/// Builds the owners' forecasts from what they received and computes every metric table
/// (collective).
Evaluation metricsStage(const RunContext& ctx, const LocalBlock& block, const HoldoutTail& tail,
                        const partition::PartitionResult& part, const Returned& back, std::vector<std::string> names);

// ---------------------------------------------------------------- write and report
/// Everything the output file and the report are made of.
struct RunOutputs {
    const LocalBlock& block;
    const partition::PartitionResult& part;
    partition::DbDistance dbDistance;
    const Selection& selection;
    const BaselineSet& baselines;
    const Returned& back;
    const Evaluation& eval;
};
/// Wall time of the run's phases on this rank, reported as the slowest rank's with the peak
/// memory of every rank.
class PhaseTimer {
public:
    /// Ends the current phase (if any) and starts `name`.
    void start(const std::string& name);
    void stop();
    /// Root logs every phase's slowest rank and every rank's peak memory (collective).
    void report(const Comm& comm);

private:
    std::string name_;
    std::chrono::steady_clock::time_point t0_;
    std::vector<std::pair<std::string, double>> phases_;
    std::vector<long> highWater_;  // ru_maxrss (KiB) at the end of each phase
};

/// Writes the whole hlstm-output file (collective; complete = 1 last).
void writeStage(const RunContext& ctx, const Config& config, const RunOutputs& r, h5::File& out);
/// The console report of the run (root).
void report(const RunContext& ctx, const RunOutputs& r, const std::string& output);
/// The paper's Table IV (global LSTM against HLSTM per subregion, with the noise floor and the
/// times) when the run has the learned global_lstm baseline, else empty (table4_report.cpp).
std::string tableFour(const RunContext& ctx, const RunOutputs& r);

// ---------------------------------------------------------------- one origin (origin.cpp)
struct OriginOptions {
    bool dryRun = false;    // stop after the plan
    std::string freeSpace;  // a warning logged with the preflight's, when not empty
    std::string scratch;    // scratch files' prefix (+ .r<rank>.tmp): tables wait there (none if empty)
};
/// Sees an origin's outputs while they live (run: write and report; backtest: collect).
using OriginUse = std::function<void(const RunContext&, const RunOutputs&)>;
/// Fits the grid to the visible epochs (rc.L, rc.intervalCuts), partitions them, plans,
/// trains, selects, forecasts the last rc.horizon epochs of `block` and judges them, then
/// calls `use` (collective). Releases block.points' series (sent to the trainers).
void forecastOrigin(const Comm& comm, const Config& config, RunConfig& rc, LocalBlock& block,
                    const CheckpointStore& store, const OriginOptions& options, PhaseTimer& timer,
                    const OriginUse& use);

}  // namespace hlstm::pipeline
