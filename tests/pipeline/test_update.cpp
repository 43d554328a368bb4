// input.until / input.exclude_dates and hlstm update, end to end through the real program
// under mpiexec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/model/model.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid (as test_run); consecutive cuts and the paper's baselines, so
// that learned models win subregions to fine-tune (with local_annual the baselines win them all).
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1 --run.cut_stride 1 --run.baselines persistence,window_mean,velocity,linear_trend,ses,ar,mlr";

// Writes the first `epochs` epochs of a native scene (every dataset, /truth too) to `out`; the
// displacement of the points `jump` selects moves by `jumpMm` from epoch `jumpFrom` on.
void writeTruncated(const std::string& in, const std::string& out, std::size_t epochs,
                    const std::vector<bool>& jump = {}, std::size_t jumpFrom = 0, float jumpMm = 0) {
    h5::File src(in, h5::Access::kReadOnly);
    const auto dates = src.openDataset("/dates").readAll<std::int32_t>();
    const std::uint64_t n = src.openDataset("/x").dims()[0], m = dates.size();
    h5::File dst(out, h5::Access::kCreate);
    dst.writeSmall<double>("/x", src.openDataset("/x").readAll<double>());
    dst.writeSmall<double>("/y", src.openDataset("/y").readAll<double>());
    dst.writeSmall<std::int64_t>("/id", src.openDataset("/id").readAll<std::int64_t>());
    dst.writeSmall<std::int32_t>("/dates", std::vector<std::int32_t>(dates.begin(), dates.begin() + epochs));
    for (const std::string name : {"/displacement", "/truth"}) {
        const auto all = src.openDataset(name).readAll<float>();
        std::vector<float> cut;
        for (std::uint64_t i = 0; i < n; ++i) cut.insert(cut.end(), all.begin() + i * m, all.begin() + i * m + epochs);
        if (name == std::string("/displacement"))
            for (std::uint64_t i = 0; i < n && !jump.empty(); ++i)
                for (std::size_t t = jumpFrom; t < epochs && jump[i]; ++t) cut[i * epochs + t] += jumpMm;
        dst.createDataset<float>(name, {n, epochs}).writeRows(0, n, cut.data());
    }
    dst.writeObjectStringAttribute("/displacement", "unit",
                                   src.openDataset("/displacement").readStringAttribute("unit"));
    if (src.hasAttribute("crs")) dst.writeAttribute("crs", src.readStringAttribute("crs"));
}

class UpdateTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        auto r = run(hlstmUnderMpi(2) + " simulate --points 3000 --epochs 48 --seed 5 -o " + scene());
        ASSERT_EQ(r.exitCode, 0) << r.output;
        h5::File f(scene(), h5::Access::kReadOnly);
        dates_ = f.openDataset("/dates").readAll<std::int32_t>();
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string scene() { return dir_->file("scene.h5"); }
    static CommandResult hlstm(int ranks, const std::string& args, int timeout = 300) {
        return run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " " + args, timeout);
    }
    static TempDir* dir_;
    static std::vector<std::int32_t> dates_;
};
TempDir* UpdateTest::dir_ = nullptr;
std::vector<std::int32_t> UpdateTest::dates_;

}  // namespace

TEST_F(UpdateTest, UntilEqualsARunOnTheTruncatedFile) {
    const std::size_t keep = 44;
    const std::string cut = dir_->file("cut44.h5");
    writeTruncated(scene(), cut, keep);
    const std::string ref = dir_->file("ref44.h5");
    auto r = hlstm(1, "run --input " + cut + " -o " + ref + kFast);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    for (int ranks : {1, 3}) {
        const std::string out = dir_->file("until" + std::to_string(ranks) + ".h5");
        r = hlstm(ranks, "run --input " + scene() + " -o " + out + kFast + " --input.until " +
                             std::to_string(dates_[keep - 1]));
        ASSERT_EQ(r.exitCode, 0) << r.output;
        EXPECT_NE(r.output.find("44 of 48 acquisitions kept"), std::string::npos) << r.output;
        for (const char* group : {"/forecast", "/points", "/subregions", "/baselines"}) {
            auto d = run(std::string("h5diff ") + ref + " " + out + " " + group + " " + group);
            EXPECT_EQ(d.exitCode, 0) << group << " at " << ranks << " rank(s):\n" << d.output;
        }
    }
    // The comparison can fail: a run on the whole scene forecasts other dates.
    const std::string whole = dir_->file("whole.h5");
    ASSERT_EQ(hlstm(1, "run --input " + scene() + " -o " + whole + kFast).exitCode, 0);
    EXPECT_EQ(run("h5diff -q " + ref + " " + whole + " /forecast /forecast").exitCode, 1);
    // Leaving out an acquisition is the same as a file without it: predict on both.
    const std::string p1 = dir_->file("p1.h5"), p2 = dir_->file("p2.h5");
    r = hlstm(2, "predict --models " + ref + " --input " + scene() + " -o " + p1 + " --input.until " +
                     std::to_string(dates_[45]) + " --input.exclude_dates " + std::to_string(dates_[44]) + "," +
                     std::to_string(dates_[45]));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(2, "predict --models " + ref + " --input " + cut + " -o " + p2);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    auto d = run("h5diff " + p1 + " " + p2 + " /forecast /forecast");
    EXPECT_EQ(d.exitCode, 0) << d.output;
}

