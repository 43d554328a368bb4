/// Judging forecasts of one subregion the same way for every method (grid candidates and
/// baselines): the selection score against the validation points' smoothed rates, split-
/// conformal interval half-widths, and baseline forecasts of any block of series. Rank-local.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hlstm/model/baselines.hpp"
#include "hlstm/model/samples.hpp"

namespace hlstm {
class Comm;
}

namespace hlstm::pipeline {

/// How the positions' current level is estimated (run.level_epochs, run.level_season,
/// run.level_degree).
struct LevelRule {
    int epochs = 24;     ///< the fit runs through the last this many epochs
    bool season = true;  ///< through the series minus its local annual terms
    int degree = 2;      ///< 1: a line, 2: a quadratic (in the steps before the last epoch)
};

/// Y forecast rates (mm per nominal step) for every row of a block of series.
using Forecaster = std::function<std::vector<float>(const model::SeriesView&)>;

/// Y forecast rates at each of several cuts for every row of a block of series whose epochs reach the
/// largest cut: rows x cuts x Y; a row's values at cut c are a Forecaster's on its first c epochs.
using CutForecaster = std::function<std::vector<float>(const model::SeriesView&, const std::vector<std::size_t>&)>;

/// Y forecast positions (absolute, mm, on the series' reference) for every row of a block of
/// series, at the Y epochs after its last (position choice, src/pipeline/position_choice.cpp).
using PositionForecaster = std::function<std::vector<float>(const model::SeriesView&)>;

/// The weighted mean of two forecasters' rates, learned x w + baseline x (1 - w), w = weights[y]
/// at step y (one value: every step): the forecast combination of run.combine
/// (src/pipeline/combine_stage.cpp), in run and predict.
Forecaster combinedForecaster(Forecaster learned, Forecaster baseline, std::vector<double> weights);
/// combinedForecaster's mix of two methods' rates (Y per forecast, in place in `learned`).
void mixRates(std::vector<float>& learned, const std::vector<float>& baseline, const std::vector<double>& weights,
              std::size_t Y);

/// A method of the run besides the grid candidates: a baseline and, for mlr, its global fit.
struct BaselineSet {
    std::vector<model::BaselineKind> kinds;  ///< computed in every run, in this order
    int window = 20;                         ///< L of window_mean / linear_trend
    model::MlrModel mlr;                     ///< the global MLR (all subregions' training points)

