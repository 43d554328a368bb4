// input.until / input.exclude_dates and hlstm update, end to end through the real program
// under mpiexec.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid (as test_run).
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1";

// Writes the first `epochs` epochs of a native scene (every dataset, /truth too) to `out`.
void writeTruncated(const std::string& in, const std::string& out, std::size_t epochs) {
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