TEST_F(UpdateTest, UntilOutsideTheArchiveOrTooFewEpochsIsRefused) {
    const std::string out = dir_->file("bad.h5");
    auto r = hlstm(2, "run --input " + scene() + " -o " + out + kFast + " --input.until 20990101");
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("input.until = 20990101 lies outside the archive"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    r = hlstm(1, "info " + scene() + " --input.until " + std::to_string(dates_[0]));
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("leave 1 acquisition(s)"), std::string::npos) << r.output;
    r = hlstm(1, "info " + scene() + " --input.exclude_dates 20000102");
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("20000102 is not an acquisition date"), std::string::npos) << r.output;
    r = hlstm(1, "info " + scene() + " --input.until " + std::to_string(dates_[30]));
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("31 of 48 acquisitions kept"), std::string::npos) << r.output;
}

TEST_F(UpdateTest, PredictWritesTheRunsIntervals) {
    // Predict with a run's models on the run's own input: the run's positions and intervals.
    const std::string prev = dir_->file("interval-run.h5"), pred = dir_->file("interval-pred.h5");
    auto r = hlstm(1, "run --input " + scene() + " -o " + prev + kFast);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "predict --models " + prev + " --input " + scene() + " -o " + pred);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File a(prev, h5::Access::kReadOnly), b(pred, h5::Access::kReadOnly);
    std::size_t finite = 0;
    for (const char* name : {"/forecast/next_cumulative", "/forecast/interval_low", "/forecast/interval_high"}) {
        const auto want = a.openDataset(name).readAll<float>(), got = b.openDataset(name).readAll<float>();
        ASSERT_EQ(want.size(), got.size()) << name;
        for (std::size_t i = 0; i < want.size(); ++i) {
            if (std::isnan(want[i])) {
                ASSERT_TRUE(std::isnan(got[i])) << name << " " << i;
                continue;
            }
            ASSERT_EQ(want[i], got[i]) << name << " " << i;
            ++finite;
        }
    }
    EXPECT_GT(finite, 3u * 2900u);
    // The width is the subregion's half-width: low < next < high where the run has an interval.
    const auto lo = b.openDataset("/forecast/interval_low").readAll<float>();
    const auto hi = b.openDataset("/forecast/interval_high").readAll<float>();
    EXPECT_LT(lo[0], hi[0]);
}

namespace {

std::vector<std::int64_t> ids(const std::string& file) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(f.exists("/points/id") ? "/points/id" : "/id").readAll<std::int64_t>();
}
std::vector<float> floats(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<float>();
}
std::vector<double> doubles(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<double>();
}

}  // namespace

