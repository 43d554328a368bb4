#include "hlstm/pipeline/evaluate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include "hlstm/core/comm.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm::pipeline {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One point's visible history as the baselines take it.
model::History historyOf(const model::SeriesView& view, std::size_t i) {
    if (view.time == nullptr) return {view.row(i), nullptr, view.epochs};
    return {view.row(i), view.time->steps.data(), view.epochs, view.time->phase.data(), view.time->spacingDays};
}

std::vector<double> ratesOf(const model::SeriesView& view, std::size_t i) { return model::rates(historyOf(view, i)); }

}  // namespace

Forecaster BaselineSet::forecaster(std::size_t b, int horizon) const {
    const model::BaselineKind kind = kinds.at(b);
    return [this, kind, horizon](const model::SeriesView& view) {
        std::vector<float> out(view.points * static_cast<std::size_t>(horizon), kNaN);
        if (kind == model::BaselineKind::kMlr) {
            for (std::size_t i = 0; i < view.points; ++i)
                model::forecastMlr(mlr, ratesOf(view, i), horizon, out.data() + i * static_cast<std::size_t>(horizon));
            return out;
        }
        // All the rows in one call: AR solves its fits 8 rows side by side (the same values).
        std::vector<model::History> histories(view.points);
        for (std::size_t i = 0; i < view.points; ++i) histories[i] = historyOf(view, i);
        model::forecastBaselines(kind, histories.data(), histories.size(), window, horizon, out.data());
        return out;
    };
}

CutForecaster BaselineSet::cutForecaster(std::size_t b, int horizon) const {
    const model::BaselineKind kind = kinds.at(b);
    return [this, kind, horizon](const model::SeriesView& view, const std::vector<std::size_t>& cuts) {
        const std::size_t perRow = cuts.size() * static_cast<std::size_t>(horizon);
        std::vector<float> out(view.points * perRow, kNaN);
        for (std::size_t i = 0; i < view.points; ++i)
            model::forecastAtCuts(kind, historyOf(view, i), cuts.data(), cuts.size(), window, horizon,
                                  kind == model::BaselineKind::kMlr ? &mlr : nullptr, out.data() + i * perRow);
        return out;
    };
}

namespace {
// Epochs after a cut that the out-of-time reference of the last step reaches.
std::size_t referenceReach(int horizon, int smoothing) {
    return static_cast<std::size_t>(smoothing + std::max(0, horizon - 1 - (smoothing - 1) / 2));
}
}  // namespace

std::size_t selectionCutStride(std::size_t visibleEpochs, int horizon, int smoothing, int selectionCuts,
                               int cutStride) {
    std::size_t s = static_cast<std::size_t>(std::max(1, cutStride));
    if (selectionCuts <= 1) return 1;
    const std::size_t reach = referenceReach(horizon, smoothing), gaps = static_cast<std::size_t>(selectionCuts) - 1;
    while (s > 1 && 2 * (reach + gaps * s) > visibleEpochs) --s;  // the candidates keep half the epochs
    return s;
}

std::size_t selectionTrainEpochs(std::size_t visibleEpochs, int horizon, int smoothing, int selectionCuts,
                                 int cutStride) {
    if (selectionCuts <= 0) return visibleEpochs;
    const std::size_t s = selectionCutStride(visibleEpochs, horizon, smoothing, selectionCuts, cutStride);
    const std::size_t held = referenceReach(horizon, smoothing) + (static_cast<std::size_t>(selectionCuts) - 1) * s;
    return visibleEpochs > held ? visibleEpochs - held : 0;
}

namespace {

// The first of the last n (at least 1) of `epochs` epochs: where the level's fits start.
std::size_t firstOfLast(std::size_t epochs, int n) {
    const auto k = static_cast<std::size_t>(std::max(n, 1));
    return epochs > k ? epochs - k : 0;
}

// The value at the last epoch of an OLS line through the finite values value(t), t among the last
// n of `epochs` (the last finite value with fewer than 3; NaN with none): localLevel's line.
template <class Value> double lineLevel(const double* steps, std::size_t epochs, int n, Value value) {
    if (epochs == 0) return std::nan("");
    const std::size_t from = firstOfLast(epochs, n);
    double k = 0, st = 0, sc = 0;
    double last = std::nan("");
    for (std::size_t t = from; t < epochs; ++t) {
        const double v = value(t);
        if (!std::isfinite(v)) continue;
        k += 1;
        st += steps[t];
        sc += v;
        last = v;
    }
    if (k < 3) return last;
    const double mt = st / k, mc = sc / k;
    double stt = 0, stc = 0;
    for (std::size_t t = from; t < epochs; ++t) {
        const double v = value(t);
        if (!std::isfinite(v)) continue;
        stt += (steps[t] - mt) * (steps[t] - mt);
        stc += (steps[t] - mt) * (v - mc);
    }
    const double slope = stt > 0 ? stc / stt : 0.0;
    return mc + slope * (steps[epochs - 1] - mt);
}

// The value at the last epoch of an OLS quadratic in (step - last step) through the finite values
// value(t), t among the last n of `epochs`; lineLevel with fewer than 4 of them.
template <class Value> double quadraticLevel(const double* steps, std::size_t epochs, int n, Value value) {
    if (epochs == 0) return std::nan("");
    const std::size_t from = firstOfLast(epochs, n);
    const double end = steps[epochs - 1];
    std::array<std::array<double, 5>, 4> a{};
    std::size_t k = 0;
    for (std::size_t t = from; t < epochs; ++t) {
        const double v = value(t);
        if (!std::isfinite(v)) continue;
        const double x = steps[t] - end;
        const double e[4] = {1.0, x, x * x, v};
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j) a[i][j] += e[i] * e[j];
            a[i][4] += e[i] * e[3];
        }
        ++k;
    }
    std::array<double, 4> beta{};
    if (k < 4 || !model::solveNormalEquations(a, 3, beta)) return lineLevel(steps, epochs, n, value);
    return beta[0];
}

}  // namespace

