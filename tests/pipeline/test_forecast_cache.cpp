// Issue 19: the forecasts an update (and a run's combination and position choice) make at a
// subregion's validation cuts are kept and reused (forecast_cache.hpp). The cached scores must be
// the recomputed ones bit for bit, including when the cut's chunk buffer is reused for other rows
// (the bug of an earlier cache, keyed by the buffer's address: 06f38d2).
// The intervals reuse the selection's rates at the cuts they share with it (forecast_stage.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "hlstm/core/comm.hpp"
#include "hlstm/pipeline/forecast_cache.hpp"
#include "hlstm/pipeline/position_choice.hpp"

using namespace hlstm;
using namespace hlstm::pipeline;

namespace {

// Two chunks of ValidationCut's 16,384 rows at every cut: the second reuses the first's buffer
// with the same dimensions and other values.
constexpr std::size_t kPoints = 2 * 16384, kEpochs = 36;
constexpr int kY = 2;

struct Scene {
    model::TimeAxis axis = model::TimeAxis::regular(kEpochs);
    std::vector<float> c = std::vector<float>(kPoints * kEpochs);
    std::vector<std::size_t> rows = std::vector<std::size_t>(kPoints);
    Scene() {
        // Every point its own rate, seasonal term and a deterministic jitter (no two rows alike).
        for (std::size_t i = 0; i < kPoints; ++i) {
            rows[i] = i;
            const double rate = -1.0 + 2.0 * static_cast<double>(i % 997) / 997.0;
            for (std::size_t t = 0; t < kEpochs; ++t)
                c[i * kEpochs + t] =
                    static_cast<float>(rate * static_cast<double>(t) + std::sin(0.5 * static_cast<double>(t + i % 13)) +
                                       0.3 * static_cast<double>((i * 7919 + t * 104729) % 17) / 17.0);
        }
    }
    [[nodiscard]] model::SeriesView view() const { return {c.data(), kPoints, kEpochs, &axis, kEpochs}; }
};

// A "model": the mean of the last 3 differentials plus a step term; counts its calls.
Forecaster counted(std::shared_ptr<int> calls) {
    return [calls](const model::SeriesView& v) {
        ++*calls;
        std::vector<float> out(v.points * kY);
        for (std::size_t i = 0; i < v.points; ++i) {
            const float* r = v.row(i);
            const float rate = (r[v.epochs - 1] - r[v.epochs - 4]) / 3.0f;
            for (std::size_t y = 0; y < static_cast<std::size_t>(kY); ++y)
                out[i * kY + y] = rate + 0.01f * static_cast<float>(y);
        }
        return out;
    };
}

}  // namespace

TEST(ForecastCache, CachedScoresAreTheRecomputedOnesAndEachViewIsForecastOnce) {
    const Scene s;
    // A run's out-of-time cuts: 5 epochs smoothing, 4 cuts after 24 training epochs.
    const ValidationCut cut(s.view(), s.rows, kY, 5, 24, 4);
    const auto plainCalls = std::make_shared<int>(0), cachedCalls = std::make_shared<int>(0);
    const double plain = cut.score(counted(plainCalls));
    const std::vector<double> plainSteps = cut.stepScores(counted(plainCalls));
    ASSERT_TRUE(std::isfinite(plain));
    const int views = *plainCalls / 2;  // one call per view and judge
    EXPECT_EQ(views, 4 * 2);            // 4 cuts x 2 chunks

    const auto cache = std::make_shared<ForecastCache>();
    const Forecaster cached = cachedForecaster(cache, taskMethod(3), counted(cachedCalls));
    EXPECT_EQ(cut.score(cached), plain);
    EXPECT_EQ(*cachedCalls, views);  // every view forecast once...
    EXPECT_EQ(cut.stepScores(cached), plainSteps);
    EXPECT_EQ(cut.score(cached), plain);
    EXPECT_EQ(*cachedCalls, views);  // ... and never again
    EXPECT_EQ(cache->hits(), static_cast<std::size_t>(2 * views));
    // The same buffer, other content: recomputed, not the earlier rows' forecast.
    std::vector<float> buffer(s.c.begin(), s.c.begin() + 10 * kEpochs);
    const model::SeriesView v{buffer.data(), 10, kEpochs, &s.axis, kEpochs};
    const std::vector<float> before = cached(v);
    for (float& x : buffer) x *= 2;
    const std::vector<float> after = cached(v), fresh = counted(std::make_shared<int>(0))(v);
    EXPECT_EQ(after, fresh);
    EXPECT_NE(after, before);
    // Another method name at the same views is another forecast.
    const auto otherCalls = std::make_shared<int>(0);
    EXPECT_EQ(cut.score(cachedForecaster(cache, baselineMethod(3), counted(otherCalls))), plain);
    EXPECT_EQ(*otherCalls, views);
    // With no room the forecasts are made every time, with the same values.
    const auto full = std::make_shared<ForecastCache>(0);
    const auto fullCalls = std::make_shared<int>(0);
    EXPECT_EQ(cut.score(cachedForecaster(full, taskMethod(3), counted(fullCalls))), plain);
    EXPECT_EQ(*fullCalls, views);
}

