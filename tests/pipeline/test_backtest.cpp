// hlstm backtest end to end, through the real program under mpiexec: its last origin is the
// run's own holdout, and its table does not depend on the number of ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "scene_suite.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid, Y = 3 hidden epochs per origin.
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1 --run.baselines all --run.holdout 3 --model.horizon 3";
constexpr int kOrigins = 3, kY = 3, kEpochs = 50;

class BacktestTest : public SceneSuite<BacktestTest> {
protected:
    static void SetUpTestSuite() { simulate("--points 3000 --epochs " + std::to_string(kEpochs) + " --seed 5"); }
    static CommandResult hlstm(int ranks, const std::string& command, const std::string& out,
                               const std::string& extra = kFast) {
        return hlstmOnScene(ranks, command, out, extra);
    }
};

std::vector<double> doubles(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<double>();
}

}  // namespace

TEST_F(BacktestTest, LastOriginIsTheRunsHoldoutAndTheTableIsTheSameAtOneAndThreeRanks) {
    const std::string runOut = dir_->file("run.h5"), bt1 = dir_->file("bt1.h5"), bt3 = dir_->file("bt3.h5");
    auto r = hlstm(2, "run", runOut);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(1, "backtest --origins " + std::to_string(kOrigins), bt1);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("mean +- sd over 3 origins"), std::string::npos) << r.output;
    r = hlstm(3, "backtest --origins " + std::to_string(kOrigins), bt3);
    ASSERT_EQ(r.exitCode, 0) << r.output;

    h5::File bt(bt1, h5::Access::kReadOnly);
    const auto methods = bt.readStrings(output::backtest::kMethod);
    h5::File ro(runOut, h5::Access::kReadOnly);
    const auto positionNames = ro.readStrings(output::baselines::kPositionName);
    ASSERT_EQ(methods.size(), positionNames.size() + 1);
    EXPECT_EQ(methods[0], "hlstm");
    for (std::size_t k = 0; k < positionNames.size(); ++k) EXPECT_EQ(methods[k + 1], positionNames[k]);
    const std::size_t M = methods.size();

    // Origins S = Y epochs apart, the last one's last visible epoch the run's.
    const auto dates = bt.openDataset(output::backtest::kOriginDates).readAll<std::int32_t>();
    const auto inputDates = [&] {
        h5::File in(scene(), h5::Access::kReadOnly);
        return in.openDataset("/dates").readAll<std::int32_t>();
    }();
    ASSERT_EQ(dates.size(), static_cast<std::size_t>(kOrigins));
    for (int o = 0; o < kOrigins; ++o)
        EXPECT_EQ(dates[static_cast<std::size_t>(o)],
                  inputDates[static_cast<std::size_t>(kEpochs - kY - 1 - (kOrigins - 1 - o) * kY)]);

    // The last origin's per-step position MAE of HLSTM and of every baseline: the run's /metrics.
    for (const bool truth : {false, true}) {
        const auto mae = doubles(bt1, truth ? output::backtest::kMaeTruth : output::backtest::kMae);
        ASSERT_EQ(mae.size(), M * kOrigins * kY);
        const auto runMae =
            doubles(runOut, truth ? output::metrics::kPositionStepMaeTruth : output::metrics::kPositionStepMae);
        const auto runBase =
            doubles(runOut, truth ? output::baselines::kPositionStepMaeTruth : output::baselines::kPositionStepMae);
        ASSERT_EQ(runMae.size(), static_cast<std::size_t>(kY));
        const auto at = [&](std::size_t k, int o, int y) {
            return mae[(k * kOrigins + static_cast<std::size_t>(o)) * kY + static_cast<std::size_t>(y)];
        };
        for (int y = 0; y < kY; ++y) {
            EXPECT_NEAR(at(0, kOrigins - 1, y), runMae[static_cast<std::size_t>(y)], 1e-6) << "step " << y + 1;
            for (std::size_t k = 1; k < M; ++k)
                EXPECT_NEAR(at(k, kOrigins - 1, y), runBase[(k - 1) * kY + static_cast<std::size_t>(y)], 1e-6)
                    << methods[k] << " step " << y + 1;
            // An earlier origin is another forecast: its error is not the last one's.
            EXPECT_GT(std::abs(at(0, 0, y) - at(0, kOrigins - 1, y)), 1e-6);
            EXPECT_TRUE(std::isfinite(at(0, 0, y)) && at(0, 0, y) > 0);
        }
    }
    const auto coverage = doubles(bt1, output::backtest::kCoverage);
    ASSERT_EQ(coverage.size(), static_cast<std::size_t>(kOrigins * kY));
    for (double c : coverage) EXPECT_TRUE(c > 0.5 && c <= 1.0) << c;

    // Identical at 1 and 3 ranks.
    for (const char* ds : {output::backtest::kMae, output::backtest::kMaeTruth, output::backtest::kCoverage})
        EXPECT_EQ(doubles(bt1, ds), doubles(bt3, ds)) << ds;
}