double localLevel(const float* c, const double* steps, std::size_t epochs, int n) {
    return lineLevel(steps, epochs, n, [c](std::size_t t) { return static_cast<double>(c[t]); });
}

double localLevel(const float* c, const model::TimeAxis& time, std::size_t epochs, LevelRule rule) {
    const double* steps = time.steps.data();
    const auto fitted = [&](auto value) {
        return rule.degree == 2 ? quadraticLevel(steps, epochs, rule.epochs, value)
                                : lineLevel(steps, epochs, rule.epochs, value);
    };
    const auto raw = [c](std::size_t t) { return static_cast<double>(c[t]); };
    if (!rule.season || epochs == 0 || time.phase.size() < epochs) return fitted(raw);
    const model::LocalAnnualFit fit = model::localAnnualFit({c, steps, epochs, time.phase.data(), time.spacingDays});
    if (!fit.valid) return fitted(raw);
    // sin and cos of the axis's phases, once per axis (per thread), not per point.
    // Refilled when the axis (its array, its length or its first and last phase) changes, as
    // model::localAnnualFit's cache.
    thread_local std::vector<double> phases, sinT, cosT;
    thread_local const double* cached = nullptr;
    if (cached != time.phase.data() || phases.size() != time.phase.size() || phases.front() != time.phase.front() ||
        phases.back() != time.phase.back()) {
        cached = time.phase.data();
        phases = time.phase;
        sinT.resize(phases.size());
        cosT.resize(phases.size());
        for (std::size_t t = 0; t < phases.size(); ++t) sinT[t] = std::sin(phases[t]), cosT[t] = std::cos(phases[t]);
    }
    // The fit's annual terms at epoch t, taken off the values and added back at the last epoch.
    const auto season = [&](std::size_t t) { return fit.beta[2] * sinT[t] + fit.beta[3] * cosT[t]; };
    return fitted([&](std::size_t t) { return static_cast<double>(c[t]) - season(t); }) + season(epochs - 1);
}

ValidationCut::ValidationCut(const model::SeriesView& visible, std::vector<std::size_t> rows, int horizon,
                             int smoothing, std::size_t trainEpochs, int selectionCuts, int cutStride,
                             const Comm* group)
    : data_(visible.cumulative),
      stride_(visible.stride != 0 ? visible.stride : visible.epochs),
      epochs_(visible.epochs),
      time_(visible.time),
      rows_(std::move(rows)),
      horizon_(horizon),
      smoothing_(smoothing),
      trainEpochs_(std::min(trainEpochs, visible.epochs)) {
    if (selectionCuts <= 0) {
        // In time: one cut leaving the last Y + lead epochs, judged against centred means of
        // observed rates (which reach back into the epochs the forecasts saw).
        const std::size_t lead = static_cast<std::size_t>(horizon + smoothing - 1 - (smoothing - 1) / 2);
        if (epochs_ > lead + 2) cuts_.push_back(epochs_ - lead);
    } else {
        // Out of time: each step's reference is the OLS slope of the observed positions at
        // `smoothing` epochs after the cut only (the window of step y starts at cut + max(0,
        // y - 1 - a)), so no epoch a forecast saw, and none a candidate trained on (cut >=
        // trainEpochs), is judged: noise the forecasts saw cannot be predicted into the score.
        future_ = true;
        const std::size_t reach = referenceReach(horizon, smoothing);
        const std::size_t last = epochs_ > reach + 2 ? epochs_ - reach : 0;
        const std::size_t stride = selectionCutStride(epochs_, horizon, smoothing, selectionCuts, cutStride);
        for (std::size_t c = last; c >= std::max<std::size_t>(trainEpochs_, 3) && c > 0 &&
                                   cuts_.size() < static_cast<std::size_t>(selectionCuts);
             c = c > stride ? c - stride : 0)
            cuts_.push_back(c);
    }
    total_ = rows_.size();
    if (group != nullptr && group->size() > 1) {
        group_ = group;
        const auto counts = group->allgather<std::uint64_t>(rows_.size());
        total_ = 0;
        for (std::size_t r = 0; r < counts.size(); ++r) {
            if (r == static_cast<std::size_t>(group->rank())) first_ = total_;
            total_ += counts[r];
        }
    }
    computeReferences();
}