class UpdateChainTest : public UpdateTest {
protected:
    // PREV: a run as of epoch 44 (of 48); NEW: the scene up to epoch 45 (one new acquisition).
    static void SetUpTestSuite() {
        UpdateTest::SetUpTestSuite();
        auto r = hlstm(1, "run --input " + scene() + " -o " + prev() + kFast + " --input.until " + until(44));
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static std::string prev() { return dir_->file("prev.h5"); }
    static std::string until(std::size_t epoch) { return std::to_string(dates_[epoch]); }
    static CommandResult update(int ranks, const std::string& out, const std::string& extra = "",
                                const std::string& models = prev()) {
        return hlstm(ranks, "update --models " + models + " --input " + scene() + " -o " + out + " --input.until " +
                                until(45) + " --train.threads 1" + extra);
    }
};

TEST_F(UpdateChainTest, ScoresThePreviousForecastAsRecomputedFromItsFile) {
    const std::string next = dir_->file("next-score.h5");
    auto r = update(2, next);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(next, h5::Access::kReadOnly);
    ASSERT_EQ(f.openDataset("/update/scored_dates").readAll<std::int32_t>(), std::vector<std::int32_t>{dates_[45]});
    const auto methods = f.readStrings("/update/method");
    ASSERT_GT(methods.size(), 3u);
    EXPECT_EQ(methods[0], "hlstm");
    // Recompute HLSTM's from PREV's next_cumulative and intervals and NEW's values at epoch 45.
    const auto prevIds = ids(prev()), newIds = ids(scene());
    const auto nextCum = floats(prev(), "/forecast/next_cumulative");
    const auto low = floats(prev(), "/forecast/interval_low"), high = floats(prev(), "/forecast/interval_high");
    const auto disp = floats(scene(), "/displacement"), truth = floats(scene(), "/truth");
    const std::size_t m = dates_.size();
    std::map<std::int64_t, std::size_t> rowOf;
    for (std::size_t i = 0; i < newIds.size(); ++i) rowOf[newIds[i]] = i;
    double sum = 0, sumTruth = 0;
    std::size_t count = 0, countTruth = 0, inside = 0, judged = 0;
    for (std::size_t k = 0; k < prevIds.size(); ++k) {
        if (!std::isfinite(nextCum[k])) continue;
        const std::size_t i = rowOf.at(prevIds[k]);
        const float obs = disp[i * m + 45];
        sumTruth += std::abs(nextCum[k] - truth[i * m + 45]), ++countTruth;
        if (!std::isfinite(obs)) continue;
        sum += std::abs(nextCum[k] - obs), ++count;
        if (std::isfinite(low[k])) ++judged, inside += low[k] <= obs && obs <= high[k] ? 1 : 0;
    }
    ASSERT_GT(count, 2500u);
    const auto mae = doubles(next, "/update/mae"), maeTruth = doubles(next, "/update/mae_truth");
    EXPECT_NEAR(mae[0], sum / static_cast<double>(count), 1e-5);
    EXPECT_NEAR(maeTruth[0], sumTruth / static_cast<double>(countTruth), 1e-5);
    EXPECT_NEAR(doubles(next, "/update/coverage")[0], static_cast<double>(inside) / static_cast<double>(judged), 1e-12);
    // Each baseline has its own error (not a copy of HLSTM's).
    EXPECT_NE(mae[1], mae[0]);
    EXPECT_EQ(f.readStrings("/update/inputs").size(), 2u);
}

TEST_F(UpdateChainTest, WithoutTrainingOrReselectionItForecastsWhatPredictDoes) {
    const std::string next = dir_->file("next-frozen.h5"), pred = dir_->file("pred-frozen.h5");
    auto r = update(2, next, " --update.epochs 0 --update.reselect false");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(3, "predict --models " + prev() + " --input " + scene() + " -o " + pred + " --input.until " + until(45));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    for (const char* name : {"/forecast/next_diff", "/forecast/next_cumulative"}) {
        const auto a = floats(next, name), b = floats(pred, name);
        ASSERT_EQ(a.size(), b.size()) << name;
        std::size_t finite = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (std::isnan(b[i])) {
                ASSERT_TRUE(std::isnan(a[i])) << name << " " << i;
                continue;
            }
            ASSERT_EQ(a[i], b[i]) << name << " " << i;
            ++finite;
        }
        EXPECT_GT(finite, 2900u) << name;
    }
    // Fine-tuning changes the forecast (the comparison above can fail).
    const std::string tuned = dir_->file("next-tuned.h5");
    ASSERT_EQ(update(1, tuned, " --update.epochs 3 --update.reselect false").exitCode, 0);
    EXPECT_EQ(run("h5diff -q " + tuned + " " + next + " /forecast/next_diff /forecast/next_diff").exitCode, 1);
}

