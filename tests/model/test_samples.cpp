// Samples (paper II-B), the 70/30 point split, configuration and thread resolution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/model/model_config.hpp"
#include "hlstm/model/samples.hpp"

namespace hlstm::model {
namespace {

ModelConfig shape(int window, int horizon) {
    ModelConfig c;
    c.window = window;
    c.horizon = horizon;
    c.layers = 1;
    c.units = 4;
    c.stdFloor = 1e-3;
    return c;
}

TEST(Samples, DifferentialsAreFirstDifferences) {
    const std::vector<float> c = {1.0f, 3.0f, 2.5f, 6.0f};
    EXPECT_EQ(differentials(c.data(), c.size()), (std::vector<float>{2.0f, -0.5f, 3.5f}));
}

TEST(Samples, LatestWindowIsZScoredWithItsInputPart) {
    // One point, cumulative 0, 1, 3, 6, 10, 20: differentials 1, 2, 3, 4, 10.
    const std::vector<float> c = {0, 1, 3, 6, 10, 20};
    const SeriesView view{c.data(), 1, c.size()};
    // L = 4, Y = 1: the latest window is 2, 3, 4 | 10.
    const SampleSet s = makeSamples(view, shape(4, 1), Sampling::kLatest, 1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s.inputSteps, 3);
    const double mean = 3.0, std = std::sqrt(2.0 / 3.0);  // population std of 2, 3, 4
    EXPECT_FLOAT_EQ(s.mean[0], mean);
    EXPECT_FLOAT_EQ(s.scale[0], std);
    EXPECT_FLOAT_EQ(s.inputs[0], (2 - mean) / std);
    EXPECT_FLOAT_EQ(s.inputs[1], 0.0f);
    EXPECT_FLOAT_EQ(s.inputs[2], (4 - mean) / std);
    EXPECT_FLOAT_EQ(s.labels[0], (10 - mean) / std);
    EXPECT_EQ(s.labelsMm[0], 10.0f);
    EXPECT_EQ(s.point[0], 0u);
}

TEST(Samples, AllWindowsWithStrideEndAtTheLatest) {
    std::vector<float> c(12);  // 11 differentials: d[j] = j + 1 (cumulative triangle numbers)
    for (int t = 1; t < 12; ++t) c[t] = c[t - 1] + static_cast<float>(t);
    const SeriesView view{c.data(), 1, c.size()};
    // L = 3, Y = 1, stride 3: windows end at d[10], d[7], d[4] (one ending at d[1] would
    // start before d[0]) -> labels 11, 8, 5, oldest first.
    const SampleSet s = makeSamples(view, shape(3, 1), Sampling::kAll, 3);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s.labelsMm, (std::vector<float>{5, 8, 11}));
    // Every window of a linear ramp is the same after z-scoring: inputs -1, 1, label 3.
    for (std::size_t i = 0; i < s.size(); ++i) {
        EXPECT_FLOAT_EQ(s.inputs[2 * i], -1.0f);
        EXPECT_FLOAT_EQ(s.inputs[2 * i + 1], 1.0f);
        EXPECT_FLOAT_EQ(s.labels[i], 3.0f);
    }
}

TEST(Samples, MultiStepLabelsAndStdFloor) {
    // Flat input part: the std floor (1e-3 mm) keeps the z-score finite.
    const std::vector<float> c = {0, 1, 2, 3, 5, 8};  // differentials 1, 1, 1, 2, 3
    const SeriesView view{c.data(), 1, c.size()};
    const SampleSet s = makeSamples(view, shape(5, 2), Sampling::kLatest, 1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_FLOAT_EQ(s.scale[0], 1e-3f);
    EXPECT_FLOAT_EQ(s.mean[0], 1.0f);
    EXPECT_EQ(s.labelsMm, (std::vector<float>{2, 3}));
    EXPECT_NEAR(s.labels[0], 1000.0, 1e-2);
    EXPECT_NEAR(s.labels[1], 2000.0, 1e-2);
}

TEST(Samples, NonFiniteWindowsAreSkippedAndShortSeriesGiveNone) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // Two points; the second has a NaN epoch inside its latest window.
    const std::vector<float> c = {0, 1, 2, 4, 7, /**/ 0, 1, nan, 3, 4};
    const SeriesView view{c.data(), 2, 5};
    const SampleSet s = makeSamples(view, shape(3, 1), Sampling::kLatest, 1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s.point[0], 0u);
    // Series with 4 epochs have 3 differentials: too few for L = 4.
    const SeriesView shortView{c.data(), 1, 4};
    EXPECT_EQ(makeSamples(shortView, shape(4, 1), Sampling::kLatest, 1).size(), 0u);
    // Only the listed rows are sampled.
    EXPECT_EQ(makeSamples(view, std::vector<std::size_t>{1}, shape(3, 1), Sampling::kLatest, 1).size(), 0u);
}

TEST(Samples, ForecastInputsAreTheLastDifferentials) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> c = {nan, 0, 1, 3, 6, /**/ 0, 1, 2, nan, 4};
    const SeriesView view{c.data(), 2, 5};
    // L = 4, Y = 1: inputs are the last 3 differentials 1, 2, 3 (the NaN epoch is older).
    const SampleSet s = makeForecastInputs(view, shape(4, 1));
    ASSERT_EQ(s.size(), 2u);
    EXPECT_FLOAT_EQ(s.mean[0], 2.0f);
    EXPECT_FLOAT_EQ(s.inputs[1], 0.0f);
    EXPECT_TRUE(s.labels.empty());
    EXPECT_TRUE(std::isnan(s.inputs[3]));  // second point: NaN inside its input
    EXPECT_TRUE(std::isnan(s.scale[1]));
    EXPECT_THROW(makeForecastInputs(SeriesView{c.data(), 1, 3}, shape(4, 1)), InputError);
}