std::vector<float> ValidationCut::allRows(const std::vector<float>& local) const {
    return group_ != nullptr ? group_->allgatherv(local) : local;
}

std::vector<float> ValidationCut::ownRows(std::vector<float> all) const {
    if (group_ == nullptr) return all;
    if (total_ == 0 || all.size() % total_ != 0) throw std::logic_error("ValidationCut::ownRows: not a table of rows");
    const std::size_t width = all.size() / total_;
    return {all.begin() + static_cast<std::ptrdiff_t>(first_ * width),
            all.begin() + static_cast<std::ptrdiff_t>((first_ + rows_.size()) * width)};
}

// Every validation row's reference at every cut and step, once (each score of the baselines, the
// candidates and the position choice computed them again): the same doubles addRow used before.
void ValidationCut::computeReferences() {
    const std::size_t Y = static_cast<std::size_t>(std::max(horizon_, 0));
    refs_.assign(cuts_.size() * rows_.size() * Y, 0.0);
    const int a = (smoothing_ - 1) / 2, b = smoothing_ - 1 - a;  // a: also the later steps' shift
    std::vector<float> r;
    for (std::size_t j = 0; j < rows_.size(); ++j) {
        const float* c = row(j);
        if (!future_) {
            const model::SeriesView one{c, 1, epochs_, time_, epochs_};
            r = model::seriesRates(one, 0);
        }
        for (std::size_t k = 0; k < cuts_.size(); ++k) {
            const std::size_t cut = cuts_[k];
            double* out = refs_.data() + (k * rows_.size() + j) * Y;
            for (int y = 1; y <= horizon_; ++y) {
                double ref = 0;
                if (future_) {
                    ref = futureSlope(c, cut + static_cast<std::size_t>(std::max(0, y - 1 - a)),
                                      static_cast<std::size_t>(smoothing_));
                } else {
                    // Rate index of forecast step y: the cut's last rate is cut - 2.
                    const std::size_t i0 = cut - 2 + static_cast<std::size_t>(y);
                    for (std::size_t i = i0 - static_cast<std::size_t>(a); i <= i0 + static_cast<std::size_t>(b); ++i)
                        ref += r[i];
                    ref /= smoothing_;
                }
                out[y - 1] = ref;
            }
        }
    }
    if (group_ == nullptr) return;
    // Sliced: every rank's references, cut by cut (cuts x all rows x Y).
    std::vector<double> all;
    all.reserve(cuts_.size() * total_ * Y);
    for (std::size_t k = 0; k < cuts_.size(); ++k) {
        const auto from = refs_.begin() + static_cast<std::ptrdiff_t>(k * rows_.size() * Y);
        const std::vector<double> got =
            group_->allgatherv(std::vector<double>(from, from + static_cast<std::ptrdiff_t>(rows_.size() * Y)));
        if (got.size() != total_ * Y) throw std::logic_error("ValidationCut: the group's references do not add up");
        all.insert(all.end(), got.begin(), got.end());
    }
    refs_ = std::move(all);
}

namespace {

// The least-squares line through the finite positions c[lo, lo + count) (clipped to `epochs`):
// k points, their time and value means, and the centred sums of squares and products. One fit for
// futureSlope and futureValue, in the order both summed before.
struct FutureLine {
    double k = 0, st = 0, sc = 0, stt = 0, stc = 0;
};

FutureLine fitFutureLine(const double* steps, std::size_t epochs, const float* c, std::size_t lo, std::size_t count) {
    FutureLine f;
    for (std::size_t t = lo; t < lo + count && t < epochs; ++t)
        if (std::isfinite(c[t])) {
            f.k += 1;
            f.st += steps[t];
            f.sc += c[t];
        }
    if (f.k < 2) return f;
    for (std::size_t t = lo; t < lo + count && t < epochs; ++t)
        if (std::isfinite(c[t])) {
            f.stt += (steps[t] - f.st / f.k) * (steps[t] - f.st / f.k);
            f.stc += (steps[t] - f.st / f.k) * (c[t] - f.sc / f.k);
        }
    return f;
}

}  // namespace

double ValidationCut::futureSlope(const float* c, std::size_t lo, std::size_t count) const {
    const FutureLine f = fitFutureLine(time_->steps.data(), epochs_, c, lo, count);
    if (f.k < 2) return std::nan("");
    return f.stt > 0 ? f.stc / f.stt : std::nan("");
}

