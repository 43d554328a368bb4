// Issue 23: the selection and the conformal residuals judge epochs no candidate trained on
// (out of time), and positions are anchored on a robust level, not on the last noisy value.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "hlstm/core/random.hpp"
#include "hlstm/model/baselines.hpp"
#include "hlstm/pipeline/evaluate.hpp"

using namespace hlstm;
using namespace hlstm::pipeline;

namespace {

constexpr std::size_t kPoints = 200, kEpochs = 89, kPerYear = 30;  // ~12-day spacing

// A subregion whose points share each epoch's "atmosphere" a[t] (new every epoch) on a
// steady motion of -1 mm/step, plus a little white noise.
struct Scene {
    model::TimeAxis axis = model::TimeAxis::regular(kEpochs);
    std::vector<double> atmosphere = std::vector<double>(kEpochs, 0.0);
    std::vector<float> c = std::vector<float>(kPoints * kEpochs);
    Scene() {
        Rng rng(7);
        for (std::size_t t = 1; t < kEpochs; ++t) atmosphere[t] = 3.0 * rng.normal();
        for (std::size_t i = 0; i < kPoints; ++i)
            for (std::size_t t = 0; t < kEpochs; ++t)
                c[i * kEpochs + t] = static_cast<float>(-1.0 * static_cast<double>(t) + atmosphere[t] +
                                                        (t > 0 ? 0.2 * rng.normal() : 0.0));
    }
    [[nodiscard]] model::SeriesView view() const { return {c.data(), kPoints, kEpochs, &axis, kEpochs}; }
};

// The OLS velocity of each row (an honest method: it cannot know any epoch's atmosphere).
Forecaster velocityForecaster(int horizon) {
    return [horizon](const model::SeriesView& v) {
        std::vector<float> out(v.points * static_cast<std::size_t>(horizon));
        for (std::size_t i = 0; i < v.points; ++i)
            for (int y = 0; y < horizon; ++y)
                out[i * static_cast<std::size_t>(horizon) + static_cast<std::size_t>(y)] =
                    static_cast<float>(model::seriesVelocity(v, i));
        return out;
    };
}

// A candidate that memorised the atmosphere of the epochs it trained on (before `trained`):
// it forecasts the motion plus the centred smoothed atmosphere rate it remembers around the
// forecast step; for an epoch it never saw it recalls the one of the same time a year before
// (what a day-of-year input learns), which is independent of the new epoch's.
Forecaster memoriser(const Scene& s, std::size_t trained, int smoothing) {
    return [&s, trained, smoothing](const model::SeriesView& v) {
        const int a = (smoothing - 1) / 2, b = smoothing - 1 - a;
        auto remembered = [&](std::size_t t) {
            while (t >= trained) t -= kPerYear;
            return s.atmosphere[t];
        };
        // Rate k (epoch k -> k + 1) of step 1 is v.epochs - 1; its centred mean of h rates.
        const std::size_t k = v.epochs - 1;
        double noise = 0;
        for (std::size_t j = k - static_cast<std::size_t>(a); j <= k + static_cast<std::size_t>(b); ++j)
            noise += remembered(j + 1) - remembered(j);
        const auto rate = static_cast<float>(-1.0 + noise / smoothing);
        return std::vector<float>(v.points, rate);
    };
}

}  // namespace

TEST(Selection, AMemorisingCandidateWinsInTimeButLosesOutOfTime) {
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    const int Y = 1, h = 5, N = 8;
    // In time (run.selection_cuts = 0): the candidate trained on every visible epoch and is
    // judged at epochs it trained on: it "predicts" the shared atmosphere and wins.
    const ValidationCut inTime(s.view(), rows, Y, h, kEpochs, 0);
    const double memorisedIn = inTime.score(memoriser(s, kEpochs, h));
    const double honestIn = inTime.score(velocityForecaster(Y));
    // It misses only the white noise: (0.2 sqrt 2 / 5) sqrt(2 / pi) = 0.045 mm/step.
    EXPECT_LT(memorisedIn, 0.07);
    EXPECT_LT(memorisedIn, honestIn) << memorisedIn << " vs " << honestIn;
    // Out of time: it trained on the first T epochs, and every judged epoch is later.
    const std::size_t T = selectionTrainEpochs(kEpochs, Y, h, N);
    EXPECT_EQ(T, kEpochs - (h + N - 1));
    const ValidationCut outOfTime(s.view(), rows, Y, h, T, N);
    ASSERT_EQ(outOfTime.cuts().size(), static_cast<std::size_t>(N));
    for (std::size_t c : outOfTime.cuts()) EXPECT_GE(c, T);
    const double memorisedOut = outOfTime.score(memoriser(s, T, h));
    const double honestOut = outOfTime.score(velocityForecaster(Y));
    EXPECT_GT(memorisedOut, honestOut) << memorisedOut << " vs " << honestOut;
    // The honest method's out-of-time score is the future noise's own size: the slope of 5
    // epochs of N(0, 3) atmosphere has sd 3 / sqrt(10) = 0.95 mm/step, so a mean |.| of ~0.76
    // over 8 cuts (loose bounds: 8 draws).
    EXPECT_GT(honestOut, 0.3);
    EXPECT_LT(honestOut, 1.5);
}