TEST(Split, SeventyThirtyDisjointAndSeeded) {
    const PointSplit a = splitPoints(1000, 0.3, 7);
    EXPECT_EQ(a.validation.size(), 300u);
    EXPECT_EQ(a.train.size(), 700u);
    std::set<std::size_t> all(a.train.begin(), a.train.end());
    all.insert(a.validation.begin(), a.validation.end());
    EXPECT_EQ(all.size(), 1000u);
    EXPECT_EQ(*all.rbegin(), 999u);
    const PointSplit b = splitPoints(1000, 0.3, 7);
    EXPECT_EQ(a.validation, b.validation);
    const PointSplit c = splitPoints(1000, 0.3, 8);
    EXPECT_NE(a.validation, c.validation);
    // Small sets keep one point on each side.
    EXPECT_EQ(splitPoints(2, 0.3, 1).validation.size(), 1u);
    EXPECT_EQ(splitPoints(2, 0.9, 1).train.size(), 1u);
    EXPECT_EQ(splitPoints(1, 0.3, 1).train.size(), 1u);
}

TEST(Config, FilledFromTheSchema) {
    Config config;
    config.set("model.kind", "rnn");
    config.set("train.loss", "huber");
    config.set("model.sampling", "all");
    config.set("train.lr", "0.01");
    const ModelConfig m = modelConfigFrom(config, 5, 2, 25);
    EXPECT_EQ(m.cell, CellKind::kRnn);
    EXPECT_EQ(m.window, 5);
    EXPECT_EQ(m.inputSteps(), 4);
    EXPECT_EQ(m.units, 25);
    const TrainConfig t = trainConfigFrom(config);
    EXPECT_EQ(t.loss, LossKind::kHuber);
    EXPECT_EQ(t.sampling, Sampling::kAll);
    EXPECT_DOUBLE_EQ(t.lr, 0.01);
    EXPECT_EQ(t.epochs, 30);
    EXPECT_EQ(t.batch, 256);
    EXPECT_DOUBLE_EQ(t.validationFraction, 0.3);
    config.set("model.kind", "gru");
    EXPECT_THROW(modelConfigFrom(config, 5, 2, 25), ConfigError);
    config.set("model.kind", "lstm");
    EXPECT_THROW(modelConfigFrom(config, 1, 2, 25), ConfigError);  // eq. 4: L >= 2
}

TEST(Threads, ConfiguredThenOmpThenSlurm) {
    EXPECT_EQ(resolveThreads(3), 3);
    setenv("OMP_NUM_THREADS", "2", 1);
    setenv("SLURM_CPUS_PER_TASK", "5", 1);
    EXPECT_EQ(resolveThreads(0), 2);
    unsetenv("OMP_NUM_THREADS");
    EXPECT_EQ(resolveThreads(0), 5);
    unsetenv("SLURM_CPUS_PER_TASK");
    EXPECT_EQ(resolveThreads(0), 1);
    setenv("OMP_NUM_THREADS", "1", 1);
}

}  // namespace
}  // namespace hlstm::model

