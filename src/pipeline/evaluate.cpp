#include "hlstm/pipeline/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "hlstm/core/error.hpp"

namespace hlstm::pipeline {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One point's visible history as the baselines take it.
model::History historyOf(const model::SeriesView& view, std::size_t i) {
    return {view.row(i), view.time != nullptr ? view.time->steps.data() : nullptr, view.epochs};
}

std::vector<double> ratesOf(const model::SeriesView& view, std::size_t i) {
    return model::rates(historyOf(view, i));
}

}  // namespace

Forecaster BaselineSet::forecaster(std::size_t b, int horizon) const {
    const model::BaselineKind kind = kinds.at(b);
    return [this, kind, horizon](const model::SeriesView& view) {
        std::vector<float> out(view.points * static_cast<std::size_t>(horizon), kNaN);
        for (std::size_t i = 0; i < view.points; ++i) {
            float* o = out.data() + i * static_cast<std::size_t>(horizon);
            if (kind == model::BaselineKind::kMlr) {
                model::forecastMlr(mlr, ratesOf(view, i), horizon, o);
            } else {
                model::forecastBaseline(kind, historyOf(view, i), window, horizon, o);
            }
        }
        return out;
    };
}

ValidationCut::ValidationCut(const model::SeriesView& visible, std::vector<std::size_t> rows, int horizon,
                             int smoothing)
    : epochs_(visible.epochs), time_(visible.time), rows_(std::move(rows)), horizon_(horizon), smoothing_(smoothing) {
    const std::size_t lead = static_cast<std::size_t>(horizon + smoothing - 1 - (smoothing - 1) / 2);
    cut_ = epochs_ > lead + 2 ? epochs_ - lead : 0;
    block_.reserve(rows_.size() * epochs_);
    for (std::size_t r : rows_) block_.insert(block_.end(), visible.row(r), visible.row(r) + epochs_);
}

double ValidationCut::score(const Forecaster& method) const {
    if (cut_ == 0 || rows_.empty()) return std::nan("");
    const model::SeriesView view{block_.data(), rows_.size(), cut_, time_, epochs_};
    const std::vector<float> pred = method(view);
    const model::SeriesView whole{block_.data(), rows_.size(), epochs_, time_, epochs_};
    const int a = (smoothing_ - 1) / 2, b = smoothing_ - 1 - a;
    double sum = 0;
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < rows_.size(); ++i) {
        const std::vector<float> r = model::seriesRates(whole, i);
        for (int y = 1; y <= horizon_; ++y) {
            // Rate index of forecast step y: the cut's last rate is cut_ - 2.
            const std::size_t k = cut_ - 2 + static_cast<std::size_t>(y);
            double ref = 0;
            for (std::size_t j = k - static_cast<std::size_t>(a); j <= k + static_cast<std::size_t>(b); ++j) ref += r[j];
            ref /= smoothing_;
            const float p = pred[i * static_cast<std::size_t>(horizon_) + static_cast<std::size_t>(y - 1)];
            if (!std::isfinite(p) || !std::isfinite(ref)) continue;
            sum += std::abs(p - ref);
            ++n;
        }
    }
    return n > 0 ? sum / static_cast<double>(n) : std::nan("");
}

std::vector<float> ValidationCut::intervalHalfWidths(const Forecaster& method, double level, int cuts) const {
    if (!(level > 0) || rows_.empty()) return {};
    const std::size_t Y = static_cast<std::size_t>(horizon_);
    // An evenly spaced subset of at most kIntervalPoints validation points: cuts x 2000
    // residuals per step pin a 90 % quantile well, and forecasting every validation point at
    // every cut was the slowest serial part of a large run.
    constexpr std::size_t kIntervalPoints = 2000;
    const std::size_t take = std::min(rows_.size(), kIntervalPoints);
    std::vector<float> subset;
    subset.reserve(take * epochs_);
    for (std::size_t j = 0; j < take; ++j) {
        const float* row = block_.data() + (j * rows_.size() / take) * epochs_;
        subset.insert(subset.end(), row, row + epochs_);
    }
    std::vector<std::vector<float>> residuals(Y);
    for (int c = 0; c < cuts; ++c) {
        // Cut at epochs_ - Y - c: the Y epochs after it are observed.
        if (epochs_ < Y + static_cast<std::size_t>(c) + 3) break;
        const std::size_t cut = epochs_ - Y - static_cast<std::size_t>(c);
        const model::SeriesView view{subset.data(), take, cut, time_, epochs_};
        const std::vector<float> pred = method(view);
        std::vector<float> diff;
        ratesToDifferentials(pred, horizon_, *time_, cut - 1, diff);
        for (std::size_t i = 0; i < take; ++i) {
            const float* c0 = subset.data() + i * epochs_;
            double cum = 0;
            for (std::size_t y = 0; y < Y; ++y) {
                cum += diff[i * Y + y];
                const double observed = static_cast<double>(c0[cut + y]) - c0[cut - 1];
                const double e = std::abs(cum - observed);
                if (std::isfinite(e)) residuals[y].push_back(static_cast<float>(e));
            }
        }
    }
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