    /// Forecaster of baseline `kinds[b]` for `horizon` steps.
    [[nodiscard]] Forecaster forecaster(std::size_t b, int horizon) const;
    /// The same baseline at several cuts in one pass per row (model::forecastAtCuts): for
    /// ValidationCut::scoreAtCuts, the same values as forecaster() at each cut.
    [[nodiscard]] CutForecaster cutForecaster(std::size_t b, int horizon) const;
};

/// Per-cut selection errors of one method (ValidationCut::cutScoresOfRates), fixed size so that
/// they travel in the gathered records of the candidates and baselines.
inline constexpr std::size_t kMaxCutScores = 16;
using CutScores = std::array<float, kMaxCutScores>;
/// True when `challenger`'s per-cut errors (n values, `stride` apart) are below `incumbent`'s on
/// average by more than `t` standard errors of the mean per-cut difference, that standard error
/// inflated for the lag-1 autocorrelation of successive cuts' differences (cuts where either is
/// NaN left out; with fewer than 2 such cuts, when the mean is lower).
bool significantlyBetter(const double* challenger, const double* incumbent, std::size_t n, std::size_t stride,
                         double t);
bool significantlyBetter(const CutScores& challenger, const CutScores& incumbent, double t);

/// The validation points of one subregion, cut so that every method forecasts from the same
/// epochs and is judged against the same smoothed future (a criterion that
/// predicting the noise of the next differential cannot win).
///
/// Out of time as well as out of space: the candidates train on the first `trainEpochs`
/// epochs only (selectionTrainEpochs), and every epoch a selection score or a conformal
/// residual looks at lies after them. So a candidate that learned the past epochs' shared
/// atmosphere (every point of a subregion has it, validation points too) gains nothing here.
class ValidationCut {
public:
    /// `visible`: the subregion's rows (visible epochs), read where they are (not copied: they
    /// must outlive the cut); `rows`: its validation rows.
    /// `selectionCuts` = N > 0: the score is the mean over the N latest cuts c >= trainEpochs,
    /// each step judged against the OLS slope of the observed positions of `smoothing` epochs
    /// from c on (from c + y - 1 - (smoothing - 1) / 2 for later steps y): epochs no forecast
    /// saw and no candidate trained on. N = 0: one cut, leaving the last Y + lead epochs (lead =
    /// what a centred mean of `smoothing` rates needs), judged against that centred mean, in time.
    /// `cutStride` s: the cuts are s epochs apart (selectionCutStride), so that they see more
    /// epochs' independent atmospheres and seasons than N consecutive ones.
    /// `group` (not null, more than one rank; collective over it): the rows are sliced over the
    /// group (hlstm run's SubregionRows::sliced), each rank holding the validation rows after
    /// those of the ranks before it. Each rank then forecasts its rows, and every rate table
    /// (ratesAtCuts...) and score is the one of all rows in order, gathered: the same values
    /// as one rank holding them all. Every member must make the same calls.
    ValidationCut(const model::SeriesView& visible, std::vector<std::size_t> rows, int horizon, int smoothing,
                  std::size_t trainEpochs, int selectionCuts, int cutStride = 1, const Comm* group = nullptr);

    /// Mean |forecast rate - centred mean of `smoothing` observed rates| over the validation
    /// points, the Y steps and the cuts (mm per nominal step); NaN without any finite pair.
    [[nodiscard]] double score(const Forecaster& method) const;
    /// score() of a method that forecasts every cut of a row in one call (a baseline: its
    /// rows are forecast once, not once per cut); the same value bit for bit.
    [[nodiscard]] double scoreAtCuts(const CutForecaster& method) const;
    /// Every validation row's Y rates at every cut of the score (rows x cuts x Y), forecast as
    /// score() forecasts them (the same chunks of rows, each cut's epochs only): a method's
    /// forecasts kept for another judge of the same cuts (the position choice).
    /// `all` false: sliced, this rank's rows only (what ownRows keeps), without gathering them.
    [[nodiscard]] std::vector<float> ratesAtCuts(const Forecaster& method, bool all = true) const;
    /// The same from a method that forecasts every cut of a row in one call (scoreAtCuts's);
    /// `width` values per row and cut (0: Y).
    [[nodiscard]] std::vector<float> ratesAtCutsInOnePass(const CutForecaster& method, std::size_t width = 0,
                                                          bool all = true) const;
    /// score() of rates from ratesAtCuts (or ratesAtCutsInOnePass): the same value bit for bit.
    [[nodiscard]] double scoreOfRates(const std::vector<float>& rates) const;
    /// The same error per cut (the mean over the rows and steps at each cut), for a paired
    /// comparison of two methods over the cuts: the first kMaxCutScores cuts, NaN after them and
    /// at a cut without any finite pair.
    [[nodiscard]] CutScores cutScoresOfRates(const std::vector<float>& rates) const;
    /// The same error per forecast step (Y values; NaN for a step without any finite pair).
    [[nodiscard]] std::vector<double> stepScores(const Forecaster& method) const;

    /// Split-conformal half-widths per step (mm) at coverage `level`, from the residuals
    /// |level + forecast increments - observed position| of forecasts made at up to `cuts`
    /// successive cut epochs, the latest first, none before trainEpochs + 1 (out of time);
    /// `levelRule.epochs` > 0: the level is localLevel of the epochs before the cut (as the
    /// product's positions), 0: the last value before the cut. Empty when level <= 0.
    [[nodiscard]] std::vector<float> intervalHalfWidths(const Forecaster& method, double level, int cuts,
                                                        LevelRule levelRule = {0, false}) const;