TEST_F(UpdateChainTest, DatesThatDoNotExtendTheEarlierOnesAreRefused) {
    const std::string out = dir_->file("refused.h5");
    // The same epochs as PREV: nothing new.
    auto r =
        hlstm(2, "update --models " + prev() + " --input " + scene() + " -o " + out + " --input.until " + until(44));
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("adds no epoch after " + until(44)), std::string::npos) << r.output;
    // A gap in the middle: epoch 20 missing.
    r = hlstm(2, "update --models " + prev() + " --input " + scene() + " -o " + out + " --input.until " + until(45) +
                     " --input.exclude_dates " + until(20));
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("date " + until(20) + " of " + prev() + " is missing"), std::string::npos) << r.output;
    // Ending before PREV's last date.
    r = hlstm(1, "update --models " + prev() + " --input " + scene() + " -o " + out + " --input.until " + until(40));
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("ends at " + until(40)), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST_F(UpdateChainTest, UpdatesAreIdenticalForOneToThreeRanksAndChain) {
    std::vector<std::string> outs;
    for (int ranks = 1; ranks <= 3; ++ranks) {
        outs.push_back(dir_->file("next" + std::to_string(ranks) + ".h5"));
        auto r = update(ranks, outs.back());
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    for (std::size_t k = 1; k < outs.size(); ++k) {
        auto d = run("h5diff --exclude-path /timing " + outs[0] + " " + outs[k]);
        EXPECT_EQ(d.exitCode, 0) << "1 vs " << k + 1 << " ranks:\n" << d.output;
    }
    // NEXT is an hlstm-output that the next update takes as --models.
    const std::string second = dir_->file("second.h5");
    auto r = hlstm(
        2, "update --models " + outs[0] + " --input " + scene() + " -o " + second + " --input.until " + until(46));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(second, h5::Access::kReadOnly);
    EXPECT_EQ(f.readStrings("/update/inputs").size(), 3u);
    EXPECT_EQ(f.openDataset("/update/scored_dates").readAll<std::int32_t>(), std::vector<std::int32_t>{dates_[46]});
    EXPECT_EQ(f.openDataset("/forecast/input_dates").readAll<std::int32_t>().size(), 47u);
    EXPECT_TRUE(f.exists("/models/bytes"));
}

// A subregion won by a model trained alone is forecast by every rank together (its holder
// sends each rank a slice of its rows and of its intervals' views: forecast_split.hpp); the
// update is the one rank's bit for bit. The grid's baselines are persistence alone, so that
// the models win.
TEST_F(UpdateChainTest, AModelWinnersForecastIsSharedByEveryRankAlike) {
    const std::string extra = " --run.baselines persistence";
    std::vector<std::string> outs, logs;
    for (int ranks : {1, 3}) {
        outs.push_back(dir_->file("shared" + std::to_string(ranks) + ".h5"));
        auto r = run("env OMP_NUM_THREADS=1 HLSTM_LOG=debug " + hlstmUnderMpi(ranks) + " update --models " + prev() +
                         " --input " + scene() + " -o " + outs.back() + " --input.until " + until(45) +
                         " --train.threads 1" + extra,
                     300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
        logs.push_back(r.output);
    }
    h5::File f(outs[0], h5::Access::kReadOnly);
    const auto method = f.readStrings("/subregions/method");
    const auto won = std::count_if(method.begin(), method.end(), [](const std::string& m) { return m == "lstm"; });
    ASSERT_GT(won, 0) << "no model won: nothing was shared";
    EXPECT_EQ(logs[0].find("shared among"), std::string::npos) << logs[0];
    // Every model-won subregion, each rank its slice.
    std::size_t shared = 0;
    for (std::size_t at = 0; (at = logs[1].find("shared among 3 ranks", at)) != std::string::npos; ++at) ++shared;
    EXPECT_EQ(shared, static_cast<std::size_t>(won)) << logs[1];
    auto d = run("h5diff --exclude-path /timing " + outs[0] + " " + outs[1]);
    EXPECT_EQ(d.exitCode, 0) << d.output;
    // The intervals too: a finite width wherever a model forecasts.
    const auto lo = floats(outs[1], "/forecast/interval_low"), hi = floats(outs[1], "/forecast/interval_high");
    const auto next = floats(outs[1], "/forecast/next_cumulative");
    std::size_t widths = 0;
    for (std::size_t i = 0; i < next.size(); ++i)
        widths += std::isfinite(next[i]) && lo[i] < next[i] && next[i] < hi[i];
    EXPECT_GT(widths, next.size() / 2);
}

namespace {

// The models of an hlstm-output, by subregion.
std::map<std::int32_t, model::Model> modelsOf(const std::string& file) {
    h5::File f(file, h5::Access::kReadOnly);
    const auto sub = f.openDataset("/models/subregion").readAll<std::int32_t>();
    const auto offset = f.openDataset("/models/offset").readAll<std::uint64_t>();
    const auto size = f.openDataset("/models/size").readAll<std::uint64_t>();
    const auto bytes = f.openDataset("/models/bytes").readAll<std::uint8_t>();
    std::map<std::int32_t, model::Model> out;
    for (std::size_t i = 0; i < sub.size(); ++i)
        out.emplace(sub[i], model::modelFromBytes(
                                std::string(reinterpret_cast<const char*>(bytes.data()) + offset[i], size[i])));
    return out;
}

}  // namespace

// The chain keeps every subregion's model, winner or not, with its optimizer state: PREV's
// models are fine-tuned by update 1 and update 1's by update 2 (Adam's step count grows by
// update.epochs minibatch passes over each update's new windows, from where the earlier fit
// stopped), and NEXT is a models file that predict and the next update read.
TEST_F(UpdateChainTest, TheChainKeepsAndFineTunesEveryModel) {
    const std::string next1 = dir_->file("chain1.h5"), next2 = dir_->file("chain2.h5");
    auto r = update(2, next1);  // default: update.epochs 3, reselection
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(2, "update --models " + next1 + " --input " + scene() + " -o " + next2 + " --input.until " + until(46) +
                     " --train.threads 1");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto m0 = modelsOf(prev()), m1 = modelsOf(next1), m2 = modelsOf(next2);
    ASSERT_FALSE(m0.empty());
    const std::uint64_t batch = 64;  // kFast
    for (const auto& [s, a] : m0) {
        ASSERT_EQ(m1.count(s), 1u) << "subregion " << s << " lost its model in update 1";
        ASSERT_EQ(m2.count(s), 1u) << "subregion " << s << " lost its model in update 2";
        const model::Model& b = m1.at(s);
        const model::Model& c = m2.at(s);
        ASSERT_FALSE(a.optimizer.empty()) << s;
        ASSERT_GT(b.summary.trainSamples, 0u) << s;
        ASSERT_GT(c.summary.trainSamples, 0u) << s;
        EXPECT_EQ(b.optimizer.step, a.optimizer.step + 3 * ((b.summary.trainSamples + batch - 1) / batch)) << s;
        EXPECT_EQ(c.optimizer.step, b.optimizer.step + 3 * ((c.summary.trainSamples + batch - 1) / batch)) << s;
        EXPECT_NE(b.parameters.weightsLayer, a.parameters.weightsLayer) << s;
        EXPECT_NE(c.parameters.weightsLayer, b.parameters.weightsLayer) << s;
    }
    EXPECT_EQ(m2.size(), m0.size());
    // NEXT as --models: an update without training or reselection forecasts what predict does.
    const std::string frozen = dir_->file("chain-frozen.h5"), pred = dir_->file("chain-pred.h5");
    r = hlstm(1, "update --models " + next1 + " --input " + scene() + " -o " + frozen + " --input.until " + until(46) +
                     " --update.epochs 0 --update.reselect false");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(2, "predict --models " + next1 + " --input " + scene() + " -o " + pred + " --input.until " + until(46));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto a = floats(frozen, "/forecast/next_cumulative"), b = floats(pred, "/forecast/next_cumulative");
    ASSERT_EQ(a.size(), b.size());
    std::size_t finite = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(b[i])) {
            ASSERT_TRUE(std::isnan(a[i])) << i;
            continue;
        }
        ASSERT_EQ(a[i], b[i]) << i;
        ++finite;
    }
    EXPECT_GT(finite, 2900u);
}