TEST(Selection, SpreadCutsLieTheStrideApartAfterTheTrainingEpochs) {
    // run.cut_stride = 3: the 8 cuts lie 3 epochs apart (the latest where the consecutive ones
    // start), so the candidates train on 2 x 7 fewer epochs; every cut still follows them.
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    const std::size_t T1 = selectionTrainEpochs(kEpochs, 1, 5, 8, 1), T3 = selectionTrainEpochs(kEpochs, 1, 5, 8, 3);
    EXPECT_EQ(T1 - T3, 2u * 7u);
    const ValidationCut consecutive(s.view(), rows, 1, 5, T1, 8, 1), spread(s.view(), rows, 1, 5, T3, 8, 3);
    ASSERT_EQ(spread.cuts().size(), 8u);
    EXPECT_EQ(spread.cuts().front(), consecutive.cuts().front());
    for (std::size_t k = 1; k < spread.cuts().size(); ++k) EXPECT_EQ(spread.cuts()[k - 1] - spread.cuts()[k], 3u);
    for (std::size_t c : spread.cuts()) EXPECT_GE(c, T3);
    // Where the candidates would keep fewer than half the visible epochs the stride shrinks:
    // 40 epochs at Y = 1, h = 5 allow (40 / 2 - 5) / 7 = 2 epochs apart, not 3.
    EXPECT_EQ(selectionCutStride(40, 1, 5, 8, 3), 2u);
    EXPECT_EQ(selectionCutStride(kEpochs, 1, 5, 8, 3), 3u);
    EXPECT_EQ(selectionCutStride(40, 1, 5, 8, 1), 1u);
}

TEST(Selection, IntervalResidualsComeFromEpochsAfterTraining) {
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    const std::size_t T = selectionTrainEpochs(kEpochs, 1, 5, 8);
    const ValidationCut cut(s.view(), rows, 1, 5, T, 8);
    // A forecaster that records the epochs it is asked to forecast from.
    std::vector<std::size_t> seen;
    const Forecaster spy = [&seen](const model::SeriesView& v) {
        seen.push_back(v.epochs);
        return std::vector<float>(v.points, -1.0f);
    };
    (void)cut.intervalHalfWidths(spy, 0.9, 100, LevelRule{8, false, 1});
    ASSERT_FALSE(seen.empty());
    for (std::size_t e : seen) EXPECT_GE(e, T + 1) << "a residual's anchor epoch e - 1 must follow the training epochs";
    EXPECT_EQ(seen.size(), kEpochs - 1 - T);  // every cut from T + 1 to the last
}

TEST(Positions, TheLevelIsALineThroughTheLastEpochsNotTheLastNoisyValue) {
    // Known level: 10 + 0.5 t; known noise: +-1 alternating, and the last value 4 mm off.
    const std::size_t m = 40;
    const model::TimeAxis axis = model::TimeAxis::regular(m + 3);
    std::vector<float> c(m);
    for (std::size_t t = 0; t < m; ++t) c[t] = static_cast<float>(10.0 + 0.5 * t + (t % 2 ? 1.0 : -1.0));
    c[m - 1] += 4.0f;
    const double truth = 10.0 + 0.5 * (m - 1);
    const double level = localLevel(c.data(), axis.steps.data(), m, 8);
    // OLS end-point of 8 epochs: the 4 mm outlier moves it by 4 x (1/8 + 3.5^2/42) = 1.67 mm,
    // the alternating noise by at most 0.5: within 2.2 of the level, 4.9 from the last value.
    EXPECT_NEAR(level, truth, 2.2);
    EXPECT_GT(std::abs(c[m - 1] - truth), 4.9);
    EXPECT_LT(std::abs(level - truth), 0.5 * std::abs(c[m - 1] - truth));
    // n = 1 is the last value.
    EXPECT_DOUBLE_EQ(localLevel(c.data(), axis.steps.data(), m, 1), c[m - 1]);
    // Position baselines on an exact line: every one extrapolates it (the annual one too).
    std::vector<float> line(m);
    for (std::size_t t = 0; t < m; ++t) line[t] = static_cast<float>(3.0 - 0.25 * t);
    std::vector<float> out(kPositionBaselines * 3);
    forecastPositions(line.data(), axis, m, 3, LevelRule{}, out.data());
    for (int b = 0; b < kPositionBaselines; ++b)
        for (std::size_t y = 0; y < 3; ++y)
            EXPECT_NEAR(out[static_cast<std::size_t>(b) * 3 + y], 3.0 - 0.25 * (m + y), 1e-3)
                << positionBaselineNames()[static_cast<std::size_t>(b)] << " step " << y + 1;
}

