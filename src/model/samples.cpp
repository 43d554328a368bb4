#include "hlstm/model/samples.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "hlstm/core/error.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/model/baselines.hpp"
#include "random.hpp"

namespace hlstm::model {
namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr double kDaysPerYear = 365.2425;
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
// Absolute last resort for a scale of exactly zero (constant series): 1 micrometre per step.
constexpr double kTinyScale = 1e-3;

const TimeAxis& regularAxis(std::size_t epochs) {
    static thread_local TimeAxis axis;
    if (axis.steps.size() < epochs) axis = TimeAxis::regular(std::max<std::size_t>(epochs, 512));
    return axis;
}

const TimeAxis& axisOf(const SeriesView& series) {
    if (series.time != nullptr) {
        if (series.time->steps.size() < series.epochs)
            throw InputError("samples: the time axis is shorter than the series");
        return *series.time;
    }
    return regularAxis(series.epochs);
}

bool allFinite(const float* values, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) return false;
    }
    return true;
}

double stdOf(const float* d, int n, double* meanOut = nullptr) {
    double sum = 0;
    for (int t = 0; t < n; ++t) sum += d[t];
    const double mean = sum / n;
    double squares = 0;
    for (int t = 0; t < n; ++t) squares += (d[t] - mean) * (d[t] - mean);
    if (meanOut != nullptr) *meanOut = mean;
    return std::sqrt(squares / n);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

// One sample whose last observed rate is r[e] (kSignal's input ends inputGap() rates earlier). kNext (paper II-B): the L - Y input rates are
// z-scored with their own mean and std (floored), the label is the next Y rates. kSignal: the
// input is (rate - velocity) / scale with sin and cos of each rate's annual phase, the label
// the centred mean of h rates around each next step, as (mean - velocity) / scale. Returns
// false (nothing appended) when a value it needs is not finite.
bool appendWindow(SampleSet& set, const std::vector<float>& r, const float* cumulative, const TimeAxis& axis,
                  std::size_t e, const ModelConfig& model, double velocity, bool withLabel, std::uint32_t row,
                  bool view = false) {
    const int T = set.inputSteps;
    const std::size_t first = e + 1 - static_cast<std::size_t>(T + model.inputGap());
    if (!allFinite(r.data() + first, static_cast<std::size_t>(T))) return false;
    const int a = (model.smoothing - 1) / 2, b = model.labelLead();
    const bool signal = model.target != Target::kNext;
    // kLocal: each step's centre is the local_annual fit's mean rate over that step's label rates
    // (rates e + y - a .. e + y + b, the fit's change from b + y to y - a - 1 steps after epoch e + 1);
    // where the history before the window's end spans less than a year (no fit), the velocity, as kSignal.
    std::array<double, 64> centers{};
    centers.fill(velocity);
    if (model.target == Target::kLocal) {
        const LocalAnnualFit fit =
            localAnnualFit({cumulative, axis.steps.data(), e + 2, axis.phase.data(), axis.spacingDays});
        if (fit.valid) {
            for (int y = 1; y <= set.horizon; ++y)
                centers[static_cast<std::size_t>(y - 1)] = (fit.at(y + b) - fit.at(y - a - 1)) / model.smoothing;
            velocity = centers[0];
        }
    }
    std::array<double, 64> labels{};
    if (withLabel) {
        for (int y = 1; y <= set.horizon; ++y) {
            double value = 0;
            if (signal) {
                const std::size_t lo = e + static_cast<std::size_t>(y) - static_cast<std::size_t>(a);
                for (std::size_t k = lo; k <= e + static_cast<std::size_t>(y + b); ++k) value += r[k];
                value /= model.smoothing;
            } else {
                value = r[e + static_cast<std::size_t>(y)];
            }
            if (!std::isfinite(value)) return false;
            labels[static_cast<std::size_t>(y - 1)] = value;
        }
    }
    double mean = velocity, scale = model.scale;
    if (!signal) {
        scale = std::max(stdOf(r.data() + first, T, &mean), model.stdFloor);
    } else if (!std::isfinite(velocity)) {
        return false;
    }
    if (view) {  // the inputs below are computed again by fillInputs when a batch needs them
        set.windowEnd.push_back(static_cast<std::uint32_t>(e));
        set.center.push_back(mean);
        set.spread.push_back(scale);
    }
    for (int t = 0; t < T && !view; ++t) {
        const std::size_t k = first + static_cast<std::size_t>(t);
        set.inputs.push_back(static_cast<float>((r[k] - mean) / scale));
        if (signal) {
            const double phase = axis.phase[k + 1];  // rate k ends at epoch k + 1
            set.inputs.push_back(static_cast<float>(std::sin(phase)));
            set.inputs.push_back(static_cast<float>(std::cos(phase)));
        }
    }
    const bool local = model.target == Target::kLocal;
    if (withLabel) {
        for (int y = 0; y < set.horizon; ++y) {
            const double center = local ? centers[static_cast<std::size_t>(y)] : mean;
            set.labels.push_back(static_cast<float>((labels[static_cast<std::size_t>(y)] - center) / scale));
            set.labelsMm.push_back(static_cast<float>(labels[static_cast<std::size_t>(y)]));
        }
    }
    if (local)
        for (int y = 0; y < set.horizon; ++y)
            set.stepMean.push_back(static_cast<float>(centers[static_cast<std::size_t>(y)]));
    set.mean.push_back(static_cast<float>(mean));
    set.scale.push_back(static_cast<float>(scale));
    set.point.push_back(row);
    return true;
}

SampleSet emptySet(const ModelConfig& model) {
    SampleSet set;
    set.inputSteps = model.inputSteps();
    set.horizon = model.horizon;
    set.channels = model.inputChannels();
    return set;
}

}  // namespace