// input.reference_atmosphere = remove re-references the whole archive at read, from the epochs
// nearest the reference one only: every origin sees the same series, the last origin is still
// the run's holdout and the table is the same at 1 and 3 ranks; against the truth the positions
// move (every level loses the estimated constant).
TEST_F(BacktestTest, WithTheReferenceAtmosphereRemovedTheLastOriginIsStillTheRunsHoldout) {
    const std::string extra = kFast + " --input.reference_atmosphere remove";
    const std::string runOut = dir_->file("ra_run.h5"), plain = dir_->file("ra_plain.h5");
    const std::string bt1 = dir_->file("ra_bt1.h5"), bt3 = dir_->file("ra_bt3.h5");
    auto r = hlstm(2, "run", runOut, extra);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("reference atmosphere (input.reference_atmosphere = remove): epoch 0"), std::string::npos)
        << r.output;
    r = hlstm(2, "run", plain);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(1, "backtest --origins " + std::to_string(kOrigins), bt1, extra);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "backtest --origins " + std::to_string(kOrigins), bt3, extra);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    {
        h5::File ro(runOut, h5::Access::kReadOnly), po(plain, h5::Access::kReadOnly);
        EXPECT_EQ(ro.readStringAttribute(output::attr::kReferenceAtmosphere), "remove");
        EXPECT_EQ(po.readStringAttribute(output::attr::kReferenceAtmosphere), "off");
    }
    const std::size_t M = doubles(bt1, output::backtest::kMae).size() / (kOrigins * kY);
    for (const bool truth : {false, true}) {
        const auto mae = doubles(bt1, truth ? output::backtest::kMaeTruth : output::backtest::kMae);
        const auto runMae =
            doubles(runOut, truth ? output::metrics::kPositionStepMaeTruth : output::metrics::kPositionStepMae);
        const auto plainMae =
            doubles(plain, truth ? output::metrics::kPositionStepMaeTruth : output::metrics::kPositionStepMae);
        ASSERT_EQ(runMae.size(), static_cast<std::size_t>(kY));
        double moved = 0;
        for (int y = 0; y < kY; ++y) {
            const auto k = static_cast<std::size_t>(y);
            EXPECT_NEAR(mae[(kOrigins - 1) * kY + k], runMae[k], 1e-6) << "step " << y + 1;
            moved = std::max(moved, std::abs(runMae[k] - plainMae[k]));
        }
        if (truth) {
            EXPECT_GT(moved, 0.05);  // the scene's reference field is a few mm
        }
    }
    ASSERT_GT(M, 1u);
    for (const char* ds : {output::backtest::kMae, output::backtest::kMaeTruth, output::backtest::kCoverage})
        EXPECT_EQ(doubles(bt1, ds), doubles(bt3, ds)) << ds;
}