// Drift: NEW moves every point of PREV's largest subregion by 1 m from its first new epoch (a
// visible one, so its velocity over the visible epochs changes by ~88 mm/yr, into another velocity
// zone, and its validation error grows far beyond update.drift_factor): that subregion must
// be flagged in /update/drift with the log's advice; the plain update (the same scene one epoch
// later) must flag none.
TEST_F(UpdateChainTest, DriftIsFlaggedWhereTheSubregionMovedAndNowhereElse) {
    const std::string plain = dir_->file("drift-none.h5");
    auto r = update(2, plain);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(plain, h5::Access::kReadOnly);
    const auto none = f.openDataset("/update/drift").readAll<std::int8_t>();
    const auto subIds = f.openDataset("/subregions/id").readAll<std::int32_t>();
    ASSERT_EQ(none.size(), subIds.size());
    for (std::size_t k = 0; k < none.size(); ++k) EXPECT_EQ(none[k], 0) << "subregion " << subIds[k];
    EXPECT_EQ(r.output.find("a full hlstm run is advised"), std::string::npos) << r.output;

    // PREV's largest subregion that is not the noise set, and its points' rows in the scene.
    h5::File p(prev(), h5::Access::kReadOnly);
    const auto counts = p.openDataset("/subregions/n_points").readAll<std::uint64_t>();
    const auto noise = p.openDataset("/partition/noise_id").readAll<std::int32_t>();
    std::size_t big = 0;
    for (std::size_t k = 0; k < counts.size(); ++k)
        if (subIds[k] != noise[0] && (subIds[big] == noise[0] || counts[k] > counts[big])) big = k;
    const std::int32_t moved = subIds[big];
    const auto prevIds = ids(prev()), sceneIds = ids(scene());
    const auto prevSub = p.openDataset("/points/subregion").readAll<std::int32_t>();
    std::map<std::int64_t, std::size_t> rowOf;
    for (std::size_t i = 0; i < sceneIds.size(); ++i) rowOf[sceneIds[i]] = i;
    std::vector<bool> jump(sceneIds.size(), false);
    std::size_t nJump = 0;
    for (std::size_t k = 0; k < prevIds.size(); ++k)
        if (prevSub[k] == moved) jump[rowOf.at(prevIds[k])] = true, ++nJump;
    ASSERT_GT(nJump, 300u);
    const std::string jumped = dir_->file("jumped.h5"), out = dir_->file("drift-moved.h5");
    // Zones are in increasing velocity: up to the top zone, or from it down to the lowest.
    const auto zone = p.openDataset("/subregions/zone").readAll<std::int32_t>();
    const auto nZones = p.openDataset("/partition/zone_center").readAll<double>().size();
    ASSERT_GT(nZones, 1u);
    const float mm = zone[big] + 1 == static_cast<std::int32_t>(nZones) ? -1000.0f : 1000.0f;
    writeTruncated(scene(), jumped, 46, jump, 44, mm);
    r = hlstm(2, "update --models " + prev() + " --input " + jumped + " -o " + out + " --train.threads 1");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File g(out, h5::Access::kReadOnly);
    const auto flags = g.openDataset("/update/drift").readAll<std::int8_t>();
    ASSERT_EQ(flags.size(), subIds.size());
    EXPECT_EQ(flags[big], 1) << r.output;
    EXPECT_NE(r.output.find("drift in subregion " + std::to_string(moved) + ": validation error "), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("in another velocity zone now; a full hlstm run is advised"), std::string::npos)
        << r.output;
}

