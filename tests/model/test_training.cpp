// Training end to end: a learnable synthetic task beats persistence, determinism, save/load,
// divergence as a result, early stopping and forecasting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "hlstm/core/error.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/model/model.hpp"
#include "synthetic.hpp"

namespace hlstm::model {
namespace {

using test::syntheticSeries;

// MAE (mm) of persistence: the next differential equals the last input differential.
double persistenceMae(const SampleSet& set) {
    double sum = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
        const double last = static_cast<double>(set.inputs[(i + 1) * set.inputSteps - 1]) * set.scale[i] + set.mean[i];
        sum += std::abs(last - set.labelsMm[i * set.horizon]);
    }
    return sum / static_cast<double>(set.size());
}

// MAE (mm) of the window mean: the next differential equals the input part's mean (z = 0).
double windowMeanMae(const SampleSet& set) {
    double sum = 0;
    for (std::size_t i = 0; i < set.size(); ++i) sum += std::abs(set.mean[i] - set.labelsMm[i * set.horizon]);
    return sum / static_cast<double>(set.size());
}

ModelConfig smallLstm() {
    ModelConfig c;
    c.window = 13;
    c.layers = 2;
    c.units = 10;
    c.horizon = 1;
    return c;
}

TrainConfig quickTraining() {
    TrainConfig t;
    t.epochs = 8;
    t.batch = 128;
    t.lr = 1e-2;
    t.sampling = Sampling::kAll;
    t.stride = 2;
    t.threads = 1;
    return t;
}

constexpr std::size_t kPoints = 400;
constexpr std::size_t kEpochs = 89;

class Training : public ::testing::Test {
protected:
    std::vector<float> series_ = syntheticSeries(kPoints, kEpochs, 0.5, 3);
    SeriesView view_{series_.data(), kPoints, kEpochs};
};

// The learnable task: validation MAE must end below 0.75 x persistence's MAE on the same
// validation samples (measured: 0.65 x for both cells), and below 0.9 x the window mean's (measured 0.8 x).
TEST_F(Training, LstmAndRnnBeatPersistence) {
    const TrainConfig train = quickTraining();
    const PointSplit split = splitPoints(kPoints, train.validationFraction, 21);
    for (CellKind cell : {CellKind::kLstm, CellKind::kRnn}) {
        ModelConfig config = smallLstm();
        config.cell = cell;
        const Model model = fit(view_, config, train, 21);
        ASSERT_EQ(model.summary.status, FitStatus::kOk) << toString(cell);
        const SampleSet validation = makeSamples(view_, split.validation, config, train.sampling, train.stride);
        ASSERT_EQ(model.summary.validationSamples, validation.size());
        const double persistence = persistenceMae(validation), windowMean = windowMeanMae(validation);
        std::printf(
            "%s: validation MAE %.4f mm, persistence %.4f mm (ratio %.3f, bound 0.75), "
            "window mean %.4f mm (ratio %.3f, bound 0.9)\n",
            toString(cell).c_str(), model.summary.validationMae, persistence, model.summary.validationMae / persistence,
            windowMean, model.summary.validationMae / windowMean);
        EXPECT_LT(model.summary.validationMae, 0.75 * persistence) << toString(cell);
        EXPECT_LT(model.summary.validationMae, 0.9 * windowMean) << toString(cell);
        EXPECT_DOUBLE_EQ(meanAbsoluteError(model, validation, 1), model.summary.validationMae);
        EXPECT_EQ(model.summary.epochs, train.epochs);
    }
}

// Same seed and thread count: bit-identical weights and forecasts; another seed differs.
TEST_F(Training, DeterministicForSeedAndThreads) {
    TrainConfig train = quickTraining();
    train.epochs = 2;
    for (int threads : {1, 2}) {
        train.threads = threads;
        const Model a = fit(view_, smallLstm(), train, 99);
        const Model b = fit(view_, smallLstm(), train, 99);
        ASSERT_TRUE(a.summary.ok());
        EXPECT_EQ(a.summary.threads, threads);
        std::vector<ParameterGroup> ga = const_cast<Parameters&>(a.parameters).groups();
        std::vector<ParameterGroup> gb = const_cast<Parameters&>(b.parameters).groups();
        for (std::size_t g = 0; g < ga.size(); ++g) {
            EXPECT_EQ(std::memcmp(ga[g].data, gb[g].data, ga[g].size * sizeof(float)), 0)
                << ga[g].name << " at " << threads << " threads";
        }
        EXPECT_EQ(a.summary.validationMae, b.summary.validationMae);
        const Forecast fa = forecast(a, view_, threads), fb = forecast(b, view_, threads);
        EXPECT_EQ(std::memcmp(fa.differential.data(), fb.differential.data(), fa.differential.size() * sizeof(float)),
                  0);
    }
    train.threads = 1;
    const Model c = fit(view_, smallLstm(), train, 100);
    const Model d = fit(view_, smallLstm(), train, 99);
    EXPECT_NE(c.parameters.dense, d.parameters.dense);
}

// A given split (shared by a subregion's grid candidates) is the one the seed would draw.
TEST_F(Training, ExplicitSplitEqualsTheSeededOne) {
    TrainConfig train = quickTraining();
    train.epochs = 1;
    const Model a = fit(view_, smallLstm(), train, 31);
    const Model b = fit(view_, splitPoints(kPoints, train.validationFraction, 31), smallLstm(), train, 31);
    EXPECT_EQ(a.parameters.weightsIter, b.parameters.weightsIter);
    EXPECT_EQ(a.summary.validationMae, b.summary.validationMae);
    // Another split of the same points: same training seed, different validation MAE.
    const Model c = fit(view_, splitPoints(kPoints, train.validationFraction, 32), smallLstm(), train, 31);
    EXPECT_NE(a.summary.validationMae, c.summary.validationMae);
}

// fit(series, ...) trains on sample views (inputs computed per minibatch, the training
// primitives rebuilt for each epoch's short last batch): the same weights and validation MAE bit
// for bit as a fit on the materialised samples (the training set ends in a short batch).
TEST_F(Training, FitOnSampleViewsEqualsFitOnMaterialisedSamples) {
    TrainConfig train = quickTraining();
    train.epochs = 3;
    const PointSplit split = splitPoints(kPoints, train.validationFraction, 41);
    const Model a = fit(view_, split, smallLstm(), train, 41);
    ModelConfig config = smallLstm();
    calibrateScaling(view_, split.train, config);  // as fit(series, ...) does
    const SampleSet trainSet = makeSamples(view_, split.train, config, train.sampling, train.stride);
    const SampleSet validationSet = makeSamples(view_, split.validation, config, train.sampling, train.stride);
    ASSERT_NE(trainSet.size() % static_cast<std::size_t>(train.batch), 0u);
    const Model b = fit(trainSet, validationSet, config, train, 41);
    ASSERT_TRUE(a.summary.ok());
    EXPECT_EQ(a.summary.trainSamples, trainSet.size());
    std::vector<ParameterGroup> ga = const_cast<Parameters&>(a.parameters).groups();
    std::vector<ParameterGroup> gb = const_cast<Parameters&>(b.parameters).groups();
    ASSERT_EQ(ga.size(), gb.size());
    for (std::size_t g = 0; g < ga.size(); ++g)
        EXPECT_EQ(std::memcmp(ga[g].data, gb[g].data, ga[g].size * sizeof(float)), 0) << ga[g].name;
    EXPECT_EQ(a.summary.validationMae, b.summary.validationMae);
    EXPECT_EQ(a.summary.lossCurve, b.summary.lossCurve);
    EXPECT_DOUBLE_EQ(meanAbsoluteError(a, validationSet, 1), a.summary.validationMae);
}

TEST_F(Training, SaveLoadRoundTripIsBitExact) {
    TrainConfig train = quickTraining();
    train.epochs = 1;
    const Model model = fit(view_, smallLstm(), train, 4);
    const std::string bytes = toBytes(model);
    const Model back = modelFromBytes(bytes);
    EXPECT_EQ(toBytes(back), bytes);
    EXPECT_EQ(back.config.window, model.config.window);
    EXPECT_EQ(back.config.units, model.config.units);
    EXPECT_EQ(back.config.stdFloor, model.config.stdFloor);
    EXPECT_EQ(back.summary.validationMae, model.summary.validationMae);
    EXPECT_EQ(back.summary.seed, 4u);
    for (std::size_t l = 0; l < model.parameters.weightsIter.size(); ++l) {
        EXPECT_EQ(std::memcmp(back.parameters.weightsIter[l].data(), model.parameters.weightsIter[l].data(),
                              model.parameters.weightsIter[l].size() * sizeof(float)),
                  0);
    }
    const Forecast a = forecast(model, view_, 1), b = forecast(back, view_, 1);
    EXPECT_EQ(std::memcmp(a.cumulative.data(), b.cumulative.data(), a.cumulative.size() * sizeof(float)), 0);
    // Truncated or foreign bytes are input errors, not crashes.
    EXPECT_THROW(modelFromBytes(bytes.substr(0, bytes.size() / 2)), InputError);
    EXPECT_THROW(modelFromBytes("not a model"), InputError);
    std::string wrongMagic = bytes;
    wrongMagic[wrongMagic.find("hlstm.model")] = 'X';
    EXPECT_THROW(modelFromBytes(wrongMagic), InputError);
}

// lr = 1e6 saturates the cells and blows the head up: a failed candidate, never an exception.
TEST_F(Training, DivergingLearningRateIsAFailedCandidate) {
    TrainConfig train = quickTraining();
    train.lr = 1e6;
    train.epochs = 3;
    for (CellKind cell : {CellKind::kLstm, CellKind::kRnn}) {
        ModelConfig config = smallLstm();
        config.cell = cell;
        Model model;
        ASSERT_NO_THROW(model = fit(view_, config, train, 1));
        EXPECT_EQ(model.summary.status, FitStatus::kDiverged) << toString(cell);
        EXPECT_TRUE(std::isinf(model.summary.validationMae));
        EXPECT_FALSE(model.summary.ok());
    }
}

TEST_F(Training, EarlyStoppingKeepsTheBestEpoch) {
    TrainConfig train = quickTraining();
    train.epochs = 12;
    train.lr = 3e-2;
    train.earlyStopPatience = 2;
    const Model model = fit(view_, smallLstm(), train, 8);
    ASSERT_TRUE(model.summary.ok());
    EXPECT_GE(model.summary.bestEpoch, 1);
    EXPECT_LE(model.summary.bestEpoch, model.summary.epochs);
    EXPECT_LE(model.summary.epochs - model.summary.bestEpoch, train.earlyStopPatience);
    // The reported MAE is that of the weights kept.
    const PointSplit split = splitPoints(kPoints, train.validationFraction, 8);
    const SampleSet validation = makeSamples(view_, split.validation, smallLstm(), train.sampling, train.stride);
    EXPECT_DOUBLE_EQ(meanAbsoluteError(model, validation, 1), model.summary.validationMae);
}

// Checkpoint and resume inside a fit: stopped at every k-th minibatch boundary (the state is
// saved, StopRequested thrown) and continued from that state, the fit ends with the same
// weights, losses and validation MAE, bit for bit, as without stops; with early stopping too.
TEST_F(Training, StoppedAndResumedFitEqualsTheUninterruptedOne) {
    for (int patience : {0, 2}) {
        TrainConfig train = quickTraining();
        train.epochs = 6;
        train.earlyStopPatience = patience;
        const PointSplit split = splitPoints(kPoints, train.validationFraction, 5);
        const Model whole = fit(view_, split, smallLstm(), train, 5);
        ASSERT_TRUE(whole.summary.ok());
        int boundary = 0, stops = 0;
        TrainState saved;
        bool have = false;
        Interruption interruption;
        interruption.poll = [&] {
            return ++boundary % 7 == 0 ? Interruption::Action::kStop : Interruption::Action::kGoOn;
        };
        interruption.save = [&](const TrainState& state) {
            saved = state;
            have = true;
        };
        Model resumed;
        for (;;) {
            interruption.resume = have ? &saved : nullptr;
            try {
                resumed = fit(view_, split, smallLstm(), train, 5, nullptr, &interruption);
                break;
            } catch (const StopRequested&) {
                ++stops;
                ASSERT_LT(stops, 1000);
            }
        }
        EXPECT_GE(stops, 5) << "patience " << patience;
        EXPECT_EQ(resumed.parameters.weightsLayer, whole.parameters.weightsLayer) << "patience " << patience;
        EXPECT_EQ(resumed.parameters.weightsIter, whole.parameters.weightsIter);
        EXPECT_EQ(resumed.parameters.dense, whole.parameters.dense);
        EXPECT_EQ(resumed.summary.trainLoss, whole.summary.trainLoss);
        EXPECT_EQ(resumed.summary.validationMae, whole.summary.validationMae);
        EXPECT_EQ(resumed.summary.bestEpoch, whole.summary.bestEpoch);
        EXPECT_EQ(resumed.summary.epochs, whole.summary.epochs);
    }
}

// Warm start (hlstm update): a fit of N epochs continued for M more from its model (weights,
// Adam's moments and step, the shuffle stream, all kept in the model and its bytes) ends with
// the weights of one fit of N + M epochs on the same samples, bit for bit; continued with a
// fresh Adam it does not. One training window, so that the minibatch order (which the model
// does not keep: an update trains on other windows) is the same in both.
TEST_F(Training, WarmStartContinuesTheFitBitForBit) {
    TrainConfig train = quickTraining();
    ModelConfig config = smallLstm();
    const std::vector<std::size_t> trainRows{7}, validationRows{1, 2, 3, 4, 5};
    calibrateScaling(view_, trainRows, config);
    const SampleSet trainSet = makeSamples(view_, trainRows, config, Sampling::kLatest, 1);
    const SampleSet validationSet = makeSamples(view_, validationRows, config, Sampling::kLatest, 1);
    ASSERT_EQ(trainSet.size(), 1u);
    train.epochs = 6;
    const Model whole = fit(trainSet, validationSet, config, train, 5);
    train.epochs = 4;
    const Model first = fit(trainSet, validationSet, config, train, 5);
    ASSERT_TRUE(whole.summary.ok() && first.summary.ok());
    ASSERT_FALSE(first.optimizer.empty());
    EXPECT_EQ(first.optimizer.step, 4u);  // one minibatch per epoch
    // The optimizer state survives the bytes stored in /models.
    const Model loaded = modelFromBytes(toBytes(first));
    EXPECT_EQ(loaded.optimizer.moments, first.optimizer.moments);
    EXPECT_EQ(loaded.optimizer.step, first.optimizer.step);
    EXPECT_EQ(loaded.optimizer.shuffle, first.optimizer.shuffle);

    train.epochs = 2;
    const Model continued = fit(trainSet, validationSet, config, train, 77, &loaded);
    ASSERT_TRUE(continued.summary.ok());
    EXPECT_EQ(continued.parameters.weightsLayer, whole.parameters.weightsLayer);
    EXPECT_EQ(continued.parameters.weightsIter, whole.parameters.weightsIter);
    EXPECT_EQ(continued.parameters.dense, whole.parameters.dense);
    EXPECT_EQ(continued.parameters.denseBias, whole.parameters.denseBias);
    EXPECT_EQ(continued.summary.validationMae, whole.summary.validationMae);
    EXPECT_EQ(continued.optimizer.step, 6u);
    EXPECT_EQ(continued.optimizer.moments, whole.optimizer.moments);

    // The same weights with a fresh Adam (what an update did before the state was kept) differ.
    Model fresh = loaded;
    fresh.optimizer = {};
    const Model restarted = fit(trainSet, validationSet, config, train, 5, &fresh);
    EXPECT_NE(restarted.parameters.weightsLayer, whole.parameters.weightsLayer);
    EXPECT_EQ(restarted.optimizer.step, 2u);
}

// Honest protocol: the last epoch is hidden, the model forecasts it from the visible part.
TEST_F(Training, ForecastOfAHiddenEpochBeatsPersistence) {
    const std::vector<float> full = syntheticSeries(kPoints, kEpochs + 1, 0.5, 3);
    std::vector<float> visible(kPoints * kEpochs);
    for (std::size_t p = 0; p < kPoints; ++p) {
        std::copy_n(full.begin() + p * (kEpochs + 1), kEpochs, visible.begin() + p * kEpochs);
    }
    visible[5 * kEpochs + kEpochs - 3] = std::nanf("");  // point 5 has a gap in its last window
    const SeriesView view{visible.data(), kPoints, kEpochs};
    const Model model = fit(view, smallLstm(), quickTraining(), 12);
    ASSERT_TRUE(model.summary.ok());
    const Forecast f = forecast(model, view, 1);
    ASSERT_EQ(f.points(), kPoints);
    EXPECT_EQ(f.valid[5], 0);
    EXPECT_TRUE(std::isnan(f.cumulative[5]));
    double mae = 0, persistence = 0;
    std::size_t n = 0;
    for (std::size_t p = 0; p < kPoints; ++p) {
        if (!f.valid[p]) continue;
        const float* c = full.data() + p * (kEpochs + 1);
        EXPECT_FLOAT_EQ(f.cumulative[p], c[kEpochs - 1] + f.differential[p]);
        mae += std::abs(f.cumulative[p] - c[kEpochs]);
        persistence += std::abs((c[kEpochs - 1] + (c[kEpochs - 1] - c[kEpochs - 2])) - c[kEpochs]);
        ++n;
    }
    EXPECT_EQ(n, kPoints - 1);
    std::printf("hidden-epoch forecast MAE %.4f mm, persistence %.4f mm\n", mae / n, persistence / n);
    EXPECT_LT(mae, 0.8 * persistence);
}

TEST_F(Training, ShortSeriesGiveNoSamplesNotAnError) {
    const SeriesView shortView{series_.data(), kPoints, 10};  // 9 differentials < L = 13
    const Model model = fit(shortView, smallLstm(), quickTraining(), 1);
    EXPECT_EQ(model.summary.status, FitStatus::kNoSamples);
    EXPECT_EQ(model.summary.trainSamples, 0u);
}

}  // namespace
}  // namespace hlstm::model
