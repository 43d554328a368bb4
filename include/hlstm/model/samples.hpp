/// Training samples from differential displacement series (paper II-B): windows of L
/// differentials, the first L - Y the input and the last Y the label, each z-scored with its
/// input part's mean and std; and the seeded 70/30 split of points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hlstm/model/model_config.hpp"

namespace hlstm::model {

/// The acquisition times of a series: epoch t lies `steps[t]` nominal acquisition intervals
/// (the median interval, `spacingDays`) after the first, at annual phase `phase[t]` (radians,
/// 0 on 1 January). Differentials become rates per nominal step, so that a 24-day gap in a
/// 12-day archive does not look like an acceleration.
struct TimeAxis {
    std::vector<double> steps;
    std::vector<double> phase;
    double spacingDays = 12.0;

    /// From YYYYMMDD dates (strictly increasing).
    static TimeAxis fromDates(const std::vector<std::int32_t>& dates);
    /// `epochs` epochs `spacingDays` apart from 1 January.
    static TimeAxis regular(std::size_t epochs, double spacingDays = 12.0);
};

/// A read-only block of cumulative displacement series: `points` rows of `epochs` values
/// (mm), row-major (row stride `stride`, 0: `epochs`). Any subset of points can be passed by
/// gathering it into such a block; a view of the first epochs of each row by a smaller
/// `epochs` with the full stride. `time` (nullptr: regular 12-day steps) covers >= epochs.
struct SeriesView {
    const float* cumulative = nullptr;
    std::size_t points = 0;
    std::size_t epochs = 0;
    const TimeAxis* time = nullptr;
    std::size_t stride = 0;

    [[nodiscard]] const float* row(std::size_t i) const noexcept {
        return cumulative + i * (stride != 0 ? stride : epochs);
    }
    /// The same rows, first `count` epochs only.
    [[nodiscard]] SeriesView firstEpochs(std::size_t count) const noexcept {
        return {cumulative, points, count, time, stride != 0 ? stride : epochs};
    }
};

/// z-scored samples, sample-major. `inputs` holds size() x inputSteps x channels values,
/// `labels` size() x horizon (empty for forecast inputs). A sample's mm values (rates per
/// nominal step) are z * scale + mean.
struct SampleSet {
    int inputSteps = 0;
    int horizon = 0;
    int channels = 1;
    std::vector<float> inputs;
    std::vector<float> labels;
    std::vector<float> labelsMm;  ///< the labels in mm (exact, for MAE in mm)
    std::vector<float> mean;      ///< mm, per sample: mean of the input part
    /// kLocal: mm per step, per sample and step (horizon each): the centre of each label step
    /// (the local fit's rate there); empty for the other targets, whose centre is `mean`.
    std::vector<float> stepMean;
    std::vector<float> scale;          ///< mm, per sample: max(std of the input part, floor)
    std::vector<std::uint32_t> point;  ///< row of the sample's point in the SeriesView
    /// Windows as views (makeSampleViews): `inputs` stays empty and fillInputs computes a batch's
    /// inputs from the rows of `source` when it is needed; the same floats as makeSamples'.
    SeriesView source;
    bool signal = false;                   ///< views: kSignal's inputs (residual rates, sin, cos)
    int inputGap = 0;                      ///< views: the model's inputGap()
    std::vector<std::uint32_t> windowEnd;  ///< views: index of each window's last label-side rate e
    std::vector<double> center, spread;    ///< views: the exact mean and scale of each window

    [[nodiscard]] std::size_t size() const noexcept { return mean.size(); }
    /// The centre (mm per step) of sample i's step y: a prediction is output x scale + centre.
    [[nodiscard]] double centerOf(std::size_t i, int y) const noexcept {
        return stepMean.empty() ? mean[i]
                                : stepMean[i * static_cast<std::size_t>(horizon) + static_cast<std::size_t>(y)];
    }
    /// True when the inputs are computed on demand (makeSampleViews).
    [[nodiscard]] bool views() const noexcept { return !windowEnd.empty(); }
    /// Inputs of samples indices[0..n) (indices nullptr: first..first + n), inputSteps x
    /// channels floats each, written to `out` in that order.
    void fillInputs(const std::uint32_t* indices, std::size_t first, std::size_t n, float* out) const;
};

/// Differential d[t] = c[t] - c[t-1] of one cumulative series (epochs - 1 values, mm).
std::vector<float> differentials(const float* cumulative, std::size_t epochs);

/// Rates of row `i` of `series`: (c[t] - c[t-1]) / (steps[t] - steps[t-1]), mm per nominal
/// step, epochs - 1 values.
std::vector<float> seriesRates(const SeriesView& series, std::size_t i);

/// Ordinary least-squares slope of row `i` against the time axis (mm per nominal step) over
/// all its epochs; NaN with fewer than 2 finite values.
double seriesVelocity(const SeriesView& series, std::size_t i);

/// Sets a model's data-relative scaling from its training points (issue: never an absolute
/// floor): kNext: stdFloor = floorFraction x the median std of the points' latest input
/// windows; kSignal: scale = the median std of the points' residual rates (rate - velocity),
/// floored likewise. No-op when floorFraction is 0.
void calibrateScaling(const SeriesView& series, const std::vector<std::size_t>& rows, ModelConfig& model);
/// calibrateScaling in two halves, for points held by several processes: each computes the
/// values of its rows (the per-point spreads and, kSignal, |velocity|s), and the medians of
/// everyone's values (in any order: a median is a value, not a sum) set the model's scaling.
void scalingValues(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                   std::vector<double>& spread, std::vector<double>& level);
void applyScaling(std::vector<double> spread, std::vector<double> level, ModelConfig& model);

/// Samples of the given points (rows of `series`). kLatest: the window ending at each point's
/// last usable rate; kAll: every window ending there minus a multiple of `stride`. Windows
/// with a non-finite value are skipped. kNext: input L - Y rates z-scored by their own mean
/// and std, label the next Y rates; kSignal: input the residual rates / scale and sin, cos of
/// the annual phase, label the centred mean of h rates around each of the next Y steps.
SampleSet makeSamples(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                      Sampling sampling, int stride);
/// The same samples as makeSamples without materialising the inputs: each window's row, end,
/// mean and scale are kept and its inputs are computed when a batch needs them (SampleSet::
/// fillInputs), so a training set costs ~30 bytes per sample instead of (L - Y) x channels
/// floats. `series` must outlive the set.
SampleSet makeSampleViews(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                          Sampling sampling, int stride);
/// Samples of every row of `series`.
SampleSet makeSamples(const SeriesView& series, const ModelConfig& model, Sampling sampling, int stride);

/// Forecast inputs: the window of every row that ends at its last rate, scaled as in
/// makeSamples; a row with a non-finite value there gets NaN inputs. `labels` stay empty.
SampleSet makeForecastInputs(const SeriesView& series, const ModelConfig& model);

/// Seeded split of `points` indices 0..points-1 into train and validation sets: validation
/// gets round(fraction * points) points, at least one and at most points - 1 when points >= 2.
/// Both lists are sorted.
struct PointSplit {
    std::vector<std::size_t> train;
    std::vector<std::size_t> validation;
};
PointSplit splitPoints(std::size_t points, double validationFraction, std::uint64_t seed);

}  // namespace hlstm::model