    /// Position error per method and step (methods x Y, mm): mean |forecast position - observed
    /// position| over the validation points at the score's cuts (step y judged at epoch cut + y -
    /// 1, out of time like the score), the observed position smoothed like the score's rates (a
    /// line through `smoothing` epochs after the cut, around that epoch); NaN for a step without
    /// any finite pair.
    [[nodiscard]] std::vector<double> positionStepScores(const std::vector<PositionForecaster>& methods) const;
    /// Method k's positions for the rows of a block from its known values there (e.g. its rates:
    /// the level plus the increments).
    using RatesToPositions =
        std::function<std::vector<float>(std::size_t k, const model::SeriesView&, const std::vector<float>&)>;
    /// positionStepScores where method k's values at the score's cuts are already known
    /// (`known[k]` not null: rows x cuts x Y, e.g. rates from ratesAtCuts): its positions are
    /// onLevel of them, not a new forecast; the same values as forecasting them again. `perCut`
    /// (not null): the same mean per cut as well (methods x cuts() x Y, NaN where a cut has no
    /// finite pair), for a paired comparison of two methods (choosePositionSteps).
    /// `group` (not null, all of whose ranks hold these rows and call this alike): each rank
    /// takes a slice of every block's rows and the group gathers their errors, which are then
    /// summed in row order on every rank, so every rank returns the values one rank alone would
    /// (collective; `methods` and `onLevel` must not be collective over it themselves).
    [[nodiscard]] std::vector<double> positionStepScores(const std::vector<PositionForecaster>& methods,
                                                         const std::vector<const std::vector<float>*>& known,
                                                         const RatesToPositions& onLevel,
                                                         std::vector<double>* perCut = nullptr,
                                                         const Comm* group = nullptr) const;
    /// intervalHalfWidths for a forecaster of positions: the residuals |forecast position -
    /// observed position| at the same cuts (out of time), per step.
    [[nodiscard]] std::vector<float> positionHalfWidths(const PositionForecaster& method, double level, int cuts) const;
    /// The same where the own method's rates at the score's cuts are known (`known`: rows x
    /// cuts() x Y, ratesAtCuts' layout, e.g. TrainOutcome::cutRates): at an interval cut that is
    /// one of the score's cuts, the subset rows' rates are taken from it and `onLevel` (k = 0)
    /// makes their positions instead of `method`; the same values as forecasting them again.
    [[nodiscard]] std::vector<float> positionHalfWidths(const PositionForecaster& method, double level, int cuts,
                                                        const std::vector<float>* known,
                                                        const RatesToPositions& onLevel) const;

