// run.refit (src/pipeline/refit_stage.cpp) end to end, through the real program under mpiexec:
// each learned winner is fine-tuned after the out-of-time selection on the windows the
// selection's epochs complete, warm-started from the selected model; the refitted model forecasts
// and is stored, the judged choices and the intervals stay the selected model's, and the result
// does not depend on the number of ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/model/samples.hpp"
#include "scene_suite.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid, Y = 3; the default sampling (every 6th window) and 8
// consecutive selection cuts (smoothing 5: the candidates train on the visible epochs minus 12);
// the paper's baselines and the signal target, so that learned models win subregions to refit
// (with local_annual, or the local target's residuals from it, the baselines win them all on
// this scene).
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1 --run.holdout 3 --model.horizon 3 --run.cut_stride 1 --model.target signal --run.baselines "
    "persistence,window_mean,velocity,linear_trend,ses,ar,mlr";
constexpr int kY = 3, kEpochs = 50, kBatch = 64, kRefitEpochs = 3;
constexpr std::size_t kWindowsPerPoint = 2;  // epochs 12 and 6 before the last visible one (stride 6)

class RefitTest : public SceneSuite<RefitTest> {
protected:
    static void SetUpTestSuite() { simulate("--points 3000 --epochs " + std::to_string(kEpochs) + " --seed 5"); }
    static CommandResult hlstm(int ranks, const std::string& command, const std::string& out,
                               const std::string& extra) {
        return hlstmOnScene(ranks, command, out, kFast + extra);
    }
};

template <class T> std::vector<T> all(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<T>();
}

// /models of an output, by subregion.
std::map<std::int32_t, model::Model> modelsOf(const std::string& file) {
    const auto sub = all<std::int32_t>(file, output::models::kSubregion);
    const auto offset = all<std::uint64_t>(file, output::models::kOffset);
    const auto size = all<std::uint64_t>(file, output::models::kSize);
    const auto bytes = all<std::uint8_t>(file, output::models::kBytes);
    std::map<std::int32_t, model::Model> out;
    for (std::size_t k = 0; k < sub.size(); ++k)
        out.emplace(sub[k], model::modelFromBytes(
                                std::string(bytes.begin() + static_cast<std::ptrdiff_t>(offset[k]),
                                            bytes.begin() + static_cast<std::ptrdiff_t>(offset[k] + size[k]))));
    return out;
}

std::size_t differing(const std::vector<float>& a, const std::vector<float>& b) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < a.size(); ++k) n += std::abs(a[k] - b[k]) > 1e-5f ? 1 : 0;
    return n;
}

// The same values, NaN (a point not forecast) where the other has NaN.
bool same(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
        if (!(a[k] == b[k] || (std::isnan(a[k]) && std::isnan(b[k])))) return false;
    return true;
}

}  // namespace

