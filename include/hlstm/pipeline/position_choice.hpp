/// Positions chosen the way positions are judged (issue 23): per subregion and forecast step,
/// the position forecast is chosen out of time among the subregion's own method (its rates on
/// the robust level), every per-point baseline on the same level and the position baselines, by
/// the position error at the selection's cuts. The run (src/pipeline/position_choice.cpp),
/// `hlstm predict`, `hlstm backtest --strategy frozen` and `hlstm update` apply the choice
/// through positionsOf. Rank-local unless a group is given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/pipeline/evaluate.hpp"

namespace hlstm::pipeline {

/// A step's position method: kOwnPosition (the subregion's own method on the level), a
/// per-point baseline (its index in BaselineSet::kinds, on the same level) or position
/// baseline j (kPositionBaselineCode + j, positionBaselineNames()).
inline constexpr std::int32_t kOwnPosition = -1;
inline constexpr std::int32_t kPositionBaselineCode = 1 << 16;

/// Positions (rows x Y, absolute, mm) of the rows of `v` at the Y epochs after its last: at
/// step y the method steps[y] (empty: the own method at every step). `ownRates` are the own
/// method's rates for the same rows (needed only when a step uses it or `hedge` > 0); the level
/// is localLevel of `levelRule` epochs, as the product's positions. `hedge` in [0, 1]
/// (run.position_hedge): at a step given to another method the position is hedge x the own
/// method's + (1 - hedge) x that method's (where the own method has one).
std::vector<float> positionsOf(const std::vector<std::int32_t>& steps, const model::SeriesView& v,
                               const std::vector<float>& ownRates, const BaselineSet& baselines, LevelRule levelRule,
                               int horizon, double hedge = 0.0);
/// The same as a forecaster of positions; `own` is called only when a step uses it (or `hedge`
/// > 0). `baselines` must outlive it.
PositionForecaster positionForecaster(std::vector<std::int32_t> steps, Forecaster own, const BaselineSet& baselines,
                                      LevelRule levelRule, int horizon, double hedge = 0.0);

/// One subregion's choice: the method per step and the out-of-time position errors (mm) of the
/// own method and of the chosen one per step.
struct PositionVerdict {
    std::vector<std::int32_t> steps;
    std::vector<double> ownError, chosenError;
};
/// The own method's rates at the cut's score cuts when they are already known (rows x cuts x Y,
/// ValidationCut::ratesAtCuts; the train stage's selection score): the model's, mixed with
/// baseline `combineBaseline` (>= 0) by `weights` as combinedForecaster mixes them.
struct KnownOwnRates {
    const std::vector<float>* model = nullptr;
    int combineBaseline = -1;
    std::vector<double> weights;
    /// Every per-point baseline's rates at the same cuts, where the baseline stage kept them
    /// (BaselineOutcome::cutRates; null: forecast here).
    const std::vector<std::vector<float>>* baselines = nullptr;
    /// With `baselines` and no `model`: the own method is this baseline (a baseline won), whose
    /// one-pass rates are its per-cut ones (BaselineSet::cutForecaster), so they are not forecast
    /// again either.
    int ownBaseline = -1;
};
/// Judges the own method, every per-point baseline of `baselines` and every position baseline
/// on `cut` (ValidationCut::positionStepScores) and takes per step the lowest error, ties to the
/// own method. `group` (not null): the rows are forecast by its ranks together (collective over
/// it; the same verdict on every member and for any group size). `known`: the own method's
/// rates at the cuts, not forecast again (the same verdict). `bring` (if set) is called once
/// before known->baselines' tables are read, after the position baselines are judged and freed
/// (origin.cpp brings the tables back from its scratch file then).
PositionVerdict choosePositionSteps(const ValidationCut& cut, const Forecaster& own, const BaselineSet& baselines,
                                    LevelRule levelRule, int horizon, const Comm* group = nullptr,
                                    const KnownOwnRates* known = nullptr, const std::function<void()>& bring = {});

/// The inverse of /subregions/position_choice for a reader (predict): one subregion's Y values
/// (-1: own, else a row of /baselines/position_name) decoded by name against `baselines`
/// (RuntimeError naming an unknown one).
std::vector<std::int32_t> positionStepsFromFile(const std::int32_t* values, std::size_t horizon,
                                                const std::vector<std::string>& positionNames,
                                                const BaselineSet& baselines);
/// "own", a baseline's name or a position baseline's name.
std::string positionStepName(std::int32_t code, const BaselineSet& baselines);

// ---------------------------------------------------------------- pooled increments (pool_stage.cpp)
/// Each point's forecast increments (rows x `columns` cumulative values, NaN: none) replaced by
/// the value at the point of a least-squares plane in x, y through the increments of its `k`
/// nearest points of the same subregion (itself included; ties to the smaller row), or their mean
/// where the plane is not determined; subregions of fewer than 3 points and subregion < 0 keep
/// theirs. Deterministic: depends on the rows' values and order only.
std::vector<float> pooledIncrements(const std::vector<float>& x, const std::vector<float>& y,
                                    const std::vector<std::int32_t>& subregion, const std::vector<float>& cum,
                                    std::size_t columns, std::size_t k);
/// One forecast of `horizon` steps for the owned rows: row i's differentials at
/// diff[i * stride + t], its positions (if not null) at position[i * stride + t].
struct PooledSet {
    float* diff = nullptr;
    float* position = nullptr;
    std::size_t stride = 0;
};
/// run.position_pool = k (0: nothing): every set's differentials replaced by those of the pooled
/// increments (pooledIncrements over every rank's rows, all gathered on every rank and each rank
/// pooling its own rows: the same for any rank count), and its positions moved by the change of the increments times the own
/// method's share of the position at that step (`ownShare`: per subregion value and step; 1
/// where the own method positions the step, run.position_hedge where the choice gave the step
/// to another method; 1 for a subregion not in it). Collective.
void poolStage(const Comm& comm, std::size_t k, std::size_t horizon, const std::vector<double>& x,
               const std::vector<double>& y, const std::vector<std::int32_t>& subregion,
               const std::map<std::int32_t, std::vector<double>>& ownShare, const std::vector<PooledSet>& sets);

}  // namespace hlstm::pipeline