double ValidationCut::futureValue(const float* c, std::size_t lo, std::size_t count, std::size_t at) const {
    if (count <= 1) return at < epochs_ ? c[at] : std::nan("");
    const double* steps = time_->steps.data();
    const FutureLine f = fitFutureLine(steps, epochs_, c, lo, count);
    if (f.k < 2) return std::nan("");
    const double slope = f.stt > 0 ? f.stc / f.stt : 0.0;
    return f.sc / f.k + slope * (steps[at] - f.st / f.k);
}

double ValidationCut::score(const Forecaster& method) const {
    std::vector<double> sum;
    std::vector<std::uint64_t> n;
    double total = 0;
    std::uint64_t count = 0;
    judge(method, sum, n, total, count);
    return count > 0 ? total / static_cast<double>(count) : std::nan("");
}

std::vector<double> ValidationCut::stepScores(const Forecaster& method) const {
    std::vector<double> sum;
    std::vector<std::uint64_t> n;
    double total = 0;
    std::uint64_t count = 0;
    judge(method, sum, n, total, count);
    for (std::size_t y = 0; y < sum.size(); ++y) sum[y] = n[y] > 0 ? sum[y] / static_cast<double>(n[y]) : std::nan("");
    return sum;
}

// The validation rows are forecast a chunk at a time (a copy of the chunk's epochs before the cut),
// not gathered whole: the held rows are not held twice. Every forecaster gives a row the same values
// whatever rows share its call, and the sum runs in the same order (cut, then row), so the score does
// not depend on the chunk size.
namespace {
constexpr std::size_t kChunkRows = 16384;
}  // namespace

void ValidationCut::judge(const Forecaster& method, std::vector<double>& stepSum, std::vector<std::uint64_t>& stepN,
                          double& sum, std::uint64_t& n) const {
    stepSum.assign(static_cast<std::size_t>(horizon_), 0.0);
    stepN.assign(static_cast<std::size_t>(horizon_), 0);
    if (cuts_.empty() || total_ == 0) return;
    std::vector<float> chunk;
    if (group_ != nullptr) {  // sliced: this rank's rows per cut, then every row's errors in order
        const auto Y = static_cast<std::size_t>(horizon_);
        for (std::size_t k = 0; k < cuts_.size(); ++k) {
            const std::size_t cut = cuts_[k];
            std::vector<float> mine(rows_.size() * Y);
            for (std::size_t first = 0; first < rows_.size(); first += kChunkRows) {
                const std::size_t count = std::min(kChunkRows, rows_.size() - first);
                chunk.resize(count * cut);
                for (std::size_t j = 0; j < count; ++j) std::copy_n(row(first + j), cut, chunk.data() + j * cut);
                const std::vector<float> pred = method({chunk.data(), count, cut, time_, cut});
                std::copy_n(pred.data(), count * Y, mine.data() + first * Y);
            }
            const std::vector<float> pred = group_->allgatherv(mine);
            for (std::size_t j = 0; j < total_; ++j) addRow(k, j, pred.data() + j * Y, stepSum, stepN, sum, n);
        }
        return;
    }
    for (std::size_t k = 0; k < cuts_.size(); ++k) {
        const std::size_t cut = cuts_[k];
        for (std::size_t first = 0; first < rows_.size(); first += kChunkRows) {
            const std::size_t count = std::min(kChunkRows, rows_.size() - first);
            chunk.resize(count * cut);
            for (std::size_t j = 0; j < count; ++j) std::copy_n(row(first + j), cut, chunk.data() + j * cut);
            const model::SeriesView view{chunk.data(), count, cut, time_, cut};
            const std::vector<float> pred = method(view);
            for (std::size_t j = 0; j < count; ++j)
                addRow(k, first + j, pred.data() + j * static_cast<std::size_t>(horizon_), stepSum, stepN, sum, n);
        }
    }
}

double ValidationCut::scoreAtCuts(const CutForecaster& method) const {
    return scoreOfRates(ratesAtCutsInOnePass(method));
}

std::vector<float> ValidationCut::ratesAtCutsInOnePass(const CutForecaster& method, std::size_t width, bool all) const {
    const std::size_t C = cuts_.size(), Y = width > 0 ? width : static_cast<std::size_t>(horizon_);
    std::vector<float> pred(rows_.size() * C * Y);
    if (cuts_.empty() || total_ == 0) return pred;
    // Each chunk's rows are forecast at every cut in one call.
    const std::size_t longest = *std::max_element(cuts_.begin(), cuts_.end());
    std::vector<float> chunk;
    for (std::size_t first = 0; first < rows_.size(); first += kChunkRows) {
        const std::size_t count = std::min(kChunkRows, rows_.size() - first);
        chunk.resize(count * longest);
        for (std::size_t j = 0; j < count; ++j) std::copy_n(row(first + j), longest, chunk.data() + j * longest);
        const std::vector<float> got = method({chunk.data(), count, longest, time_, longest}, cuts_);
        std::copy(got.begin(), got.end(), pred.begin() + static_cast<std::ptrdiff_t>(first * C * Y));
    }
    return all ? allRows(pred) : pred;
}