TEST(Positions, TheSeasonalLevelTakesTheAnnualTermsOffBeforeTheLine) {
    // Known level: -0.3 mm a step under an annual term of 6 mm, and +-1 mm alternating noise
    // (its OLS slope over an even number of epochs is small). A line through the last 12
    // epochs (132 days) is bent by the season's curvature; with the annual terms of the local
    // fit (576 days) taken off first it is not: the level is within the noise's reach.
    const std::size_t m = 80;
    const model::TimeAxis axis = model::TimeAxis::regular(m);
    const auto signal = [&](std::size_t t) { return -0.3 * static_cast<double>(t) + 6.0 * std::cos(axis.phase[t]); };
    std::vector<float> c(m);
    for (std::size_t t = 0; t < m; ++t) c[t] = static_cast<float>(signal(t) + (t % 2 ? 1.0 : -1.0));
    const double truth = signal(m - 1);
    const double plain = localLevel(c.data(), axis, m, LevelRule{12, false, 1});
    const double seasonal = localLevel(c.data(), axis, m, LevelRule{12, true, 1});
    EXPECT_DOUBLE_EQ(plain, localLevel(c.data(), axis.steps.data(), m, 12));
    // numpy: the plain line misses by 1.74 mm, the seasonal level by 0.22.
    EXPECT_GT(std::abs(plain - truth), 1.2);
    EXPECT_LT(std::abs(seasonal - truth), 0.4);
    // Without a year of history there is no fit: the plain line.
    EXPECT_DOUBLE_EQ(localLevel(c.data(), axis, 25, LevelRule{12, true, 1}),
                     localLevel(c.data(), axis, 25, {12, false, 1}));
    // A NaN inside the line's epochs is skipped by both.
    c[m - 3] = std::nanf("");
    EXPECT_TRUE(std::isfinite(localLevel(c.data(), axis, m, LevelRule{12, true, 1})));
    // An accelerating funnel (-0.02 t^2 more): a line through 24 epochs less the season lags the
    // bend by mm, the default quadratic through them follows it (numpy: 4.35, 1.12 for a line
    // through 12, 0.43 for the quadratic).
    const auto bent = [&](std::size_t t) { return signal(t) - 0.02 * static_cast<double>(t * t); };
    for (std::size_t t = 0; t < m; ++t) c[t] = static_cast<float>(bent(t) + (t % 2 ? 1.0 : -1.0));
    const double bentTruth = bent(m - 1);
    EXPECT_GT(std::abs(localLevel(c.data(), axis, m, LevelRule{24, true, 1}) - bentTruth), 3.0);
    EXPECT_GT(std::abs(localLevel(c.data(), axis, m, LevelRule{12, true, 1}) - bentTruth), 0.9);
    EXPECT_LT(std::abs(localLevel(c.data(), axis, m, LevelRule{}) - bentTruth), 0.6);
    EXPECT_EQ(LevelRule{}.epochs, 24);
    EXPECT_EQ(LevelRule{}.degree, 2);
}