TEST_F(RefitTest, TheLearnedWinnersAreFineTunedWarmOnTheSelectionsWindowsAndForecastAlikeAtOneAndThreeRanks) {
    const std::string plain = dir_->file("plain.h5"), refit1 = dir_->file("refit1.h5"),
                      refit3 = dir_->file("refit3.h5"), pred = dir_->file("pred.h5");
    const std::string refit = " --run.refit finetune --run.refit_epochs " + std::to_string(kRefitEpochs);
    auto r = hlstm(2, "run", plain, "");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(1, "run", refit1, refit);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("refitted (run.refit = finetune)"), std::string::npos) << r.output;
    r = hlstm(3, "run", refit3, refit);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    {
        h5::File a(plain, h5::Access::kReadOnly), b(refit1, h5::Access::kReadOnly);
        EXPECT_EQ(a.readStringAttribute(output::attr::kRefit), "none");
        EXPECT_EQ(b.readStringAttribute(output::attr::kRefit), "finetune");
    }

    // The choices are made before the refit: methods, scores, mixes, position choices and the
    // intervals (the selected model's out-of-time residuals) are the unrefitted run's.
    EXPECT_EQ(all<double>(plain, output::subregions::kSelectionScore),
              all<double>(refit1, output::subregions::kSelectionScore));
    EXPECT_EQ(all<std::int32_t>(plain, output::subregions::kPositionChoice),
              all<std::int32_t>(refit1, output::subregions::kPositionChoice));
    EXPECT_TRUE(same(all<float>(plain, output::subregions::kIntervalHalfwidth),
                     all<float>(refit1, output::subregions::kIntervalHalfwidth)));
    h5::File pf(plain, h5::Access::kReadOnly);
    const auto method = pf.readStrings(output::subregions::kMethod);
    const auto ids = all<std::int32_t>(plain, output::subregions::kId);
    ASSERT_EQ(h5::File(refit1, h5::Access::kReadOnly).readStrings(output::subregions::kMethod), method);

    // Each learned winner: the refitted model continues the selected one (its Adam steps go on
    // from the selected model's, 3 epochs of minibatches of the new windows), trained on two
    // windows per train point (the latest window at the last visible epoch and 6 before it).
    const auto before = modelsOf(plain), after = modelsOf(refit1), after3 = modelsOf(refit3);
    const auto counts = all<std::uint64_t>(plain, output::subregions::kNPoints);
    std::size_t learned = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::int32_t s = ids[i];
        if (before.count(s) == 0) continue;
        const model::Model &start = before.at(s), &tuned = after.at(s);
        EXPECT_EQ(model::toBytes(tuned), model::toBytes(after3.at(s))) << "subregion " << s << ": 1 vs 3 ranks";
        if (method[i] != "lstm") {  // a baseline won: its stored candidate is not refitted
            EXPECT_EQ(model::toBytes(tuned), model::toBytes(start)) << "subregion " << s;
            continue;
        }
        ++learned;
        const std::size_t train = model::splitPoints(counts[i], 0.3, 0).train.size();
        EXPECT_EQ(tuned.summary.trainSamples, kWindowsPerPoint * train) << "subregion " << s;
        EXPECT_EQ(tuned.summary.epochs, kRefitEpochs) << "subregion " << s;
        const std::uint64_t batches = (tuned.summary.trainSamples + kBatch - 1) / kBatch;
        EXPECT_EQ(tuned.optimizer.step, start.optimizer.step + kRefitEpochs * batches) << "subregion " << s;
        EXPECT_NE(tuned.parameters.dense, start.parameters.dense) << "subregion " << s;
    }
    ASSERT_GT(learned, 0u) << "no learned winner on this scene: nothing was refitted";

    // The refitted models forecast: the hidden and next epochs move, identically at 1 and 3 ranks,
    // and `hlstm predict` with the stored models gives the run's next differentials.
    for (const char* ds : {output::forecast::kHoldoutPred, output::forecast::kNextDiff}) {
        const auto a = all<float>(plain, ds), b = all<float>(refit1, ds);
        EXPECT_GT(differing(a, b), 100u) << ds;
        EXPECT_TRUE(same(b, all<float>(refit3, ds))) << ds << ": 1 vs 3 ranks";
    }
    r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " predict --models " + refit1 + " --input " + scene() +
                " -o " + pred,
            300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_EQ(differing(all<float>(pred, output::forecast::kNextDiff), all<float>(refit1, output::forecast::kNextDiff)),
              0u);
}

TEST_F(RefitTest, TheBacktestsLastOriginIsTheRefittedRun) {
    const std::string runOut = dir_->file("bt_run.h5"), bt = dir_->file("bt.h5");
    const std::string refit = " --run.refit finetune";
    auto r = hlstm(2, "run", runOut, refit);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "backtest --origins 2", bt, refit);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto mae = all<double>(bt, output::backtest::kMaeTruth);
    const auto runMae = all<double>(runOut, output::metrics::kPositionStepMaeTruth);
    ASSERT_EQ(runMae.size(), static_cast<std::size_t>(kY));
    for (int y = 0; y < kY; ++y)  // method 0 (hlstm), origin 1 of 2
        EXPECT_NEAR(mae[static_cast<std::size_t>(2 - 1) * kY + static_cast<std::size_t>(y)],
                    runMae[static_cast<std::size_t>(y)], 1e-6)
            << "step " << y + 1;
}