// The intervals of forecast_stage.cpp: at the interval cuts that are also the selection's, the
// selection's kept rates (ratesAtCuts) give the same half-widths bit for bit, and the method is
// forecast only at the other cuts; on a subset of the validation rows (more than the 2,000 the
// calibration takes) and on all of them (fewer).
TEST(ForecastCache, IntervalsFromTheSelectionsRatesAreTheForecastOnes) {
    const Scene s;
    const BaselineSet baselines;  // the own method at every step: no baseline is called
    const std::vector<std::int32_t> own(static_cast<std::size_t>(kY), kOwnPosition);
    const auto onLevel = [&](std::size_t, const model::SeriesView& v, const std::vector<float>& rates) {
        return positionsOf(own, v, rates, baselines, LevelRule{}, kY);
    };
    for (const std::size_t every : {std::size_t{3}, std::size_t{97}}) {
        std::vector<std::size_t> rows;
        for (std::size_t i = 0; i < kPoints; i += every) rows.push_back(i);
        // 8 selection cuts after 24 training epochs (31..24); interval cuts 34..25.
        const ValidationCut cut(s.view(), rows, kY, 5, 24, 8);
        ASSERT_EQ(cut.cuts().size(), 8u);
        const auto plainCalls = std::make_shared<int>(0), knownCalls = std::make_shared<int>(0);
        const std::vector<float> plain =
            cut.positionHalfWidths(positionForecaster(own, counted(plainCalls), baselines, LevelRule{}, kY), 0.9, 12);
        const std::vector<float> kept = cut.ratesAtCuts(counted(std::make_shared<int>(0)));
        // A forecaster that remembers the cuts it was called at.
        auto cutsSeen = std::make_shared<std::vector<std::size_t>>();
        const Forecaster f = [cutsSeen, g = counted(knownCalls)](const model::SeriesView& v) {
            cutsSeen->push_back(v.epochs);
            return g(v);
        };
        const std::vector<float> known =
            cut.positionHalfWidths(positionForecaster(own, f, baselines, LevelRule{}, kY), 0.9, 12, &kept, onLevel);
        ASSERT_EQ(plain.size(), static_cast<std::size_t>(kY));
        for (std::size_t y = 0; y < plain.size(); ++y) {
            EXPECT_TRUE(std::isfinite(plain[y])) << "step " << y + 1;
            EXPECT_EQ(known[y], plain[y]) << "step " << y + 1 << ", rows every " << every;
        }
        EXPECT_EQ(*plainCalls, 10);  // cuts 34..25
        EXPECT_EQ(*knownCalls, 3);   // 34, 33, 32: after the selection's last cut
        for (const std::size_t c : *cutsSeen) EXPECT_GT(c, 31u);
        // Rates of another layout are not taken: forecast at every cut, the same widths.
        const std::vector<float> wrong(kept.begin(), kept.end() - 1);
        const auto wrongCalls = std::make_shared<int>(0);
        EXPECT_EQ(cut.positionHalfWidths(positionForecaster(own, counted(wrongCalls), baselines, LevelRule{}, kY), 0.9,
                                         12, &wrong, onLevel),
                  plain);
        EXPECT_EQ(*wrongCalls, 10);
    }
}