TEST(Selection, APairedTestOverCutsDiscountsDifferencesThatChangeSlowly) {
    // The same eight per-cut differences (mean -0.125, sd 0.122: 2.9 standard errors if the
    // cuts were independent). Alternating, they are significant; as a slow ramp (lag-1
    // autocorrelation 0.625, the variance of the mean x 4.3) they are not, as successive cuts
    // that share the atmosphere of their reference epochs and a season's slow error are not.
    const std::vector<double> alternating{-0.3, 0.0, -0.25, 0.05, -0.2, -0.05, -0.15, -0.1};
    const std::vector<double> ramp{-0.3, -0.25, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05};
    const std::vector<double> zero(8, 0.0);
    EXPECT_TRUE(significantlyBetter(alternating.data(), zero.data(), 8, 1, 2.0));
    EXPECT_FALSE(significantlyBetter(ramp.data(), zero.data(), 8, 1, 2.0));
    EXPECT_TRUE(significantlyBetter(ramp.data(), zero.data(), 8, 1, 1.3));
    // A worse challenger never is; a NaN cut is left out; strided values (methods x cuts x Y).
    EXPECT_FALSE(significantlyBetter(zero.data(), alternating.data(), 8, 1, 2.0));
    std::vector<double> strided(16, std::nan(""));
    for (std::size_t c = 0; c < 8; ++c) strided[c * 2] = alternating[c];
    strided[14] = std::nan("");  // cut 7 lost: the other seven are still significant
    EXPECT_TRUE(significantlyBetter(strided.data(), std::vector<double>(16, 0.0).data(), 8, 2, 2.0));
    // The fixed-size per-cut scores of the gathered records.
    CutScores a, b;
    a.fill(std::nanf(""));
    b.fill(std::nanf(""));
    for (std::size_t c = 0; c < 8; ++c) a[c] = static_cast<float>(1.0 + alternating[c]), b[c] = 1.0f;
    EXPECT_TRUE(significantlyBetter(a, b, 2.0));
    EXPECT_FALSE(significantlyBetter(b, a, 2.0));
}