std::vector<float> ValidationCut::ratesAtCuts(const Forecaster& method, bool all) const {
    const std::size_t C = cuts_.size(), Y = static_cast<std::size_t>(horizon_);
    std::vector<float> pred(rows_.size() * C * Y);
    // judge's calls: cut by cut, a chunk of rows at a time, each with the cut's epochs only.
    std::vector<float> chunk;
    for (std::size_t c = 0; c < C; ++c) {
        const std::size_t cut = cuts_[c];
        for (std::size_t first = 0; first < rows_.size(); first += kChunkRows) {
            const std::size_t count = std::min(kChunkRows, rows_.size() - first);
            chunk.resize(count * cut);
            for (std::size_t j = 0; j < count; ++j) std::copy_n(row(first + j), cut, chunk.data() + j * cut);
            const std::vector<float> got = method({chunk.data(), count, cut, time_, cut});
            for (std::size_t j = 0; j < count; ++j)
                std::copy_n(got.data() + j * Y, Y, pred.data() + ((first + j) * C + c) * Y);
        }
    }
    return all ? allRows(pred) : pred;
}

double ValidationCut::scoreOfRates(const std::vector<float>& pred) const {
    std::vector<double> stepSum(static_cast<std::size_t>(horizon_), 0.0);
    std::vector<std::uint64_t> stepN(static_cast<std::size_t>(horizon_), 0);
    double sum = 0;
    std::uint64_t n = 0;
    // The errors in judge's order (cut, then row): the score is score()'s bit for bit.
    const std::size_t C = cuts_.size(), Y = static_cast<std::size_t>(horizon_);
    if (pred.size() == total_ * C * Y)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t j = 0; j < total_; ++j)
                addRow(c, j, pred.data() + (j * C + c) * Y, stepSum, stepN, sum, n);
    return n > 0 ? sum / static_cast<double>(n) : std::nan("");
}

CutScores ValidationCut::cutScoresOfRates(const std::vector<float>& pred) const {
    CutScores out;
    out.fill(std::numeric_limits<float>::quiet_NaN());
    const std::size_t C = std::min(cuts_.size(), kMaxCutScores), Y = static_cast<std::size_t>(horizon_);
    if (pred.size() != total_ * cuts_.size() * Y) return out;
    for (std::size_t c = 0; c < C; ++c) {
        std::vector<double> stepSum(Y, 0.0);
        std::vector<std::uint64_t> stepN(Y, 0);
        double sum = 0;
        std::uint64_t n = 0;
        for (std::size_t j = 0; j < total_; ++j)
            addRow(c, j, pred.data() + (j * cuts_.size() + c) * Y, stepSum, stepN, sum, n);
        if (n > 0) out[c] = static_cast<float>(sum / static_cast<double>(n));
    }
    return out;
}

bool significantlyBetter(const double* challenger, const double* incumbent, std::size_t n, std::size_t stride,
                         double t) {
    // The differences at the cuts where both are finite, in cut order.
    std::vector<double> d;
    for (std::size_t c = 0; c < n; ++c) {
        const double x = challenger[c * stride] - incumbent[c * stride];
        if (std::isfinite(x)) d.push_back(x);
    }
    if (d.empty()) return false;
    const auto m = static_cast<double>(d.size());
    double mean = 0;
    for (const double x : d) mean += x;
    mean /= m;
    if (d.size() < 2) return mean < 0;
    double var = 0, lag = 0;
    for (std::size_t c = 0; c < d.size(); ++c) {
        var += (d[c] - mean) * (d[c] - mean);
        if (c > 0) lag += (d[c] - mean) * (d[c - 1] - mean);
    }
    // Successive cuts are not independent: their references share epochs (a centred mean of
    // `smoothing` rates) and so each epoch's atmosphere, and a method's seasonal error changes
    // slowly. The variance of the mean is inflated as for an AR(1) series, (1 + rho) / (1 - rho)
    // with rho the lag-1 autocorrelation of the differences (at most 0.9: 19x).
    const double rho = var > 0 ? std::clamp(lag / var, 0.0, 0.9) : 0.0;
    var /= m - 1;
    return mean < -t * std::sqrt(var / m * (1 + rho) / (1 - rho));
}

bool significantlyBetter(const CutScores& challenger, const CutScores& incumbent, double t) {
    std::array<double, kMaxCutScores> a{}, b{};
    for (std::size_t c = 0; c < kMaxCutScores; ++c) a[c] = challenger[c], b[c] = incumbent[c];
    return significantlyBetter(a.data(), b.data(), kMaxCutScores, 1, t);
}