// update.repartition: NEXT's partition is the one a run on NEW makes (the same points, zones and
// subregions), and each new subregion's model is fine-tuned from the model of the PREV subregion
// most of its points were in (its shape, and Adam's step count continuing that model's).
TEST_F(UpdateChainTest, RepartitionPartitionsAsARunAndStartsFromTheMajoritysModel) {
    const std::string next = dir_->file("repartitioned.h5"), ref = dir_->file("run47.h5");
    auto r = hlstm(2, "update --models " + prev() + " --input " + scene() + " -o " + next + " --input.until " +
                          until(47) + " --train.threads 1 --update.repartition true");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    r = hlstm(2, "run --input " + scene() + " -o " + ref + kFast + " --input.until " + until(47));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    for (const char* name : {"/points/subregion", "/points/zone", "/partition/k_chosen", "/partition/subregion_id"}) {
        auto d = run(std::string("h5diff ") + ref + " " + next + " " + name + " " + name);
        EXPECT_EQ(d.exitCode, 0) << name << ":\n" << d.output;
    }
    // The expected origin of each new subregion: the PREV subregion of most of its points.
    const auto prevIds = ids(prev()), nextIds = ids(next);
    h5::File p(prev(), h5::Access::kReadOnly), n(next, h5::Access::kReadOnly);
    const auto prevSub = p.openDataset("/points/subregion").readAll<std::int32_t>();
    const auto nextSub = n.openDataset("/points/subregion").readAll<std::int32_t>();
    std::map<std::int64_t, std::int32_t> prevOf;
    for (std::size_t k = 0; k < prevIds.size(); ++k) prevOf[prevIds[k]] = prevSub[k];
    std::map<std::int32_t, std::map<std::int32_t, std::size_t>> votes;
    for (std::size_t k = 0; k < nextIds.size(); ++k)
        if (nextSub[k] >= 0 && prevOf.count(nextIds[k]) != 0 && prevOf[nextIds[k]] >= 0)
            ++votes[nextSub[k]][prevOf[nextIds[k]]];
    const auto m0 = modelsOf(prev()), m1 = modelsOf(next);
    ASSERT_FALSE(m1.empty());
    const std::uint64_t batch = 64;  // kFast
    for (const auto& [s, model] : m1) {
        std::int32_t origin = -1;
        std::size_t most = 0;
        for (const auto& [o, c] : votes.at(s))
            if (c > most) origin = o, most = c;  // ascending ids: ties keep the smaller
        ASSERT_EQ(m0.count(origin), 1u) << "subregion " << s << " from " << origin;
        const model::Model& from = m0.at(origin);
        EXPECT_EQ(model.config.window, from.config.window) << s;
        EXPECT_EQ(model.config.layers, from.config.layers) << s;
        ASSERT_GT(model.summary.trainSamples, 0u) << s;
        EXPECT_EQ(model.optimizer.step, from.optimizer.step + 3 * ((model.summary.trainSamples + batch - 1) / batch))
            << s;
    }
}

