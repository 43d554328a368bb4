#include "hlstm/model/samples.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hlstm/core/error.hpp"
#include "random.hpp"

namespace hlstm::model {
namespace {

// Appends one z-scored window d[0..L) (input L - Y, label Y) of point `row`; paper II-B:
// every sample is standardised with its own input part's mean and std.
void appendWindow(SampleSet& set, const float* d, int inputSteps, int horizon, double stdFloor,
                  std::uint32_t row) {
    double sum = 0;
    for (int t = 0; t < inputSteps; ++t) sum += d[t];
    const double mean = sum / inputSteps;
    double squares = 0;
    for (int t = 0; t < inputSteps; ++t) squares += (d[t] - mean) * (d[t] - mean);
    const double scale = std::max(std::sqrt(squares / inputSteps), stdFloor);
    for (int t = 0; t < inputSteps; ++t) {
        set.inputs.push_back(static_cast<float>((d[t] - mean) / scale));
    }
    for (int y = 0; y < horizon; ++y) {
        const float label = d[inputSteps + y];
        set.labels.push_back(static_cast<float>((label - mean) / scale));
        set.labelsMm.push_back(label);
    }
    set.mean.push_back(static_cast<float>(mean));
    set.scale.push_back(static_cast<float>(scale));
    set.point.push_back(row);
}

bool allFinite(const float* values, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) return false;
    }
    return true;
}

}  // namespace

std::vector<float> differentials(const float* cumulative, std::size_t epochs) {
    std::vector<float> d(epochs > 0 ? epochs - 1 : 0);
    for (std::size_t t = 1; t < epochs; ++t) d[t - 1] = cumulative[t] - cumulative[t - 1];
    return d;
}

SampleSet makeSamples(const SeriesView& series, const std::vector<std::size_t>& rows,
                      const ModelConfig& model, Sampling sampling, int stride) {
    model.validate();
    if (stride < 1) throw ConfigError("model.stride must be >= 1");
    if (series.points > std::numeric_limits<std::uint32_t>::max()) {
        throw InputError("makeSamples: more than 2^32 points in one block");
    }
    SampleSet set;
    set.inputSteps = model.inputSteps();
    set.horizon = model.horizon;
    const auto window = static_cast<std::size_t>(model.window);
    const std::size_t nDiff = series.epochs > 0 ? series.epochs - 1 : 0;
    if (nDiff < window) return set;

    const std::size_t nRows = rows.size();
    const std::size_t perPoint = sampling == Sampling::kLatest
                                     ? 1
                                     : (nDiff - window) / static_cast<std::size_t>(stride) + 1;
    const std::size_t reserve = nRows * perPoint;
    set.inputs.reserve(reserve * set.inputSteps);
    set.labels.reserve(reserve * set.horizon);
    set.labelsMm.reserve(reserve * set.horizon);
    set.mean.reserve(reserve);
    set.scale.reserve(reserve);
    set.point.reserve(reserve);

    for (std::size_t k = 0; k < nRows; ++k) {
        const std::size_t row = rows[k];
        if (row >= series.points) throw InputError("makeSamples: row index out of range");
        const std::vector<float> d = differentials(series.row(row), series.epochs);
        // Windows end at the last differential and step back by `stride` (kAll), oldest first.
        const std::size_t lastStart = nDiff - window;
        const std::size_t count = perPoint;
        for (std::size_t w = 0; w < count; ++w) {
            const std::size_t start = lastStart - (count - 1 - w) * static_cast<std::size_t>(stride);
            if (!allFinite(d.data() + start, window)) continue;
            appendWindow(set, d.data() + start, set.inputSteps, set.horizon, model.stdFloor,
                         static_cast<std::uint32_t>(row));
        }
    }
    return set;
}

SampleSet makeSamples(const SeriesView& series, const ModelConfig& model, Sampling sampling,
                      int stride) {
    std::vector<std::size_t> rows(series.points);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    return makeSamples(series, rows, model, sampling, stride);
}

SampleSet makeForecastInputs(const SeriesView& series, const ModelConfig& model) {
    model.validate();
    SampleSet set;
    set.inputSteps = model.inputSteps();
    set.horizon = model.horizon;
    const auto steps = static_cast<std::size_t>(set.inputSteps);
    if (series.epochs < steps + 1) {
        throw InputError("forecast: the series have " + std::to_string(series.epochs) +
                         " epochs, the model needs at least L - Y + 1 = " +
                         std::to_string(steps + 1));
    }
    set.inputs.reserve(series.points * steps);
    set.mean.reserve(series.points);
    set.scale.reserve(series.points);
    set.point.reserve(series.points);
    for (std::size_t row = 0; row < series.points; ++row) {
        const float* c = series.row(row) + (series.epochs - steps - 1);
        std::vector<float> d = differentials(c, steps + 1);
        if (!allFinite(d.data(), steps)) {
            set.inputs.insert(set.inputs.end(), steps, std::numeric_limits<float>::quiet_NaN());
            set.mean.push_back(std::numeric_limits<float>::quiet_NaN());
            set.scale.push_back(std::numeric_limits<float>::quiet_NaN());
            set.point.push_back(static_cast<std::uint32_t>(row));
            continue;
        }
        // appendWindow with horizon 0: z-scores the input part only.
        appendWindow(set, d.data(), set.inputSteps, 0, model.stdFloor,
                     static_cast<std::uint32_t>(row));
    }
    return set;
}

PointSplit splitPoints(std::size_t points, double validationFraction, std::uint64_t seed) {
    PointSplit split;
    std::size_t nValidation =
        static_cast<std::size_t>(std::llround(validationFraction * static_cast<double>(points)));
    if (points >= 2 && validationFraction > 0) {
        nValidation = std::clamp<std::size_t>(nValidation, 1, points - 1);
    } else {
        nValidation = 0;
    }
    std::vector<std::size_t> order(points);
    for (std::size_t i = 0; i < points; ++i) order[i] = i;
    auto rng = detail::streamOf(seed, detail::kSplitStream);
    detail::shuffle(order, rng);
    split.validation.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(nValidation));
    split.train.assign(order.begin() + static_cast<std::ptrdiff_t>(nValidation), order.end());
    std::sort(split.validation.begin(), split.validation.end());
    std::sort(split.train.begin(), split.train.end());
    return split;
}

}  // namespace hlstm::model