TimeAxis TimeAxis::fromDates(const std::vector<std::int32_t>& dateList) {
    TimeAxis axis;
    axis.spacingDays = static_cast<double>(dates::nominalSpacing(dateList));
    const std::int64_t d0 = dateList.empty() ? 0 : dates::toDays(dateList.front());
    for (auto d : dateList) {
        const std::int64_t days = dates::toDays(d);
        axis.steps.push_back(static_cast<double>(days - d0) / axis.spacingDays);
        const std::int64_t jan1 = dates::toDays(d / 10000 * 10000 + 101);
        axis.phase.push_back(kTwoPi * static_cast<double>(days - jan1) / kDaysPerYear);
    }
    return axis;
}

TimeAxis TimeAxis::regular(std::size_t epochs, double spacingDays) {
    TimeAxis axis;
    axis.spacingDays = spacingDays;
    for (std::size_t t = 0; t < epochs; ++t) {
        axis.steps.push_back(static_cast<double>(t));
        axis.phase.push_back(kTwoPi * std::fmod(static_cast<double>(t) * spacingDays, kDaysPerYear) / kDaysPerYear);
    }
    return axis;
}

std::vector<float> differentials(const float* cumulative, std::size_t epochs) {
    std::vector<float> d(epochs > 0 ? epochs - 1 : 0);
    for (std::size_t t = 1; t < epochs; ++t) d[t - 1] = cumulative[t] - cumulative[t - 1];
    return d;
}

std::vector<float> seriesRates(const SeriesView& series, std::size_t i) {
    const std::vector<double> r = rates({series.row(i), axisOf(series).steps.data(), series.epochs});
    return {r.begin(), r.end()};
}

double seriesVelocity(const SeriesView& series, std::size_t i) {
    const TimeAxis& axis = axisOf(series);
    const float* c = series.row(i);
    double n = 0, st = 0, sc = 0;
    for (std::size_t t = 0; t < series.epochs; ++t) {
        if (!std::isfinite(c[t])) continue;
        n += 1;
        st += axis.steps[t];
        sc += c[t];
    }
    if (n < 2) return std::numeric_limits<double>::quiet_NaN();
    const double mt = st / n, mc = sc / n;
    double stt = 0, stc = 0;
    for (std::size_t t = 0; t < series.epochs; ++t) {
        if (!std::isfinite(c[t])) continue;
        stt += (axis.steps[t] - mt) * (axis.steps[t] - mt);
        stc += (axis.steps[t] - mt) * (c[t] - mc);
    }
    return stt > 0 ? stc / stt : std::numeric_limits<double>::quiet_NaN();
}