// As run's checkpoints (tests/pipeline/test_resume.cpp): each fine-tuned subregion is a
// checkpoint, a failure after the fine-tuning leaves them (exit 2, no NEXT), a rerun without
// --resume or with another configuration is refused, and --resume writes the uninterrupted
// update's file, restoring every fine-tuned subregion instead of training it again.
TEST_F(UpdateChainTest, ResumedAfterAFailureItWritesTheUninterruptedUpdate) {
    const std::string reference = dir_->file("resume-reference.h5");
    ASSERT_EQ(update(2, reference).exitCode, 0);
    const std::size_t models = modelsOf(reference).size();
    ASSERT_GT(models, 0u);
    for (int ranks : {2, 3}) {
        const std::string out = dir_->file("resumed" + std::to_string(ranks) + ".h5");
        const std::string args = "update --models " + prev() + " --input " + scene() + " -o " + out +
                                 " --input.until " + until(45) + " --train.threads 1";
        auto r = run("env OMP_NUM_THREADS=1 HLSTM_FAIL_INJECT=forecast@1 " + hlstmUnderMpi(ranks) + " " + args, 300);
        ASSERT_EQ(r.exitCode, 2) << r.output;
        EXPECT_FALSE(std::filesystem::exists(out));
        EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
        std::size_t records = 0;
        for (const auto& e : std::filesystem::directory_iterator(out + ".ckpt"))
            records += e.path().filename().string().rfind("update-", 0) == 0 ? 1 : 0;
        EXPECT_EQ(records, models);
        r = hlstm(ranks, args);
        EXPECT_EQ(r.exitCode, 1) << r.output;
        EXPECT_NE(r.output.find("add --resume"), std::string::npos) << r.output;
        r = hlstm(ranks, args + " --update.epochs 2 --resume");
        EXPECT_EQ(r.exitCode, 1) << r.output;
        EXPECT_NE(r.output.find("another configuration"), std::string::npos) << r.output;
        r = hlstm(ranks, args + " --resume");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        std::size_t restored = 0;
        for (std::size_t at = 0; (at = r.output.find("restored from its checkpoint", at)) != std::string::npos; ++at)
            ++restored;
        EXPECT_EQ(restored, models) << r.output;
        EXPECT_EQ(r.output.find("fine-tuned on"), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(out + ".ckpt"));
        auto d = run("h5diff --exclude-path /timing " + reference + " " + out);
        EXPECT_EQ(d.exitCode, 0) << ranks << " ranks:\n" << d.output;
    }
}