TEST(Positions, TheLocalLineAndAnnualTermsFollowARecentTrendBesideTheSeason) {
    // A funnel that accelerates at epoch 60 of 120 (-0.1 then -0.6 mm a step) under an annual
    // term of 4 mm, no noise. local_line+annual fits the epochs of the last 576 days (48 of 12
    // days, all after the change) and extrapolates the signal exactly; line+annual over the whole
    // history cannot bend, and misses the next epochs by mm.
    const std::size_t m = 120, Y = 6, J = kPositionBaselines;
    const model::TimeAxis axis = model::TimeAxis::regular(m + Y);
    const auto signal = [&](std::size_t t) {
        const double trend = t < 60 ? -0.1 * t : -6.0 - 0.6 * (t - 60.0);
        return trend + 4.0 * std::sin(axis.phase[t]);
    };
    std::vector<float> c(m);
    for (std::size_t t = 0; t < m; ++t) c[t] = static_cast<float>(signal(t));
    std::vector<float> out(J * Y);
    forecastPositions(c.data(), axis, m, static_cast<int>(Y), LevelRule{}, out.data());
    const auto& names = positionBaselineNames();
    const auto row = [&](const std::string& name) {
        return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    ASSERT_LT(row("local_line+annual"), J);
    for (std::size_t y = 0; y < Y; ++y) {
        EXPECT_NEAR(out[row("local_line+annual") * Y + y], signal(m + y), 2e-3) << "step " << y + 1;
        EXPECT_GT(std::abs(out[row("line+annual") * Y + y] - signal(m + y)), 3.0) << "step " << y + 1;
    }
    // 25 epochs (288 days) span less than a year: no annual terms to fit locally, NaN; the
    // whole-history line + annual terms are still fitted.
    forecastPositions(c.data(), axis, 25, static_cast<int>(Y), LevelRule{}, out.data());
    for (std::size_t y = 0; y < Y; ++y) {
        EXPECT_TRUE(std::isnan(out[row("local_line+annual") * Y + y]));
        EXPECT_TRUE(std::isfinite(out[row("line+annual") * Y + y]));
    }
}

TEST(Positions, TheAvx512SumsEqualThePortableOnesBitForBit) {
    // forecastPositions and forecastPositionsAtCuts sum their normal equations with an AVX-512
    // kernel (the design row in a register) where the CPU has it; HLSTM_BASELINES_ISA=portable
    // (setBaselineIsa) runs the portable one. On 300 noisy series with gaps of 24 days, NaN
    // values and short histories, both give every position bit for bit, and the two axes in
    // turn (the terms cached per axis) as well.
    Rng rng(11);
    const std::vector<std::int32_t> dates = [] {
        std::vector<std::int32_t> d;
        for (int day = 0, t = 0; t < 120; ++t, day += t % 7 == 3 ? 24 : 12)
            d.push_back(20200101 + (day / 28) % 12 * 100 + day % 28 + 10000 * (day / 336));
        return d;
    }();
    const model::TimeAxis axes[2] = {model::TimeAxis::regular(123), model::TimeAxis::fromDates(dates)};
    const std::size_t cuts[] = {100, 2, 57, 110, 1, 80, 30, 117};
    constexpr std::size_t kCuts = sizeof(cuts) / sizeof(cuts[0]);
    const std::size_t Y = 3, J = kPositionBaselines;
    std::size_t compared = 0, finite = 0;
    for (int series = 0; series < 300; ++series) {
        const model::TimeAxis& axis = axes[series % 2];
        const std::size_t m = series % 10 == 0 ? static_cast<std::size_t>(series % 7) : 117;
        std::vector<float> c(117);
        double level = 20 * rng.normal();
        for (std::size_t t = 0; t < c.size(); ++t) {
            level += 0.3 * rng.normal() - 0.5;
            c[t] = static_cast<float>(level + 3.0 * std::sin(axis.phase[t]) + rng.normal());
            if (series % 3 == 1 && t % 11 == 4) c[t] = std::numeric_limits<float>::quiet_NaN();
        }
        std::vector<float> got[2];
        for (int isa = 0; isa < 2; ++isa) {
            model::setBaselineIsa(isa == 0 ? model::BaselineIsa::kNative : model::BaselineIsa::kPortable);
            got[isa].assign(J * Y * (1 + kCuts), -999.0f);
            forecastPositions(c.data(), axis, m, static_cast<int>(Y), LevelRule{}, got[isa].data());
            forecastPositionsAtCuts(c.data(), axis, cuts, kCuts, static_cast<int>(Y), LevelRule{},
                                    got[isa].data() + J * Y);
        }
        model::setBaselineIsa(model::BaselineIsa::kNative);
        for (std::size_t k = 0; k < got[0].size(); ++k) {
            const float a = got[0][k], b = got[1][k];
            ASSERT_TRUE(std::isnan(a) ? std::isnan(b) : a == b) << "series " << series << " value " << k;
            ++compared;
            if (std::isfinite(a)) ++finite;
        }
    }
    EXPECT_GT(finite, compared * 8 / 10);
    EXPECT_LT(finite, compared);  // the short histories have none
}

// Forecast combination (run.combine, src/pipeline/combine_stage.cpp), judged at the out-of-time
// cuts. Two methods whose errors cancel: the "model" forecasts the velocity + 1 mm/step, the
// "baseline" the velocity - 1: their equal mix is the velocity and beats both. Per step: a model
// off by + 1 at step 1 only and a baseline off by - 1 after step 1: the per-step mix (the
// baseline at step 1, the model after) is the velocity, which no single weight reaches.
TEST(Combination, AMixOfMethodsWhoseErrorsCancelBeatsBothAndPerStepWeightsPickEachStepsBest) {
    const Scene s;
    std::vector<std::size_t> rows(kPoints);
    for (std::size_t i = 0; i < kPoints; ++i) rows[i] = i;
    const int Y = 3, h = 5, N = 8;
    const ValidationCut cut(s.view(), rows, Y, h, selectionTrainEpochs(kEpochs, Y, h, N), N);
    const auto shifted = [](float step1, float later) -> Forecaster {
        return [step1, later](const model::SeriesView& v) {
            std::vector<float> out = velocityForecaster(Y)(v);
            for (std::size_t k = 0; k < out.size(); ++k) out[k] += k % Y == 0 ? step1 : later;
            return out;
        };
    };
    const double exact = cut.score(velocityForecaster(Y));
    const Forecaster above = shifted(1.0F, 1.0F), below = shifted(-1.0F, -1.0F);
    const double half = cut.score(combinedForecaster(above, below, {0.5}));
    EXPECT_NEAR(half, exact, 1e-6);
    EXPECT_LT(half, cut.score(above) - 0.05);
    EXPECT_LT(half, cut.score(below) - 0.05);
    EXPECT_GT(cut.score(combinedForecaster(above, below, {0.75})), exact + 0.05);  // the weight matters

    const Forecaster learned = shifted(1.0F, 0.0F), baseline = shifted(0.0F, -1.0F);
    EXPECT_NEAR(cut.score(combinedForecaster(learned, baseline, {0.0, 1.0, 1.0})), exact, 1e-6);
    for (double w : {0.0, 0.25, 0.5, 0.75, 1.0})
        EXPECT_GT(cut.score(combinedForecaster(learned, baseline, {w})), exact + 0.02) << w;
    // stepScores: each step's part of the score (every step has the same count here).
    const std::vector<double> stepL = cut.stepScores(learned), stepB = cut.stepScores(baseline);
    const std::vector<double> stepExact = cut.stepScores(velocityForecaster(Y));
    ASSERT_EQ(stepL.size(), 3U);
    EXPECT_NEAR((stepL[0] + stepL[1] + stepL[2]) / 3, cut.score(learned), 1e-9);
    EXPECT_GT(stepL[0], stepB[0] + 0.05);  // the model loses step 1 ...
    EXPECT_NEAR(stepL[1], stepExact[1], 1e-6);
    EXPECT_GT(stepB[1], stepL[1] + 0.05);  // ... and wins the later steps
}