void scalingValues(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                   std::vector<double>& spread, std::vector<double>& level) {
    spread.clear();
    level.clear();
    if (model.floorFraction <= 0) return;
    const int T = model.inputSteps();
    for (std::size_t row : rows) {
        const std::vector<float> r = seriesRates(series, row);
        if (r.size() < static_cast<std::size_t>(T)) continue;
        if (model.target == Target::kNext) {
            const float* w = r.data() + (r.size() - static_cast<std::size_t>(T));
            if (allFinite(w, static_cast<std::size_t>(T))) spread.push_back(stdOf(w, T));
        } else {
            const double v = seriesVelocity(series, row);
            double n = 0, squares = 0;
            for (float x : r) {
                if (!std::isfinite(x) || !std::isfinite(v)) continue;
                n += 1;
                squares += (x - v) * (x - v);
            }
            if (n > 0) spread.push_back(std::sqrt(squares / n));
            if (std::isfinite(v)) level.push_back(std::abs(v));
        }
    }
}

void applyScaling(std::vector<double> spread, std::vector<double> level, ModelConfig& model) {
    if (model.floorFraction <= 0) return;
    const double typical = median(std::move(spread));
    if (model.target == Target::kNext) {
        model.stdFloor = std::max(model.floorFraction * typical, 1e-9);
    } else {
        // The residual spread, floored relative to the typical rate for near-noiseless data.
        model.scale = std::max({typical, model.floorFraction * median(std::move(level)), kTinyScale});
    }
}

void calibrateScaling(const SeriesView& series, const std::vector<std::size_t>& rows, ModelConfig& model) {
    std::vector<double> spread, level;
    scalingValues(series, rows, model, spread, level);
    applyScaling(std::move(spread), std::move(level), model);
}

namespace {

SampleSet buildSamples(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                       Sampling sampling, int stride, bool view) {
    model.validate();
    if (stride < 1) throw ConfigError("model.stride must be >= 1");
    if (model.horizon + model.labelLead() > 64) throw ConfigError("model.horizon + model.smoothing / 2 must be <= 64");
    if (series.points > std::numeric_limits<std::uint32_t>::max()) {
        throw InputError("makeSamples: more than 2^32 points in one block");
    }
    SampleSet set = emptySet(model);
    const TimeAxis& axis = axisOf(series);
    const std::size_t nRates = series.epochs > 0 ? series.epochs - 1 : 0;
    // The last input rate of the latest window leaves Y label steps (and kSignal's lead).
    const std::size_t need =
        static_cast<std::size_t>(set.inputSteps + model.inputGap() + set.horizon + model.labelLead());
    if (nRates < need) return set;
    const std::size_t lastEnd = nRates - 1 - static_cast<std::size_t>(set.horizon + model.labelLead());
    const std::size_t firstEnd = static_cast<std::size_t>(set.inputSteps + model.inputGap() - 1);
    const std::size_t perPoint =
        sampling == Sampling::kLatest ? 1 : (lastEnd - firstEnd) / static_cast<std::size_t>(stride) + 1;
    const std::size_t reserve = rows.size() * perPoint;
    if (view) {
        set.source = series;
        set.signal = model.target != Target::kNext;
        set.inputGap = model.inputGap();
        set.windowEnd.reserve(reserve);
        set.center.reserve(reserve);
        set.spread.reserve(reserve);
    } else {
        set.inputs.reserve(reserve * static_cast<std::size_t>(set.inputSteps * set.channels));
    }
    set.labels.reserve(reserve * set.horizon);
    set.labelsMm.reserve(reserve * set.horizon);
    set.mean.reserve(reserve);
    set.scale.reserve(reserve);
    set.point.reserve(reserve);

    for (std::size_t row : rows) {
        if (row >= series.points) throw InputError("makeSamples: row index out of range");
        const std::vector<float> r = seriesRates(series, row);
        const double velocity = model.target != Target::kNext ? seriesVelocity(series, row) : 0.0;
        // Windows end at lastEnd and step back by `stride` (kAll), oldest first.
        for (std::size_t w = 0; w < perPoint; ++w) {
            const std::size_t e = lastEnd - (perPoint - 1 - w) * static_cast<std::size_t>(stride);
            appendWindow(set, r, series.row(row), axis, e, model, velocity, true, static_cast<std::uint32_t>(row),
                         view);
        }
    }
    return set;
}

}  // namespace