// Slurm's warning during the fine-tuning (tests/pipeline/test_resume.cpp does the same to run):
// SIGUSR1 to mpiexec once a subregion is fine-tuned stops the update at the next subregion's
// boundary with exit code 3, no NEXT, the finished subregions' checkpoints kept; --resume
// restores them, fine-tunes the rest and writes the uninterrupted update's file. PREV has a
// finer partition (5 subregions, 4 of them on one rank) and the fine-tuning many epochs, so that the
// rank that logs the first fine-tuned subregion still has subregions to go when the signal lands.
TEST_F(UpdateChainTest, StoppedBySigusrOneDuringTheFineTuningItResumesToTheUninterruptedUpdate) {
    const std::string fine = dir_->file("prev-fine.h5");
    std::string args = kFast;
    args.replace(args.find("min_points 300"), 14, "min_points 100");
    auto r = hlstm(2, "run --input " + scene() + " -o " + fine + args + " --input.until " + until(44) +
                          " --partition.k_min 6 --partition.k_max 6");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string slow = " --update.epochs 400";
    const std::string reference = dir_->file("usr1-reference.h5");
    ASSERT_EQ(update(2, reference, slow, fine).exitCode, 0);
    const std::size_t models = modelsOf(reference).size();
    ASSERT_GE(models, 4u);
    const std::string out = dir_->file("usr1.h5"), log = out + ".log";
    args = "update --models " + fine + " --input " + scene() + " -o " + out + " --input.until " + until(45) +
           " --train.threads 1" + slow;
    const std::string script = "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " " + args + " > " + log +
                               " 2>&1 & pid=$!; for i in $(seq 1 1200); do grep -q \"fine-tuned on\" " + log +
                               " && break; sleep 0.05; done; kill -USR1 $pid; wait $pid";
    const auto stop = run("bash -c '" + script + "'", 300);
    const std::string stopLog = run("cat " + log).output;
    ASSERT_EQ(stop.exitCode, 3) << stopLog;
    EXPECT_NE(stopLog.find("--resume"), std::string::npos) << stopLog;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    std::size_t records = 0;
    for (const auto& e : std::filesystem::directory_iterator(out + ".ckpt"))
        records += e.path().filename().string().rfind("update-", 0) == 0 ? 1 : 0;
    EXPECT_GE(records, 1u) << stopLog;
    EXPECT_LT(records, models) << "the signal must land while subregions remain:\n" << stopLog;
    const auto resumed = hlstm(2, args + " --resume");
    ASSERT_EQ(resumed.exitCode, 0) << resumed.output;
    std::size_t restored = 0;
    for (std::size_t at = 0; (at = resumed.output.find("restored from its checkpoint", at)) != std::string::npos; ++at)
        ++restored;
    EXPECT_EQ(restored, records) << resumed.output;
    EXPECT_FALSE(std::filesystem::exists(out + ".ckpt"));
    const auto d = run("h5diff --exclude-path /timing " + reference + " " + out);
    EXPECT_EQ(d.exitCode, 0) << d.output;
}

// The fine-tuning's training curves, as a grid candidate's (/grid_search/train_loss, ...): one
// value per fine-tuning epoch (update.epochs 3 of train.epochs 4 columns, then NaN), the last
// loss is final_train_loss and the validation curve at best_epoch is the kept weights' MAE.
TEST_F(UpdateChainTest, TheFineTuningWritesItsTrainingCurves) {
    const std::string next = dir_->file("next-curves.h5");
    ASSERT_EQ(update(2, next).exitCode, 0);
    h5::File f(next, h5::Access::kReadOnly);
    const auto loss = f.openDataset("/grid_search/train_loss").readAll<double>();
    const auto mae = f.openDataset("/grid_search/validation_mae_curve").readAll<double>();
    const auto last = f.openDataset("/grid_search/final_train_loss").readAll<double>();
    const auto best = f.openDataset("/grid_search/best_epoch").readAll<std::int32_t>();
    const auto validation = f.openDataset("/grid_search/validation_mae").readAll<double>();
    const auto status = f.openDataset("/grid_search/status").readAll<std::int32_t>();
    const std::size_t n = last.size(), E = 4;  // kFast: train.epochs 4
    ASSERT_EQ(loss.size(), n * E);
    std::size_t tuned = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (status[i] != 0) continue;
        ++tuned;
        for (std::size_t e = 0; e < 3; ++e) {
            EXPECT_TRUE(std::isfinite(loss[i * E + e])) << i << " " << e;
            EXPECT_TRUE(std::isfinite(mae[i * E + e])) << i << " " << e;
        }
        EXPECT_TRUE(std::isnan(loss[i * E + 3])) << i;
        EXPECT_EQ(last[i], loss[i * E + 2]) << i;
        ASSERT_GE(best[i], 1) << i;
        ASSERT_LE(best[i], 3) << i;
        EXPECT_EQ(mae[i * E + static_cast<std::size_t>(best[i]) - 1], validation[i]) << i;
    }
    EXPECT_EQ(tuned, modelsOf(next).size());
    // update.epochs 0: nothing trained, no curve (PREV's training is not the update's).
    const std::string frozen = dir_->file("next-curves-frozen.h5");
    ASSERT_EQ(update(1, frozen, " --update.epochs 0").exitCode, 0);
    for (double v : doubles(frozen, "/grid_search/train_loss")) EXPECT_TRUE(std::isnan(v));
}
