/// Judging forecasts of one subregion the same way for every method (grid candidates and
/// baselines): the selection score against the validation points' smoothed rates, split-
/// conformal interval half-widths, and baseline forecasts of any block of series. Rank-local.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hlstm/model/baselines.hpp"
#include "hlstm/model/samples.hpp"

namespace hlstm::pipeline {

/// Y forecast rates (mm per nominal step) for every row of a block of series.
using Forecaster = std::function<std::vector<float>(const model::SeriesView&)>;

/// A method of the run besides the grid candidates: a baseline and, for mlr, its global fit.
struct BaselineSet {
    std::vector<model::BaselineKind> kinds;  ///< computed in every run, in this order
    int window = 20;                         ///< L of window_mean / linear_trend
    model::MlrModel mlr;                     ///< the global MLR (all subregions' training points)

    /// Forecaster of baseline `kinds[b]` for `horizon` steps.
    [[nodiscard]] Forecaster forecaster(std::size_t b, int horizon) const;
};

/// The validation points of one subregion, cut so that every method forecasts from the same
/// epochs and is judged against the same smoothed future (DESIGN 2: a criterion that
/// predicting the noise of the next differential cannot win).
class ValidationCut {
public:
    /// `visible`: the subregion's rows (visible epochs); `rows`: its validation rows; the cut
    /// leaves the last Y + lead epochs (lead = what a centred mean of `smoothing` rates needs).
    ValidationCut(const model::SeriesView& visible, std::vector<std::size_t> rows, int horizon, int smoothing);

    /// Mean |forecast rate - centred mean of `smoothing` observed rates| over the validation
    /// points and the Y steps (mm per nominal step); NaN without any finite pair.
    [[nodiscard]] double score(const Forecaster& method) const;

    /// Split-conformal half-widths per step (mm, cumulative displacement since the cut) at
    /// coverage `level`, from the residuals of forecasts made at `cuts` successive cut epochs
    /// (pooling epochs averages over each epoch's own atmosphere). Empty when level <= 0.
    [[nodiscard]] std::vector<float> intervalHalfWidths(const Forecaster& method, double level, int cuts) const;

    [[nodiscard]] std::size_t points() const noexcept { return rows_.size(); }

private:
    // The validation rows gathered into one block of the visible epochs.
    std::vector<float> block_;
    std::size_t epochs_ = 0;
    const model::TimeAxis* time_ = nullptr;
    std::vector<std::size_t> rows_;
    int horizon_ = 1, smoothing_ = 1;
    std::size_t cut_ = 0;
};

/// Differential (mm) of each forecast step at the epochs that follow `lastEpoch` on `time`:
/// rate x the actual interval in nominal steps (the holdout epochs' own spacing).
void ratesToDifferentials(const std::vector<float>& rates, int horizon, const model::TimeAxis& time,
                          std::size_t lastEpoch, std::vector<float>& out);

/// q-th empirical quantile for split-conformal coverage `level` of n residuals:
/// the ceil((n + 1) level)-th smallest (the largest when that exceeds n).
float conformalQuantile(std::vector<float> residuals, double level);

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