SampleSet makeSamples(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                      Sampling sampling, int stride) {
    return buildSamples(series, rows, model, sampling, stride, false);
}

SampleSet makeSampleViews(const SeriesView& series, const std::vector<std::size_t>& rows, const ModelConfig& model,
                          Sampling sampling, int stride) {
    return buildSamples(series, rows, model, sampling, stride, true);
}

void SampleSet::fillInputs(const std::uint32_t* indices, std::size_t first, std::size_t n, float* out) const {
    const std::size_t width = static_cast<std::size_t>(inputSteps) * static_cast<std::size_t>(channels);
    if (!views()) {
        for (std::size_t b = 0; b < n; ++b)
            std::copy_n(inputs.data() + static_cast<std::size_t>(indices ? indices[b] : first + b) * width, width,
                        out + b * width);
        return;
    }
    const TimeAxis& axis = axisOf(source);
    const double* steps = axis.steps.data();
    for (std::size_t b = 0; b < n; ++b) {
        const std::size_t s = indices ? indices[b] : first + b;
        const float* c = source.row(point[s]);
        const std::size_t begin = windowEnd[s] + 1 - static_cast<std::size_t>(inputSteps + inputGap);
        const double mean = center[s], scale = spread[s];
        float* x = out + b * width;
        for (int t = 0; t < inputSteps; ++t) {
            const std::size_t k = begin + static_cast<std::size_t>(t);
            // seriesRates' rate k (model::rates in double, stored as float), then appendWindow's input
            const auto rate = static_cast<float>((static_cast<double>(c[k + 1]) - c[k]) / (steps[k + 1] - steps[k]));
            *x++ = static_cast<float>((rate - mean) / scale);
            if (signal) {
                const double phase = axis.phase[k + 1];
                *x++ = static_cast<float>(std::sin(phase));
                *x++ = static_cast<float>(std::cos(phase));
            }
        }
    }
}

SampleSet makeSamples(const SeriesView& series, const ModelConfig& model, Sampling sampling, int stride) {
    std::vector<std::size_t> rows(series.points);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    return makeSamples(series, rows, model, sampling, stride);
}

SampleSet makeForecastInputs(const SeriesView& series, const ModelConfig& model) {
    model.validate();
    SampleSet set = emptySet(model);
    const TimeAxis& axis = axisOf(series);
    const auto steps = static_cast<std::size_t>(set.inputSteps + model.inputGap());
    if (series.epochs < steps + 1) {
        throw InputError("forecast: the series have " + std::to_string(series.epochs) +
                         " epochs, the model needs at least L - Y + 1 = " + std::to_string(steps + 1));
    }
    const std::size_t width = static_cast<std::size_t>(set.inputSteps) * static_cast<std::size_t>(set.channels);
    set.inputs.reserve(series.points * width);
    set.mean.reserve(series.points);
    set.scale.reserve(series.points);
    set.point.reserve(series.points);
    for (std::size_t row = 0; row < series.points; ++row) {
        const std::vector<float> r = seriesRates(series, row);
        const double velocity = model.target != Target::kNext ? seriesVelocity(series, row) : 0.0;
        if (!appendWindow(set, r, series.row(row), axis, r.size() - 1, model, velocity, false,
                          static_cast<std::uint32_t>(row))) {
            set.inputs.insert(set.inputs.end(), width, kNaNf);
            if (model.target == Target::kLocal) set.stepMean.insert(set.stepMean.end(), set.horizon, kNaNf);
            set.mean.push_back(kNaNf);
            set.scale.push_back(kNaNf);
            set.point.push_back(static_cast<std::uint32_t>(row));
        }
    }
    return set;
}

PointSplit splitPoints(std::size_t points, double validationFraction, std::uint64_t seed) {
    PointSplit split;
    std::size_t nValidation = static_cast<std::size_t>(std::llround(validationFraction * static_cast<double>(points)));
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