namespace hlstm::model {
namespace {

TEST(TimeAwareRates, LinearMotionGivesEqualRatesAcrossALostAcquisition) {
    // 12-day archive whose 2020-01-25 acquisition is lost (a 24-day gap); the point moves
    // -0.25 mm/day, i.e. -3 mm per nominal 12-day step: c = -0.25 x days since the first.
    const std::vector<std::int32_t> dates = {20200101, 20200113, 20200206, 20200218, 20200301};
    const TimeAxis axis = TimeAxis::fromDates(dates);
    EXPECT_DOUBLE_EQ(axis.spacingDays, 12.0);
    EXPECT_EQ(axis.steps, (std::vector<double>{0, 1, 3, 4, 5}));
    const std::vector<float> c = {0.0f, -3.0f, -9.0f, -12.0f, -15.0f};
    const SeriesView view{c.data(), 1, c.size(), &axis};
    // Plain differentials see an acceleration (-6 over the gap); rates do not.
    EXPECT_EQ(differentials(c.data(), c.size()), (std::vector<float>{-3, -6, -3, -3}));
    EXPECT_EQ(seriesRates(view, 0), (std::vector<float>{-3, -3, -3, -3}));
    EXPECT_DOUBLE_EQ(seriesVelocity(view, 0), -3.0);
}

TEST(SignalTarget, InputIsTheResidualFromTheVelocityAndTheLabelACentredMean) {
    // Regular 12-day steps, rates 1 2 3 4 5 6 7 8 9 10 (c = running sum from 0), velocity of
    // c over 0..10: OLS slope of the triangular numbers = 5.5 (hand: sum (t-5)(c-mean)/110).
    std::vector<float> c = {0};
    for (int k = 1; k <= 10; ++k) c.push_back(c.back() + static_cast<float>(k));
    const TimeAxis axis = TimeAxis::regular(c.size());
    const SeriesView view{c.data(), 1, c.size(), &axis};
    ModelConfig m;
    m.window = 4;  // L = 4, Y = 1: 3 input rates
    m.horizon = 1;
    m.layers = 1;
    m.units = 4;
    m.target = Target::kSignal;
    m.smoothing = 3;  // label: mean of 3 rates centred on the next step; input skips 2 rates
    m.scale = 2.0;
    EXPECT_DOUBLE_EQ(seriesVelocity(view, 0), 5.5);
    const SampleSet s = makeSamples(view, m, Sampling::kLatest, 1);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s.channels, 3);
    // Latest: 10 rates (indices 0..9); the label centred on e + 1 reaches one rate beyond it, so
    // e = 10 - 1 - (Y + 1) = 7 (value 8): label = mean of indices 7..9 = (8 + 9 + 10) / 3 = 9;
    // input = indices 3..5 (values 4, 5, 6), indices 6 and 7 left out: the label's first rate
    // (7) starts at epoch 7, the input's last (5) ends at epoch 6, so no epoch is in both (with
    // one shared epoch a network learns to predict minus its noise / h); all as (x - 5.5) / 2.
    ASSERT_EQ(s.labelsMm.size(), 1u);
    EXPECT_FLOAT_EQ(s.labelsMm[0], 9.0f);
    EXPECT_FLOAT_EQ(s.labels[0], (9.0f - 5.5f) / 2.0f);
    EXPECT_FLOAT_EQ(s.inputs[0], (4.0f - 5.5f) / 2.0f);
    EXPECT_FLOAT_EQ(s.inputs[3], (5.0f - 5.5f) / 2.0f);
    EXPECT_FLOAT_EQ(s.inputs[6], (6.0f - 5.5f) / 2.0f);
    // Channels 1, 2: sin and cos of the annual phase of the epoch each rate ends at (rate 3
    // ends at epoch 4: day 48 of a 12-day axis from 1 January).
    EXPECT_NEAR(s.inputs[1], std::sin(6.283185307179586 * 48.0 / 365.2425), 1e-6);
    EXPECT_NEAR(s.inputs[2], std::cos(6.283185307179586 * 48.0 / 365.2425), 1e-6);
    EXPECT_FLOAT_EQ(s.mean[0], 5.5f);
    EXPECT_FLOAT_EQ(s.scale[0], 2.0f);
}

TEST(LocalTarget, TheLabelIsTheResidualFromTheLocalLineAndAnnualFit) {
    // A trend that steepens at epoch 40 (-0.2 then -0.8 mm a step) under an annual term of 5 mm,
    // no noise, 100 epochs of 12 days. Every window whose fit (the epochs of the last 576 days)
    // lies after the change has the fit's exact rates: its labels are 0 in z units, each step's
    // centre is the signal's smoothed rate, and a zero output decodes to it. The signal target's
    // labels keep the season (residuals from one velocity of the whole series).
    const std::size_t epochs = 100;
    const TimeAxis axis = TimeAxis::regular(epochs);
    std::vector<float> c(epochs);
    const auto signal = [&](double t) {
        const double trend = t < 40 ? -0.2 * t : -8.0 - 0.8 * (t - 40.0);
        return trend + 5.0 * std::sin(6.283185307179586 * 12.0 * t / 365.2425);
    };
    for (std::size_t t = 0; t < epochs; ++t) c[t] = static_cast<float>(signal(static_cast<double>(t)));
    const SeriesView view{c.data(), 1, epochs, &axis};
    ModelConfig m = shape(12, 3);
    m.target = Target::kLocal;
    m.smoothing = 5;
    m.scale = 0.5;
    const SampleSet s = makeSamples(view, m, Sampling::kAll, 1);
    ASSERT_GT(s.size(), 20u);
    ASSERT_EQ(s.stepMean.size(), s.size() * 3);
    std::size_t after = 0;
    double signalLabels = 0;
    ModelConfig v = m;
    v.target = Target::kSignal;
    const SampleSet sv = makeSamples(view, v, Sampling::kAll, 1);
    for (float z : sv.labels) signalLabels = std::max(signalLabels, std::abs(static_cast<double>(z)));
    EXPECT_GT(signalLabels, 1.0);
    for (std::size_t i = 0; i < s.size(); ++i) {
        // Window i's last observed epoch: its label rates end at e + Y + lead, the last rate 98.
        const std::size_t last = epochs - 1 - (s.size() - 1 - i) - 3 - 2;
        if (last < 40 + 48) continue;
        ++after;
        for (int y = 0; y < 3; ++y) {
            const std::size_t k = i * 3 + static_cast<std::size_t>(y);
            EXPECT_NEAR(s.labels[k], 0.0, 2e-3) << "window " << i << " step " << y + 1;
            EXPECT_NEAR(s.centerOf(i, y), s.labelsMm[k], 1e-3);
        }
    }
    EXPECT_GT(after, 3u);
    // The latest forecast input's centres are the signal's next rates, smoothed over 5 (the fit
    // extrapolated): the mean of rates 99 + y - 2 .. 99 + y + 2 of the signal.
    const SampleSet f = makeForecastInputs(view, m);
    ASSERT_EQ(f.size(), 1u);
    for (int y = 0; y < 3; ++y) {
        const double expected = (signal(99.0 + y + 3) - signal(99.0 + y - 2)) / 5.0;
        EXPECT_NEAR(f.centerOf(0, y), expected, 2e-3) << "step " << y + 1;
    }
    // Windows whose history spans under a year (no fit) are centred on the velocity, as kSignal's:
    // with 29 epochs (336 days) every one, and the samples are kSignal's.
    const SeriesView shortView{c.data(), 1, 29, &axis};
    const SampleSet shortLocal = makeSamples(shortView, m, Sampling::kAll, 1);
    const SampleSet shortSignal = makeSamples(shortView, v, Sampling::kAll, 1);
    ASSERT_GT(shortLocal.size(), 0u);
    EXPECT_EQ(shortLocal.labels, shortSignal.labels);
    EXPECT_EQ(shortLocal.mean, shortSignal.mean);
    for (std::size_t i = 0; i < shortLocal.size(); ++i)
        for (int y = 0; y < 3; ++y) EXPECT_FLOAT_EQ(shortLocal.centerOf(i, y), shortSignal.mean[i]);
}

// Views (what fit trains on, issue 22's memory per rank): the inputs computed per batch are the
// materialised samples' bit for bit, for the next-rate and signal targets, every-window sampling,
// lost acquisitions, missing values and a view of the first epochs of longer rows.
TEST(SampleViews, ComputeTheMaterialisedInputsBitForBit) {
    const std::size_t points = 60, epochs = 130, visible = 121;
    TimeAxis axis;  // 12-day steps with two lost acquisitions (24-day gaps)
    for (std::size_t t = 0; t < epochs; ++t) {
        axis.steps.push_back(static_cast<double>(t + (t > 40 ? 1 : 0) + (t > 90 ? 1 : 0)));
        axis.phase.push_back(0.2 * static_cast<double>(t));
    }
    std::vector<float> c(points * epochs);
    unsigned state = 7;
    auto uniform = [&state] { return static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0f; };
    for (std::size_t i = 0; i < points; ++i) {
        float level = 0;
        for (std::size_t t = 0; t < epochs; ++t) {
            level += -0.3f * static_cast<float>(i % 5) + 2.0f * (uniform() - 0.5f);
            c[i * epochs + t] = uniform() < 0.02f ? std::numeric_limits<float>::quiet_NaN() : level;
        }
    }
    const SeriesView full{c.data(), points, epochs, &axis};
    const SeriesView view = full.firstEpochs(visible);
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < points; i += 2) rows.push_back(i);
    for (const Target target : {Target::kNext, Target::kSignal, Target::kLocal}) {
        ModelConfig m = shape(12, 2);
        m.target = target;
        m.smoothing = target != Target::kNext ? 3 : 1;
        m.scale = 1.7;
        for (const Sampling sampling : {Sampling::kLatest, Sampling::kAll}) {
            const SampleSet a = makeSamples(view, rows, m, sampling, 3);
            const SampleSet b = makeSampleViews(view, rows, m, sampling, 3);
            ASSERT_GT(a.size(), sampling == Sampling::kAll ? rows.size() : rows.size() / 2);
            ASSERT_EQ(b.size(), a.size());
            EXPECT_TRUE(b.inputs.empty());
            EXPECT_TRUE(b.views());
            EXPECT_EQ(b.labels, a.labels);
            EXPECT_EQ(b.labelsMm, a.labelsMm);
            EXPECT_EQ(b.mean, a.mean);
            EXPECT_EQ(b.stepMean, a.stepMean);
            EXPECT_EQ(a.stepMean.size(), target == Target::kLocal ? a.size() * 2 : 0u);
            EXPECT_EQ(b.scale, a.scale);
            EXPECT_EQ(b.point, a.point);
            const std::size_t width = static_cast<std::size_t>(a.inputSteps) * static_cast<std::size_t>(a.channels);
            std::vector<float> got(a.size() * width, -1.0f);
            b.fillInputs(nullptr, 0, b.size(), got.data());
            ASSERT_EQ(got.size(), a.inputs.size());
            EXPECT_EQ(std::memcmp(got.data(), a.inputs.data(), got.size() * sizeof(float)), 0);
            // A minibatch in any order, and a range from the middle.
            std::vector<std::uint32_t> order;
            for (std::size_t k = a.size(); k-- > 0;)
                if (k % 3 != 1) order.push_back(static_cast<std::uint32_t>(k));
            std::vector<float> batch(order.size() * width), copied(order.size() * width);
            b.fillInputs(order.data(), 0, order.size(), batch.data());
            a.fillInputs(order.data(), 0, order.size(), copied.data());
            for (std::size_t k = 0; k < order.size(); ++k)
                ASSERT_EQ(
                    std::memcmp(batch.data() + k * width, a.inputs.data() + order[k] * width, width * sizeof(float)), 0)
                    << "sample " << order[k];
            EXPECT_EQ(batch, copied);
            std::vector<float> middle(5 * width);
            b.fillInputs(nullptr, 3, 5, middle.data());
            EXPECT_EQ(std::memcmp(middle.data(), a.inputs.data() + 3 * width, middle.size() * sizeof(float)), 0);
        }
    }
}

TEST(Scaling, FloorIsRelativeToTheSubregionsMedianWindowStd) {
    // Three points; latest input windows (L - Y = 3 rates): {0,0,0} (flat, gap-filled) std 0,
    // {0,1,2} std sqrt(2/3), {-1,2,4} std sqrt(114/27): the median is sqrt(2/3), so the floor is
    // 0.1 x sqrt(2/3), not an absolute 1e-3 mm.
    const std::vector<float> c = {0, 0, 0, 0, 0,   // flat
                                  0, 1, 1, 2, 4,   // rates 1 0 1 2
                                  0, 1, 0, 2, 6};  // rates 1 -1 2 4
    const TimeAxis axis = TimeAxis::regular(5);
    const SeriesView view{c.data(), 3, 5, &axis};
    ModelConfig m;
    m.window = 4;
    m.horizon = 1;
    m.layers = 1;
    m.units = 4;
    m.floorFraction = 0.1;
    calibrateScaling(view, {0, 1, 2}, m);
    EXPECT_NEAR(m.stdFloor, 0.1 * std::sqrt(2.0 / 3.0), 1e-9);
}

}  // namespace
}  // namespace hlstm::model
