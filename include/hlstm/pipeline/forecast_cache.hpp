/// Forecasts already made of a subregion's validation views, so that the stages that judge the
/// same method on the same cuts (an update's fine-tuned model in src/pipeline/finetune_stage.cpp,
/// the mixes of src/pipeline/combine_stage.cpp) forecast each view once. Rank-local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hlstm/pipeline/evaluate.hpp"

namespace hlstm::pipeline {

/// One subregion's forecasts by method and view. A view is recognised by its exact content
/// (dimensions, time axis and every value), never by where it lives: ValidationCut reuses one
/// buffer for different rows, and a stage may refill gaps in place. A forecast is a pure
/// function of its method and view, so a hit returns what the call would return, bit for bit.
/// Holds at most `capacity` floats of views, and all caches of the process together at most
/// kProcessCapacity (past either, forecasts are made and not kept). Not thread-safe.
class ForecastCache {
public:
    explicit ForecastCache(std::size_t capacity = kProcessCapacity) : capacity_(capacity) {}
    ~ForecastCache() { clear(); }
    ForecastCache(const ForecastCache&) = delete;
    ForecastCache& operator=(const ForecastCache&) = delete;
    /// Forgets every view and forecast (their memory returns to the process's budget).
    void clear();
    /// `method`'s forecast of `v`, made by `f` the first time (`method` names one forecaster of
    /// this subregion for the whole run: the same name must always mean the same forecasts).
    std::vector<float> get(const std::string& method, const model::SeriesView& v, const Forecaster& f);
    /// Calls made and calls answered from the cache (tests).
    [[nodiscard]] std::size_t calls() const noexcept { return calls_; }
    [[nodiscard]] std::size_t hits() const noexcept { return hits_; }

    /// 16 M floats (64 MiB) of views per process: the 30,000-point scene's validation views
    /// take ~3 M per rank; a national run's stop being kept past it.
    static constexpr std::size_t kProcessCapacity = std::size_t{1} << 24;

private:
    struct View {
        std::size_t points = 0, epochs = 0;
        const model::TimeAxis* time = nullptr;
        std::vector<float> values;  // points x epochs
    };
    // Index of v among views_ (added when new and there is room), or -1.
    long find(const model::SeriesView& v);
    std::vector<View> views_;
    std::size_t stored_ = 0, capacity_ = 0, calls_ = 0, hits_ = 0;
    std::map<std::pair<std::string, std::size_t>, std::vector<float>> forecasts_;
};

/// The cache's names of a grid candidate's (or fine-tuned) model, by task index, and of a
/// per-point baseline, by its index in the BaselineSet.
std::string taskMethod(std::int32_t task);
std::string baselineMethod(std::size_t baseline);

/// `f` answered through `cache` under the name `method` (f itself when cache is null).
Forecaster cachedForecaster(const std::shared_ptr<ForecastCache>& cache, std::string method, Forecaster f);

}  // namespace hlstm::pipeline
