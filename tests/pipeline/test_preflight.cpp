// Checks a run makes before training (pipeline/preflight) and one run per output: the grid's
// L values and interval cuts fitted to the archive, memory estimates, a 60-epoch archive with
// configs/demo.toml completing alike at 1 and 3 ranks, and two runs with one -o.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "hlstm/core/error.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/pipeline/checkpoint.hpp"
#include "hlstm/pipeline/preflight.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;
using namespace hlstm::pipeline;

namespace {

// configs/demo.toml's kSignal target with smoothing 5: input gap 3, label lead 2 (a window
// and its label need L + 6 epochs).
constexpr int kGap = 3, kLead = 2;

std::vector<float> floats(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<float>();
}

std::string readText(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(Preflight, InTimeTheDemoGridOnA60EpochArchiveKeepsBothLWithFewerIntervalCuts) {
    // run.selection_cuts = 0 (in time: the candidates train on all visible epochs).
    // 60 epochs, holdout 1: 59 visible. L = 48 leaves 59 - 48 - 3 = 8 cuts (each one epoch earlier).
    const GridFit fit = fitGridToEpochs({24, 48}, kGap, kLead, 12, 59, 59, 1, "s.h5");
    EXPECT_EQ(fit.L, (std::vector<std::int64_t>{24, 48}));
    EXPECT_EQ(fit.intervalCuts, 8);
    ASSERT_EQ(fit.warnings.size(), 1u);
    EXPECT_NE(fit.warnings[0].find("run.interval_cuts = 12: 8 interval cuts"), std::string::npos) << fit.warnings[0];
    // Exactly as many epochs as the longest L needs for 12 cuts: nothing changes.
    const GridFit exact = fitGridToEpochs({24, 48}, kGap, kLead, 12, 48 + kGap + 12, 48 + kGap + 12, 1, "s.h5");
    EXPECT_EQ(exact.intervalCuts, 12);
    EXPECT_TRUE(exact.warnings.empty());
    // 30 epochs with grid.L 20: 29 visible, 6 cuts.
    EXPECT_EQ(fitGridToEpochs({20}, kGap, kLead, 12, 29, 29, 1, "s.h5").intervalCuts, 6);
}

TEST(Preflight, OutOfTimeTheDemoGridOnA60EpochArchiveDropsTheLongLAndUsesTheCutsLeft) {
    // Out of time (8 selection cuts, smoothing 5, Y = 1): the candidates train on 59 - 12 = 47
    // epochs; L = 48 needs 54; the interval cuts lie in the 59 - 1 - 47 = 11 epochs after them.
    const GridFit fit = fitGridToEpochs({24, 48}, kGap, kLead, 12, 59, 47, 1, "s.h5");
    EXPECT_EQ(fit.L, (std::vector<std::int64_t>{24}));
    EXPECT_EQ(fit.intervalCuts, 11);
    ASSERT_EQ(fit.warnings.size(), 2u);
    EXPECT_NE(fit.warnings[0].find("L = 48 dropped: its training window and label need 54 epochs"), std::string::npos)
        << fit.warnings[0];
    EXPECT_NE(fit.warnings[0].find("47 training epochs"), std::string::npos) << fit.warnings[0];
    EXPECT_NE(fit.warnings[1].find("11 interval cuts are used"), std::string::npos) << fit.warnings[1];
}

TEST(Preflight, AnLWithoutATrainingWindowOrThreeCutsIsDroppedAndNoFittingLIsAnError) {
    // 40 visible: L = 48 needs 54 for its training window and label.
    const GridFit fit = fitGridToEpochs({24, 48}, kGap, kLead, 12, 40, 40, 1, "s.h5");
    EXPECT_EQ(fit.L, (std::vector<std::int64_t>{24}));
    EXPECT_EQ(fit.intervalCuts, 12);  // 40 - 24 - 3 = 13 >= 12
    ASSERT_EQ(fit.warnings.size(), 1u);
    EXPECT_NE(fit.warnings[0].find("L = 48 dropped"), std::string::npos) << fit.warnings[0];
    EXPECT_NE(fit.warnings[0].find("need 54 epochs"), std::string::npos) << fit.warnings[0];
    // The paper's target (no gap, no lead): a window needs L + 1, three cuts L + 3. In 44
    // epochs L = 41 has its window and exactly 3 cuts; L = 42 its window but 2 cuts: dropped.
    const GridFit tight = fitGridToEpochs({30, 41, 42}, 0, 0, 12, 44, 44, 1, "s.h5");
    EXPECT_EQ(tight.L, (std::vector<std::int64_t>{30, 41}));
    EXPECT_EQ(tight.intervalCuts, 3);
    ASSERT_EQ(tight.warnings.size(), 2u);
    EXPECT_NE(tight.warnings[0].find("L = 42 dropped: 3 interval cuts need 45 epochs"), std::string::npos)
        << tight.warnings[0];
    try {
        (void)fitGridToEpochs({48, 60}, kGap, kLead, 12, 40, 40, 1, "s.h5");
        ADD_FAILURE() << "no L fits: expected a ConfigError";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("grid.L = [48, 60]: no L fits the 40 visible epochs of s.h5"), std::string::npos) << what;
        EXPECT_NE(what.find("L = 48, needs 54"), std::string::npos) << what;
    }
}

TEST(Preflight, AGridShapeThatCannotFitInMemoryIsRefusedWithItsEstimate) {
    // K = 64 layers of S = 4096 LSTM units: 64 x 4 x 4096 x 8192 weights ~ 8.6e9, x 4 states x 4 B.
    const double big = candidateBytes(48, 64, 4096, 1, 3, 4, 256);
    EXPECT_GT(big, 4.0 * 4.0 * 8.5e9);
    EXPECT_LT(big, 4.0 * 4.0 * 8.5e9 * 3);
    EXPECT_LT(candidateBytes(48, 2, 10, 1, 3, 4, 256), 1e8);
    try {
        checkGridMemory({24, 48}, {64}, {4096}, 1, 3, 4, 256, 16e9);
        ADD_FAILURE() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("grid.K = [64], grid.S = [4096]"), std::string::npos) << what;
        EXPECT_NE(what.find("more than this machine's 16.0 GB"), std::string::npos) << what;
    }
    EXPECT_NO_THROW(checkGridMemory({24, 48}, {1, 2}, {10}, 1, 3, 4, 256, 16e9));
}