void ValidationCut::addRow(std::size_t k, std::size_t j, const float* pred, std::vector<double>& stepSum,
                           std::vector<std::uint64_t>& stepN, double& sum, std::uint64_t& n) const {
    const double* refs = refs_.data() + (k * total_ + j) * static_cast<std::size_t>(horizon_);
    for (int y = 1; y <= horizon_; ++y) {
        const double ref = refs[y - 1];
        const float p = pred[y - 1];
        if (!std::isfinite(p) || !std::isfinite(ref)) continue;
        const double e = std::abs(p - ref);
        sum += e;  // in the order above, as before the per-step sums existed
        ++n;
        stepSum[static_cast<std::size_t>(y - 1)] += e;
        ++stepN[static_cast<std::size_t>(y - 1)];
    }
}

std::vector<float> ValidationCut::intervalSubset(std::size_t& take, std::vector<std::size_t>& global) const {
    // An evenly spaced subset of at most kIntervalPoints validation points: cuts x 2000
    // residuals per step pin a 90 % quantile well, and forecasting every validation point at
    // every cut was the slowest serial part of a large run.
    constexpr std::size_t kIntervalPoints = 2000;
    take = std::min(total_, kIntervalPoints);
    std::vector<float> subset;
    global.clear();
    for (std::size_t j = 0; j < take; ++j) {
        const std::size_t g = j * total_ / take;
        if (g < first_ || g >= first_ + rows_.size()) continue;  // another rank's (sliced)
        const float* c = row(g - first_);
        subset.insert(subset.end(), c, c + epochs_);
        global.push_back(g);
    }
    return subset;
}

void ValidationCut::gatherResiduals(std::vector<std::vector<float>>& residuals) const {
    if (group_ == nullptr) return;
    for (auto& r : residuals) r = group_->allgatherv(r);
}

std::size_t ValidationCut::intervalCut(int c) const {
    // Cut at epochs_ - Y - c: the Y epochs after it are observed; the epoch before it (the
    // anchor) and everything judged lie after the training epochs.
    const std::size_t Y = static_cast<std::size_t>(horizon_);
    if (epochs_ < Y + static_cast<std::size_t>(c) + 3) return 0;
    const std::size_t cut = epochs_ - Y - static_cast<std::size_t>(c);
    if (trainEpochs_ < epochs_ && cut < trainEpochs_ + 1) return 0;
    return cut;
}

std::vector<float> ValidationCut::intervalHalfWidths(const Forecaster& method, double level, int cuts,
                                                     LevelRule levelRule) const {
    if (!(level > 0) || total_ == 0) return {};
    const std::size_t Y = static_cast<std::size_t>(horizon_);
    std::size_t take = 0;
    std::vector<std::size_t> global;
    const std::vector<float> subset = intervalSubset(take, global);
    take = global.size();  // this rank's rows of the subset
    std::vector<std::vector<float>> residuals(Y);
    for (int c = 0; c < cuts; ++c) {
        const std::size_t cut = intervalCut(c);
        if (cut == 0) break;
        const model::SeriesView view{subset.data(), take, cut, time_, epochs_};
        const std::vector<float> pred = take > 0 ? method(view) : std::vector<float>();
        std::vector<float> diff;
        ratesToDifferentials(pred, horizon_, *time_, cut - 1, diff);
        for (std::size_t i = 0; i < take; ++i) {
            const float* c0 = subset.data() + i * epochs_;
            const double anchor =
                levelRule.epochs > 0 ? localLevel(c0, *time_, cut, levelRule) : static_cast<double>(c0[cut - 1]);
            double cum = anchor;
            for (std::size_t y = 0; y < Y; ++y) {
                cum += diff[i * Y + y];
                const double e = std::abs(cum - static_cast<double>(c0[cut + y]));
                if (std::isfinite(e)) residuals[y].push_back(static_cast<float>(e));
            }
        }
    }
    gatherResiduals(residuals);
    std::vector<float> half(Y, kNaN);
    for (std::size_t y = 0; y < Y; ++y) half[y] = conformalQuantile(std::move(residuals[y]), level);
    return half;
}

std::vector<double> ValidationCut::positionStepScores(const std::vector<PositionForecaster>& methods) const {
    return positionStepScores(methods, {}, {});
}