    /// Whether the rows are sliced over a group (the constructor's `group`).
    [[nodiscard]] bool sliced() const noexcept { return group_ != nullptr; }
    /// The validation rows judged: all of the group's when sliced.
    [[nodiscard]] std::size_t points() const noexcept { return total_; }
    /// Sliced: this rank's rows of an all-rows table (e.g. ratesAtCuts'); otherwise `all`. The
    /// rate tables kept for later judges (`known` of positionStepScores and positionHalfWidths)
    /// hold this rank's rows only when sliced: each rank judges its own rows with them.
    [[nodiscard]] std::vector<float> ownRows(std::vector<float> all) const;
    /// The cut epochs of the score (each: the forecasts see epochs 0..cut-1).
    [[nodiscard]] const std::vector<std::size_t>& cuts() const noexcept { return cuts_; }

private:
    // The subregion's rows; the validation rows are gathered a chunk at a time when forecast.
    const float* data_ = nullptr;
    std::size_t stride_ = 0;
    std::size_t epochs_ = 0;
    const model::TimeAxis* time_ = nullptr;
    std::vector<std::size_t> rows_;  // this rank's validation rows (all of them unless sliced)
    const Comm* group_ = nullptr;    // sliced over this group (null: not sliced)
    std::size_t first_ = 0;          // sliced: the index among all validation rows of rows_[0]
    std::size_t total_ = 0;          // all validation rows (rows_.size() unless sliced)
    int horizon_ = 1, smoothing_ = 1;
    std::size_t trainEpochs_ = 0;
    std::vector<std::size_t> cuts_;
    bool future_ = false;  // out of time: references from epochs after the cut only
    [[nodiscard]] const float* row(std::size_t j) const { return data_ + rows_[j] * stride_; }
    /// Sliced over a group: every rank's per-row values (this rank's rows) as all rows' in
    /// order (collective); otherwise `local` itself.
    [[nodiscard]] std::vector<float> allRows(const std::vector<float>& local) const;
    /// The interval calibration's evenly spaced subset of at most 2,000 validation points
    /// (take x epochs_ values), shared by intervalHalfWidths and positionHalfWidths.
    /// Sliced: this rank's rows of it only; `global` gets their indices among all validation
    /// rows (those of the whole subset: j x total / take, j < take).
    [[nodiscard]] std::vector<float> intervalSubset(std::size_t& take, std::vector<std::size_t>& global) const;
    /// Sliced: every rank's residuals per step, together (a quantile does not depend on their order).
    void gatherResiduals(std::vector<std::vector<float>>& residuals) const;
    /// The interval calibration's c-th cut (epochs_ - Y - c), or 0 once the cuts run out: the Y
    /// epochs after it are observed and it lies after the training epochs.
    [[nodiscard]] std::size_t intervalCut(int c) const;
    // Sums of |forecast rate - reference| and their counts, per step and in all, over the points
    // and cuts.
    void judge(const Forecaster& method, std::vector<double>& stepSum, std::vector<std::uint64_t>& stepN, double& sum,
               std::uint64_t& n) const;
    // Each validation row's reference rate per cut and step (cuts x rows x Y, mm per nominal
    // step): the OLS slope of the positions after the cut (out of time) or the centred mean of
    // `smoothing` observed rates (in time). Computed once by the constructor.
    std::vector<double> refs_;
    void computeReferences();
    // Adds the errors of validation row j's forecast `pred` (Y rates) made at the k-th cut (judge's body).
    void addRow(std::size_t k, std::size_t j, const float* pred, std::vector<double>& stepSum,
                std::vector<std::uint64_t>& stepN, double& sum, std::uint64_t& n) const;
    // OLS slope (mm per nominal step) of c over epochs lo .. lo + count - 1.
    [[nodiscard]] double futureSlope(const float* c, std::size_t lo, std::size_t count) const;
    // The value at epoch `at` of the OLS line of c over epochs lo .. lo + count - 1 (count 1: c[at]).
    [[nodiscard]] double futureValue(const float* c, std::size_t lo, std::size_t count, std::size_t at) const;
};

/// Epochs the grid candidates (and the global MLR) train on: all `visibleEpochs` when
/// `selectionCuts` is 0, else the visible epochs minus smoothing + max(0, Y - 1 - (smoothing -
/// 1) / 2) + (selectionCuts - 1) x the cut stride, so that the selection's N cuts judge only
/// epochs no candidate trained on.
std::size_t selectionTrainEpochs(std::size_t visibleEpochs, int horizon, int smoothing, int selectionCuts,
                                 int cutStride = 1);
/// The epochs between successive selection cuts: `cutStride` (run.cut_stride), or less where the
/// candidates would keep fewer than half the visible epochs (down to 1, consecutive cuts).
std::size_t selectionCutStride(std::size_t visibleEpochs, int horizon, int smoothing, int selectionCuts, int cutStride);

/// A robust current level of a cumulative series c[0..epochs-1] (mm): the value at the last
/// epoch of an OLS line through the finite values among the last `n` epochs (`steps`: their
/// times); the last finite value with fewer than 3 of them. NaN when there is none.
double localLevel(const float* c, const double* steps, std::size_t epochs, int n);

/// The positions' level of c[0..epochs-1] on `time` (mm): the value at the last epoch of an OLS
/// line (rule.degree 1; localLevel of rule.epochs epochs) or quadratic (2; a line with fewer than
/// 4 finite values) through the last rule.epochs values. With `season`, the annual sine and
/// cosine of local_annual's fit (a line and annual terms through the last
/// model::kLocalAnnualWindowDays) are taken off those values first and added back at the last
/// epoch: the season's curvature no longer bends the fit, so it can be longer and average more
/// epochs' atmosphere and noise (the quadratic follows a funnel's acceleration). Without a
/// valid fit (less than a year, fewer than 8 finite values), the same on the values themselves.
double localLevel(const float* c, const model::TimeAxis& time, std::size_t epochs, LevelRule rule);

/// Differential (mm) of each forecast step at the epochs that follow `lastEpoch` on `time`:
/// rate x the actual interval in nominal steps (the holdout epochs' own spacing).
void ratesToDifferentials(const std::vector<float>& rates, int horizon, const model::TimeAxis& time,
                          std::size_t lastEpoch, std::vector<float>& out);

/// q-th empirical quantile for split-conformal coverage `level` of n residuals:
/// the ceil((n + 1) level)-th smallest (the largest when that exceeds n).
float conformalQuantile(std::vector<float> residuals, double level);

/// Position-only baselines (issue 23): forecasts of the position at the Y epochs after
/// `epochs` (the cumulative value itself, mm), from one point's visible history.
inline constexpr int kPositionBaselines = 5;
/// local_line's epochs (the positions' level was a line through as many before session 35).
inline constexpr int kLocalLineEpochs = 8;
/// "last_value+velocity" (last value + whole-history OLS velocity x elapsed time),
/// "local_line" (the line through the last kLocalLineEpochs epochs of the values themselves,
/// extrapolated),
/// "local_level+velocity" (the positions' level, localLevel with `levelRule`, + the OLS velocity), "line+annual" (OLS of a line
/// and annual sine and cosine over the whole history, extrapolated: MintPy's time function),
/// "local_line+annual" (the same through the epochs of the last model::kLocalAnnualWindowDays, when they span
/// a year or more: a recent trend beside the season; else NaN).
const std::vector<std::string>& positionBaselineNames();
/// Writes kPositionBaselines x Y positions into `out` (baseline-major); `time` covers the Y
/// epochs after `epochs`.
void forecastPositions(const float* c, const model::TimeAxis& time, std::size_t epochs, int horizon,
                       LevelRule levelRule, float* out);
/// forecastPositions on the first cuts[k] epochs of c for each of the nCuts cuts (kPositionBaselines x
/// Y values per cut into `out`, cut by cut), bit for bit: the whole-history sums of a prefix are
/// summed once, in epoch order, with a snapshot at each cut.
void forecastPositionsAtCuts(const float* c, const model::TimeAxis& time, const std::size_t* cuts, std::size_t nCuts,
                             int horizon, LevelRule levelRule, float* out);

/// The baselines asked for in `run.baselines`.
struct BaselineRequest {
    std::vector<model::BaselineKind> kinds;  ///< per-point baselines and the global MLR
    bool globalLstm = false;                 ///< learned: one LSTM of all points (the paper's "LSTM")
    bool rnn = false;                        ///< learned: one plain RNN of all points (the paper's "RNN")
};
/// "default" (every per-point baseline and the global MLR), "all" (those and the learned
/// global_lstm and rnn) or a comma list of names; throws ConfigError on an unknown name.
BaselineRequest baselinesFromConfig(const std::string& text);

}  // namespace hlstm::pipeline