TEST(Checkpoints, ARunNeverLoadsAnotherRunsRecords) {
    TempDir dir;
    const std::string out = dir.file("out.h5");
    const std::string a = CheckpointStore::begin(out, "fp", false), b = CheckpointStore::begin(out, "fp", false);
    EXPECT_NE(a, b);  // two fresh runs, two ids
    CheckpointStore storeA(out, a), storeB(out, b);
    storeA.put("task1.done", "weights of A");
    ASSERT_EQ(storeA.get("task1.done").value_or(""), "weights of A");
    EXPECT_FALSE(storeB.get("task1.done").has_value());  // same name, same fingerprint, other run
    EXPECT_THROW(storeB.put("task2.done", "weights of B"), RuntimeError);
    EXPECT_FALSE(std::filesystem::exists(out + ".ckpt/task2.done"));
    // --resume adopts the run of the manifest: A's records, and A's only.
    const std::string resumed = CheckpointStore::begin(out, "fp", true);
    EXPECT_EQ(resumed, a);
    EXPECT_EQ(CheckpointStore(out, resumed).get("task1.done").value_or(""), "weights of A");
    EXPECT_THROW((void)CheckpointStore::begin(out, "fp", false), InputError);  // no --resume: refused
}

class RunPreflight : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        auto r = run(hlstmUnderMpi(2) + " simulate --points 2000 --epochs 60 --seed 7 -o " + scene());
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string scene() { return dir_->file("scene60.h5"); }
    static std::string demoRun(int ranks, const std::string& out) {
        return "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(ranks) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
               "/configs/demo.toml --input " + scene() + " -o " + out + " --train.threads 1";
    }
    static TempDir* dir_;
};
TempDir* RunPreflight::dir_ = nullptr;

TEST_F(RunPreflight, ASixtyEpochArchiveWithTheDemoConfigCompletesAlikeAtOneAndThreeRanks) {
    std::vector<std::string> outs;
    for (int ranks : {1, 3}) {
        outs.push_back(dir_->file("demo" + std::to_string(ranks) + ".h5"));
        auto r = run(demoRun(ranks, outs.back()), 600);
        ASSERT_EQ(r.exitCode, 0) << r.output;
        // The default out-of-time selection trains on 47 of the 59 visible epochs: L = 48 has no window.
        EXPECT_NE(r.output.find("grid.L: L = 48 dropped"), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(outs.back() + ".ckpt"));
        EXPECT_FALSE(std::filesystem::exists(outs.back() + ".lock"));
    }
    for (const char* ds : {"/forecast/next_diff", "/forecast/holdout_pred", "/forecast/interval_low"}) {
        const auto one = floats(outs[0], ds), three = floats(outs[1], ds);
        ASSERT_GT(one.size(), 1900u) << ds;  // the 2000 points that have enough valid epochs
        ASSERT_EQ(one.size(), three.size()) << ds;
        EXPECT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * sizeof(float))) << ds;
    }
}

TEST_F(RunPreflight, OfTwoRunsWithOneOutputExactlyOneProceedsAndWritesWhatALoneRunWrites) {
    const std::string out = dir_->file("shared.h5"), lone = dir_->file("lone.h5");
    const std::string a = dir_->file("a"), b = dir_->file("b");
    // B starts once A holds the lock (A then trains for seconds).
    {
        std::ofstream script(dir_->file("two.sh"));
        script << "(" << demoRun(2, out) << " > " << a << ".log 2>&1; echo $? > " << a << ".rc) &\n"
               << "for i in $(seq 600); do [ -e " << out << ".lock ] && break; sleep 0.05; done\n"
               << demoRun(2, out) << " > " << b << ".log 2>&1; echo $? > " << b << ".rc\nwait\n";
    }
    auto r = run("sh " + dir_->file("two.sh"), 900);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const std::string logA = readText(a + ".log"), logB = readText(b + ".log");
    EXPECT_EQ(std::stoi(readText(a + ".rc")), 0) << logA;
    EXPECT_EQ(std::stoi(readText(b + ".rc")), 1) << logB;
    EXPECT_TRUE(std::regex_search(logB, std::regex("another hlstm command is writing this output \\(" +
                                                   std::regex_replace(out, std::regex("[.]"), "\\.") +
                                                   "\\.lock is locked by pid [0-9]+ on host ")))
        << logB;
    EXPECT_FALSE(std::filesystem::exists(out + ".lock"));
    auto l = run(demoRun(2, lone), 600);
    ASSERT_EQ(l.exitCode, 0) << l.output;
    for (const char* ds : {"/forecast/next_diff", "/forecast/holdout_pred"}) {
        const auto shared = floats(out, ds), alone = floats(lone, ds);
        ASSERT_EQ(shared.size(), alone.size()) << ds;
        EXPECT_EQ(0, std::memcmp(shared.data(), alone.data(), shared.size() * sizeof(float))) << ds;
    }
}