TEST_F(BacktestTest, TooManyOriginsAreRefusedNamingTheInputAndLeaveNoOutput) {
    const std::string out = dir_->file("too_many.h5");
    auto r = hlstm(2, "backtest --origins 20", out);  // 19 x 3 + 3 epochs > 50
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find(scene()), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("cannot hold 20 origins"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

// --strategy frozen: the first origin is the refit one; a later origin is forecast by the first
// origin's methods as `hlstm predict` with that origin's run forecasts it (no refitting).
TEST_F(BacktestTest, FrozenFirstOriginIsRefitsAndLaterOnesArePredictWithTheFirstOriginsModels) {
    // The default baselines: the learned ones (global LSTM, RNN) are not refitted by frozen.
    const std::string flags =
        " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
        "--train.threads 1 --run.holdout 3 --model.horizon 3";
    constexpr int kN = 2, kStride = 4;
    const std::string common =
        "backtest --origins " + std::to_string(kN) + " --origin-stride " + std::to_string(kStride);
    const std::string input = scene();  // with its gaps: a cut refills them from the left, as input.until does
    const auto hl = [&](int ranks, const std::string& command, const std::string& out) {
        return run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " " + command + " --input " + input + " -o " +
                       out + flags,
                   300);
    };
    const std::string refit = dir_->file("refit.h5"), frozen1 = dir_->file("frozen1.h5"),
                      frozen3 = dir_->file("frozen3.h5"), first = dir_->file("first.h5"), pred = dir_->file("pred.h5");
    auto r = hl(2, common, refit);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hl(1, common + " --strategy frozen", frozen1);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hl(3, common + " --strategy frozen", frozen3);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = run(std::string("h5dump -a ") + output::backtest::kGroup + "/" + output::backtest::kAttrStrategy + " " +
            frozen1);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("\"frozen\""), std::string::npos) << r.output;
    const auto methods = [&] {
        h5::File f(frozen1, h5::Access::kReadOnly);
        return f.readStrings(output::backtest::kMethod);
    }();
    const std::size_t M = methods.size();
    const auto at = [&](const std::vector<double>& v, std::size_t k, int o, int y) {
        return v[(k * kN + static_cast<std::size_t>(o)) * kY + static_cast<std::size_t>(y)];
    };
    const auto fz = doubles(frozen1, output::backtest::kMaeTruth), rf = doubles(refit, output::backtest::kMaeTruth);
    ASSERT_EQ(fz.size(), M * kN * kY);
    ASSERT_EQ(rf.size(), fz.size());
    bool differs = false;
    for (int y = 0; y < kY; ++y) {
        // The first origin: the same fit as refit's.
        for (std::size_t k = 0; k < M; ++k)
            EXPECT_NEAR(at(fz, k, 0, y), at(rf, k, 0, y), 1e-6) << methods[k] << " step " << y + 1;
        differs = differs || std::abs(at(fz, 0, 1, y) - at(rf, 0, 1, y)) > 1e-6;
    }
    EXPECT_TRUE(differs) << "the frozen later origin equals the refitted one: was it refitted?";
    for (const char* ds : {output::backtest::kMae, output::backtest::kMaeTruth, output::backtest::kCoverage})
        EXPECT_EQ(doubles(frozen1, ds), doubles(frozen3, ds)) << ds;

    // The first origin as a run (its hidden epochs the input's last), then predict with its models
    // on the input as of the second origin: HLSTM's position MAE there is the frozen one.
    h5::File in(input, h5::Access::kReadOnly);
    const auto dates = in.openDataset("/dates").readAll<std::int32_t>();
    const std::size_t m = dates.size(), v2 = m - kY, v1 = v2 - kStride;
    r = hl(2, "run --input.until " + std::to_string(dates[v1 + kY - 1]), first);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " predict --models " + first + " --input " + input + " -o " +
                pred + " --input.until " + std::to_string(dates[v2 - 1]),
            300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto ids = in.openDataset("/id").readAll<std::int64_t>();
    const auto truth = in.openDataset("/truth").readAll<float>();
    h5::File p(pred, h5::Access::kReadOnly);
    const auto pid = p.openDataset(output::points::kId).readAll<std::int64_t>();
    const auto next = p.openDataset(output::forecast::kNextCumulative).readAll<float>();
    std::map<std::int64_t, std::size_t> rowOf;
    for (std::size_t i = 0; i < ids.size(); ++i) rowOf[ids[i]] = i;
    for (int y = 0; y < kY; ++y) {
        double sum = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < pid.size(); ++i) {
            const float v = next[i * kY + static_cast<std::size_t>(y)];
            const float t = truth[rowOf.at(pid[i]) * m + v2 + static_cast<std::size_t>(y)];
            if (!std::isfinite(v) || !std::isfinite(t)) continue;
            sum += std::abs(static_cast<double>(v) - t);
            ++n;
        }
        ASSERT_GT(n, 1000u);
        EXPECT_NEAR(at(fz, 0, 1, y), sum / static_cast<double>(n), 1e-4) << "step " << y + 1;
    }
}
