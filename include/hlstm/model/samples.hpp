/// Training samples from differential displacement series (paper II-B): windows of L
/// differentials, the first L - Y the input and the last Y the label, each z-scored with its
/// input part's mean and std; and the seeded 70/30 split of points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hlstm/model/model_config.hpp"

namespace hlstm::model {

/// A read-only block of cumulative displacement series: `points` rows of `epochs` values
/// (mm), row-major. Any subset of points can be passed by gathering it into such a block.
struct SeriesView {
    const float* cumulative = nullptr;
    std::size_t points = 0;
    std::size_t epochs = 0;

    [[nodiscard]] const float* row(std::size_t i) const noexcept { return cumulative + i * epochs; }
};

/// z-scored samples, sample-major. `inputs` holds size() x inputSteps values, `labels`
/// size() x horizon (empty for forecast inputs). A sample's mm values are z * scale + mean.
struct SampleSet {
    int inputSteps = 0;
    int horizon = 0;
    std::vector<float> inputs;
    std::vector<float> labels;
    std::vector<float> labelsMm;     ///< the labels in mm (exact, for MAE in mm)
    std::vector<float> mean;         ///< mm, per sample: mean of the input part
    std::vector<float> scale;        ///< mm, per sample: max(std of the input part, floor)
    std::vector<std::uint32_t> point;  ///< row of the sample's point in the SeriesView

    [[nodiscard]] std::size_t size() const noexcept { return mean.size(); }
};

/// Differential d[t] = c[t] - c[t-1] of one cumulative series (epochs - 1 values, mm).
std::vector<float> differentials(const float* cumulative, std::size_t epochs);

/// Samples of the given points (rows of `series`). kLatest: the window ending at each point's
/// last differential; kAll: every window ending at the last differential minus a multiple of
/// `stride`. Windows with a non-finite value are skipped. Needs epochs >= L + 1 (else none).
SampleSet makeSamples(const SeriesView& series, const std::vector<std::size_t>& rows,
                      const ModelConfig& model, Sampling sampling, int stride);
/// Samples of every row of `series`.
SampleSet makeSamples(const SeriesView& series, const ModelConfig& model, Sampling sampling,
                      int stride);

/// Forecast inputs: the last L - Y differentials of every row, z-scored; a row with a
/// non-finite value there gets NaN inputs. `labels` stay empty.
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