std::vector<double> ValidationCut::positionStepScores(const std::vector<PositionForecaster>& methods,
                                                      const std::vector<const std::vector<float>*>& known,
                                                      const RatesToPositions& onLevel, std::vector<double>* perCut,
                                                      const Comm* group) const {
    const std::size_t Y = static_cast<std::size_t>(horizon_), M = methods.size(), C = cuts_.size();
    // Sliced: each rank scores its own rows and the group gathers a cut's errors (below).
    if ((group != nullptr && group->size() == 1) || group_ != nullptr) group = nullptr;
    const auto R = static_cast<std::size_t>(group != nullptr ? group->size() : 1),
               q = static_cast<std::size_t>(group != nullptr ? group->rank() : 0);
    std::vector<double> sum(M * Y, 0.0);
    std::vector<std::uint64_t> n(M * Y, 0);
    std::vector<double> cutSum(M * C * Y, 0.0);  // the same sums per cut (perCut)
    std::vector<std::uint64_t> cutN(M * C * Y, 0);
    // As judge(): a chunk of validation rows at a time, cut by cut, in the same order for every
    // method, so the scores do not depend on the chunk size.
    constexpr std::size_t kChunkRows = 16384;
    std::vector<float> chunk, rates;
    std::vector<double> ref, errors, gathered;
    std::vector<std::size_t> counts(R);
    std::vector<double> cutErrors;  // sliced: this rank's rows' errors at one cut
    // Summed per method and step in row order, as one rank alone adds them.
    const auto add = [&](const std::vector<double>& all, std::size_t c, std::size_t rows) {
        for (std::size_t k = 0; k < M; ++k)
            for (std::size_t j = 0; j < rows; ++j)
                for (std::size_t y = 0; y < Y; ++y) {
                    const double e = all[(j * M + k) * Y + y];
                    if (std::isnan(e)) continue;
                    sum[k * Y + y] += e;
                    ++n[k * Y + y];
                    cutSum[(k * C + c) * Y + y] += e;
                    ++cutN[(k * C + c) * Y + y];
                }
    };
    for (std::size_t c = 0; c < C; ++c) {
        const std::size_t cut = cuts_[c];
        if (cut + Y > epochs_) continue;  // step Y's epoch must be visible
        cutErrors.clear();
        for (std::size_t first = 0; first < rows_.size(); first += kChunkRows) {
            const std::size_t count = std::min(kChunkRows, rows_.size() - first);
            // This rank's rows of the block: all, or its slice of a group's.
            const auto [a, end] = shareOf(count, q, R);
            const std::size_t own = end - a;
            chunk.resize(own * cut);
            for (std::size_t j = 0; j < own; ++j) std::copy_n(row(first + a + j), cut, chunk.data() + j * cut);
            const model::SeriesView view{chunk.data(), own, cut, time_, cut};
            // Each step's reference: the observed position at its epoch e = cut + y, smoothed as the
            // score's rates are: the value at e of the OLS line through the observed positions of
            // `smoothing` epochs from max(cut, e - (smoothing - 1) / 2) on (after the cut only), so
            // one epoch's shared atmosphere weighs less in the judge.
            ref.assign(own * Y, std::nan(""));
            for (std::size_t j = 0; j < own; ++j)
                for (std::size_t y = 0; y < Y; ++y) {
                    const std::size_t e = cut + y, h = static_cast<std::size_t>((smoothing_ - 1) / 2);
                    ref[j * Y + y] = futureValue(row(first + a + j), std::max(cut, e >= h ? e - h : 0),
                                                 static_cast<std::size_t>(smoothing_), e);
                }
            // |position - reference| per (row, method, step), NaN where either is not finite.
            errors.assign(own * M * Y, std::nan(""));
            for (std::size_t k = 0; k < M && own > 0; ++k) {
                const std::vector<float>* got = k < known.size() ? known[k] : nullptr;
                if (got != nullptr) {  // this block's rates at this cut (ratesAtCuts' layout)
                    rates.resize(own * Y);
                    for (std::size_t j = 0; j < own; ++j)
                        std::copy_n(got->data() + ((first + a + j) * C + c) * Y, Y, rates.data() + j * Y);
                }
                const std::vector<float> pos = got != nullptr ? onLevel(k, view, rates) : methods[k](view);
                for (std::size_t j = 0; j < own; ++j)
                    for (std::size_t y = 0; y < Y; ++y) {
                        const float p = pos[j * Y + y];
                        const double o = ref[j * Y + y];
                        if (std::isfinite(p) && std::isfinite(o))
                            errors[(j * M + k) * Y + y] = std::abs(static_cast<double>(p) - o);
                    }
            }
            if (group_ != nullptr) {
                cutErrors.insert(cutErrors.end(), errors.begin(), errors.end());
                continue;
            }
            const std::vector<double>* all = &errors;
            if (group != nullptr) {
                for (std::size_t r = 0; r < R; ++r) {
                    const auto [from, to] = shareOf(count, r, R);
                    counts[r] = (to - from) * M * Y;
                }
                gathered = group->allgatherv(errors, counts);  // rank order: the block's rows in order
                all = &gathered;
            }
            add(*all, c, count);
        }
        if (group_ != nullptr) {  // every rank's rows of this cut, in order
            gathered = group_->allgatherv(cutErrors);
            if (gathered.size() != total_ * M * Y)
                throw std::logic_error("positionStepScores: the group's errors do not add up");
            add(gathered, c, total_);
        }
    }
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = n[i] > 0 ? sum[i] / static_cast<double>(n[i]) : std::nan("");
    if (perCut != nullptr) {
        perCut->assign(M * C * Y, std::nan(""));
        for (std::size_t i = 0; i < cutSum.size(); ++i)
            if (cutN[i] > 0) (*perCut)[i] = cutSum[i] / static_cast<double>(cutN[i]);
    }
    return sum;
}

std::vector<float> ValidationCut::positionHalfWidths(const PositionForecaster& method, double level, int cuts) const {
    return positionHalfWidths(method, level, cuts, nullptr, {});
}

std::vector<float> ValidationCut::positionHalfWidths(const PositionForecaster& method, double level, int cuts,
                                                     const std::vector<float>* known,
                                                     const RatesToPositions& onLevel) const {
    if (!(level > 0) || total_ == 0) return {};
    const std::size_t Y = static_cast<std::size_t>(horizon_), C = cuts_.size();
    if (known != nullptr && (known->size() != rows_.size() * C * Y || !onLevel)) known = nullptr;  // this rank's rows
    // The same subset of validation points and the same cuts as intervalHalfWidths.
    std::size_t take = 0;
    std::vector<std::size_t> global;
    const std::vector<float> subset = intervalSubset(take, global);
    take = global.size();  // this rank's rows of the subset
    std::vector<std::vector<float>> residuals(Y);
    std::vector<float> rates;
    for (int c = 0; c < cuts; ++c) {
        const std::size_t cut = intervalCut(c);
        if (cut == 0) break;
        const model::SeriesView view{subset.data(), take, cut, time_, epochs_};
        // A forecast's rates depend only on its row's epochs before the cut (not on the rows
        // beside it), so the score's rates of subset row i (validation row i * rows / take) at
        // the same cut are the ones method would forecast.
        const auto at = std::find(cuts_.begin(), cuts_.end(), cut);
        std::vector<float> pos;
        if (take == 0) {
            // nothing of the subset on this rank (sliced)
        } else if (known != nullptr && at != cuts_.end()) {
            const auto ci = static_cast<std::size_t>(at - cuts_.begin());
            rates.resize(take * Y);
            for (std::size_t i = 0; i < take; ++i)
                std::copy_n(known->data() + ((global[i] - first_) * C + ci) * Y, Y, rates.data() + i * Y);
            pos = onLevel(0, view, rates);
        } else {
            pos = method(view);
        }
        for (std::size_t i = 0; i < take; ++i)
            for (std::size_t y = 0; y < Y; ++y) {
                const double e =
                    std::abs(static_cast<double>(pos[i * Y + y]) - static_cast<double>(subset[i * epochs_ + cut + y]));
                if (std::isfinite(e)) residuals[y].push_back(static_cast<float>(e));
            }
    }
    gatherResiduals(residuals);
    std::vector<float> half(Y, kNaN);
    for (std::size_t y = 0; y < Y; ++y) half[y] = conformalQuantile(std::move(residuals[y]), level);
    return half;
}

void ratesToDifferentials(const std::vector<float>& rates, int horizon, const model::TimeAxis& time,
                          std::size_t lastEpoch, std::vector<float>& out) {
    const std::size_t Y = static_cast<std::size_t>(horizon);
    out.assign(rates.size(), kNaN);
    for (std::size_t k = 0; k < rates.size(); ++k) {
        const std::size_t t = lastEpoch + 1 + k % Y;  // the forecast step's epoch
        const double gap = t < time.steps.size() ? time.steps[t] - time.steps[t - 1] : 1.0;
        out[k] = static_cast<float>(static_cast<double>(rates[k]) * gap);
    }
}

float conformalQuantile(std::vector<float> residuals, double level) {
    if (residuals.empty()) return kNaN;
    const std::size_t n = residuals.size();
    std::size_t k = static_cast<std::size_t>(std::ceil(static_cast<double>(n + 1) * level));
    k = std::clamp<std::size_t>(k, 1, n);
    std::nth_element(residuals.begin(), residuals.begin() + static_cast<std::ptrdiff_t>(k - 1), residuals.end());
    return residuals[k - 1];
}

BaselineRequest baselinesFromConfig(const std::string& text) {
    BaselineRequest request;
    if (text == "default" || text == "all" || text.empty()) {
        request.kinds = model::allBaselines();
        request.globalLstm = request.rnn = text == "all";
        return request;
    }
    auto& kinds = request.kinds;
    std::stringstream in(text);
    std::string name;
    while (std::getline(in, name, ',')) {
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (name.empty()) continue;
        if (name == "global_lstm" || name == "rnn") {
            (name == "rnn" ? request.rnn : request.globalLstm) = true;
            continue;
        }
        const model::BaselineKind kind = model::baselineFromString(name);
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
    }
    // Persistence is always reported: it is the /metrics yardstick of earlier versions.
    if (std::find(kinds.begin(), kinds.end(), model::BaselineKind::kPersistence) == kinds.end())
        kinds.insert(kinds.begin(), model::BaselineKind::kPersistence);
    return request;
}

}  // namespace hlstm::pipeline
