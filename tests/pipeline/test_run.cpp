// hlstm run end to end, through the real program under mpiexec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "hlstm/data/point_set.hpp"
#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

// A small scene and a fast grid: two L values so a subregion's grid can span ranks.
const std::string kFast =
    " --partition.min_points 300 --grid.L 8,12 --grid.K 1 --grid.S 6 --train.epochs 4 --train.batch 64 "
    "--train.threads 1 --run.baselines all";

class RunTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        // 45 epochs: the out-of-time selection keeps the last 12 (Y = 1) to 15 (Y = 4) from training.
        auto r = run(hlstmUnderMpi(2) + " simulate --points 3000 --epochs 45 --seed 5 -o " + scene());
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string scene() { return dir_->file("scene.h5"); }
    static CommandResult hlstmRun(int ranks, const std::string& out, const std::string& extra = kFast,
                                  const std::string& env = "") {
        return run("env OMP_NUM_THREADS=1 " + env + " " + hlstmUnderMpi(ranks) + " run --input " + scene() + " -o " +
                       out + extra,
                   300);
    }
    static TempDir* dir_;
};
TempDir* RunTest::dir_ = nullptr;

std::vector<std::int32_t> ints(const std::string& file, const std::string& ds) {
    h5::File f(file, h5::Access::kReadOnly);
    return f.openDataset(ds).readAll<std::int32_t>();
}

// The scratch files a run left beside `out` (<out>.scratch.r<rank>.<what>.tmp, origin.cpp).
std::vector<std::string> scratchLeft(const std::string& out) {
    std::vector<std::string> left;
    const std::filesystem::path p(out);
    const std::string prefix = p.filename().string() + ".scratch";
    for (const auto& e : std::filesystem::directory_iterator(p.parent_path()))
        if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path().string());
    return left;
}

}  // namespace

TEST_F(RunTest, EveryOutputDatasetIsIdenticalForOneToFourRanks) {
    // run.scratch: beside the output at 1 and 2 ranks, in a directory of its own at 3, off at 4;
    // where the tables wait does not change a value.
    const std::string scratchDir = dir_->file("scratch");
    std::filesystem::create_directories(scratchDir);
    std::vector<std::string> outs, logs;
    for (int ranks = 1; ranks <= 4; ++ranks) {
        outs.push_back(dir_->file("ranks" + std::to_string(ranks) + ".h5"));
        const std::string scratch = ranks == 3   ? " --run.scratch " + scratchDir
                                    : ranks == 4 ? " --run.scratch off"
                                                 : "";
        // At 2 and 3 ranks the rows travel to their trainers in rounds of 4 KiB per rank instead
        // of 8 MiB (one round on this scene): many rounds, each row placed from its own.
        const bool smallRounds = ranks == 2 || ranks == 3;
        auto r = hlstmRun(ranks, outs.back(), kFast + scratch,
                          smallRounds ? "HLSTM_LOG=debug HLSTM_REDISTRIBUTE_ROUND_BYTES=4096" : "");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        logs.push_back(r.output);
        if (smallRounds) {
            const std::regex said("redistribute: [0-9]+ rows to receive in ([0-9]+) round");
            std::smatch m;
            ASSERT_TRUE(std::regex_search(r.output, m, said)) << r.output;
            EXPECT_GE(std::stoi(m[1]), 20) << r.output;  // 3000 x 45 x 4 bytes over 2-3 ranks
        }
        EXPECT_FALSE(std::filesystem::exists(outs.back() + ".tmp"));
        EXPECT_EQ(scratchLeft(outs.back()), std::vector<std::string>{});
        const auto said = r.output.find("scratch: tables wait in ");
        if (ranks == 4) {
            EXPECT_EQ(said, std::string::npos) << r.output;
        } else {
            ASSERT_NE(said, std::string::npos) << r.output;
            const std::string where = ranks == 3 ? scratchDir + "/ranks3.h5." : outs.back() + ".scratch";
            EXPECT_EQ(r.output.compare(said + 24, where.size(), where), 0) << r.output;
        }
    }
    EXPECT_TRUE(std::filesystem::is_empty(scratchDir));
    // A scratch setting that is not a directory: refused before anything is read, naming it.
    const std::string missing = dir_->file("no-such-dir");
    auto bad = hlstmRun(2, dir_->file("bad-scratch.h5"), kFast + " --run.scratch " + missing);
    EXPECT_EQ(bad.exitCode, 1) << bad.output;
    EXPECT_NE(bad.output.find(missing + "\": not a directory on rank"), std::string::npos) << bad.output;
    EXPECT_FALSE(std::filesystem::exists(dir_->file("bad-scratch.h5")));
    for (int k = 1; k < 4; ++k) {
        // Only /timing (seconds, which rank trained what) may differ, and at 3 and 4 ranks the
        // stored configuration (its run.scratch): there every group is compared instead.
        const std::string a = outs[0], b = outs[static_cast<std::size_t>(k)];
        std::vector<std::string> diffs{"h5diff --exclude-path /timing " + a + " " + b};
        if (k >= 2) {
            diffs.clear();
            for (const char* g : {"/baselines", "/forecast", "/grid_search", "/metrics", "/models", "/partition",
                                  "/points", "/subregions"})
                diffs.push_back(std::string("h5diff ") + a + " " + b + " " + g + " " + g);
        }
        for (const auto& cmd : diffs) {
            auto d = run(cmd);
            EXPECT_EQ(d.exitCode, 0) << "1 vs " << k + 1 << " ranks: " << cmd << "\n" << d.output;
            EXPECT_EQ(d.output, "");
        }
    }
    // The comparison can fail: another seed changes the models.
    const std::string other = dir_->file("seed.h5");
    ASSERT_EQ(hlstmRun(1, other, kFast + " --model.seed 7").exitCode, 0);
    EXPECT_EQ(run("h5diff -q --exclude-path /timing " + outs[0] + " " + other).exitCode, 1);

    // At 2 and 4 ranks the plan spreads some subregion's grid over more than one rank. Which
    // rank then trains a candidate depends on timing (an idle rank takes queued candidates from
    // a busy one), so the plan is asserted, and every trained candidate names a rank of the run.
    for (int k : {1, 3}) {
        const std::string& log = logs[static_cast<std::size_t>(k)];
        std::size_t widest = 0;
        const std::regex planned("candidates on ranks \\[([0-9,]+)\\]");
        for (auto it = std::sregex_iterator(log.begin(), log.end(), planned); it != std::sregex_iterator(); ++it)
            widest = std::max<std::size_t>(widest, std::count((*it)[1].first, (*it)[1].second, ',') + 1);
        EXPECT_GE(widest, 2u) << "no subregion's grid is planned over ranks at " << k + 1 << " ranks\n" << log;
        for (int r : ints(outs[static_cast<std::size_t>(k)], "/timing/candidate_rank")) {
            EXPECT_GE(r, 0);
            EXPECT_LE(r, k);
        }
    }
    h5::File f(outs[0], h5::Access::kReadOnly);
    EXPECT_EQ(f.readAttribute<std::int32_t>("complete"), 1);
    EXPECT_EQ(f.openDataset("/points/x").dims()[0], f.openDataset("/forecast/holdout_pred").dims()[0]);
}

TEST_F(RunTest, TheIncumbentKeepsASubregionUnlessTheLearnedModelBeatsItSignificantly) {
    // run.incumbent = auto (local_annual is among run.baselines all): each subregion is local_annual's
    // unless the best candidate beats it by 2 standard errors over the cuts; a lower score alone,
    // a candidate's or another baseline's, does not take it. With none the lowest score wins.
    const std::string kept = dir_->file("incumbent.h5"), lowest = dir_->file("lowest.h5");
    ASSERT_EQ(hlstmRun(2, kept).exitCode, 0);
    ASSERT_EQ(hlstmRun(2, lowest, kFast + " --run.incumbent none").exitCode, 0);
    h5::File a(kept, h5::Access::kReadOnly), b(lowest, h5::Access::kReadOnly);
    const auto names = a.readStrings("/baselines/name");
    const auto local = static_cast<std::size_t>(std::find(names.begin(), names.end(), "local_annual") - names.begin());
    ASSERT_LT(local, names.size());
    const auto scores = a.openDataset("/baselines/subregion_selection_score").readAll<double>();
    const auto candidate = a.openDataset("/subregions/best_candidate_score").readAll<double>();
    const auto chosen = a.openDataset("/subregions/selection_score").readAll<double>();
    const auto method = a.readStrings("/subregions/method"), why = a.readStrings("/subregions/why");
    const auto methodLowest = b.readStrings("/subregions/method");
    const std::size_t nSub = method.size();
    ASSERT_EQ(scores.size(), names.size() * nSub);
    std::size_t heldAgainstALowerScore = 0;
    for (std::size_t s = 0; s < nSub; ++s) {
        const double incumbent = scores[local * nSub + s];
        if (method[s] == "local_annual") {
            EXPECT_EQ(why[s].rfind("incumbent local_annual", 0), 0u) << why[s];
            EXPECT_DOUBLE_EQ(chosen[s], incumbent);
            double lowestOther = candidate[s];
            for (std::size_t k = 0; k < names.size(); ++k)
                if (k != local && std::isfinite(scores[k * nSub + s]))
                    lowestOther = std::min(lowestOther, scores[k * nSub + s]);
            if (lowestOther < incumbent) {
                ++heldAgainstALowerScore;
                // Without the incumbent, that lower score wins the subregion.
                EXPECT_NE(methodLowest[s], "local_annual") << "subregion " << s;
            }
        } else {
            // Only the learned model (alone or mixed) takes a subregion from it, with a lower score.
            EXPECT_EQ(method[s].rfind("lstm", 0), 0u) << method[s];
            EXPECT_LT(candidate[s], incumbent);
        }
    }
    EXPECT_GE(heldAgainstALowerScore, 1u) << "the scene no longer tests the incumbent";
    // An incumbent that is not among the baselines, or no baseline at all: refused, naming the key.
    const std::string fast = kFast.substr(0, kFast.find(" --run.baselines"));
    for (const auto& [bad, value] : std::vector<std::pair<std::string, std::string>>{
             {" --run.incumbent velocity --run.baselines persistence,ses", "velocity"},
             {" --run.incumbent arima", "arima"}}) {
        auto r = hlstmRun(2, dir_->file("bad-incumbent.h5"), fast + bad);
        EXPECT_EQ(r.exitCode, 1) << bad << "\n" << r.output;
        EXPECT_NE(r.output.find("run.incumbent = \"" + value + "\""), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir_->file("bad-incumbent.h5")));
    }
}

TEST_F(RunTest, MoreRanksThanSubregionsAndIdleRanks) {
    // One candidate per subregion and fewer subregions than ranks: some ranks train nothing
    // yet take part in every collective, and the file equals the 1-rank one.
    const std::string grid =
        " --partition.min_points 1000 --grid.L 10 --grid.K 1 --grid.S 6 --train.epochs 3 --train.threads 1";
    const std::string one = dir_->file("idle1.h5"), four = dir_->file("idle4.h5");
    ASSERT_EQ(hlstmRun(1, one, grid).exitCode, 0);
    auto r = hlstmRun(4, four, grid);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    auto sub = ints(four, "/subregions/id");
    ASSERT_LT(sub.size(), 4u) << "precondition: fewer subregions than ranks";
    auto rank = ints(four, "/timing/candidate_rank");
    std::set<int> busy(rank.begin(), rank.end());
    EXPECT_LT(busy.size(), 4u);
    auto d = run("h5diff --exclude-path /timing " + one + " " + four);
    EXPECT_EQ(d.exitCode, 0) << d.output;
}

TEST_F(RunTest, FailureOnOneRankDuringTrainingStopsAllAndLeavesNoFile) {
    const std::string out = dir_->file("fail.h5");
    auto r = hlstmRun(3, out, kFast, "HLSTM_FAIL_INJECT=train@1");
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("phase train"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    // The baselines' tables were parked in scratch files while the ranks trained: none is left.
    EXPECT_EQ(scratchLeft(out), std::vector<std::string>{});
}

TEST_F(RunTest, DryRunPrintsThePlanAndWritesNothing) {
    const std::string out = dir_->file("dry.h5");
    auto r = hlstmRun(2, out, kFast + " --dry-run");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("expected training wall time"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("rank 1:"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(RunTest, DataParallelCandidatesGiveIdenticalOutputsForOneToFourRanks) {
    // Every candidate trained data-parallel (shard share 0.01), 4 shards per minibatch, by
    // groups of 1 to 4 ranks: the weights, forecasts and every other dataset are the same for
    // 1, 2, 3 and 4 ranks.
    // A group of several ranks (from 3 ranks on here) holds its subregion's rows sliced (each rank its
    // slice, train.slice_rows): every candidate's samples on its ranks add up to all of them.
    std::vector<std::string> outs;
    for (int ranks = 1; ranks <= 4; ++ranks) {
        outs.push_back(dir_->file("dp" + std::to_string(ranks) + ".h5"));
        auto r = hlstmRun(ranks, outs.back(), kFast + " --train.shard_share 0.01", "HLSTM_LOG=debug");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        // "[train subregion s L=l ...] fit: T training and V validation samples (t and v of this rank's rows)"
        std::map<std::string, std::array<long, 4>> slices;  // candidate -> T, V, sum of t, sum of v
        const std::regex fit(R"(\[train (subregion [0-9]+ L=[0-9]+) [^\]]*\] fit: ([0-9]+) training and ([0-9]+) )"
                             R"(validation samples \(([0-9]+) and ([0-9]+) of this rank's rows\))");
        for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), fit); it != std::sregex_iterator();
             ++it) {
            auto& c = slices[(*it)[1]];
            c[0] = std::stol((*it)[2]), c[1] = std::stol((*it)[3]);
            c[2] += std::stol((*it)[4]), c[3] += std::stol((*it)[5]);
        }
        if (ranks == 1) EXPECT_TRUE(slices.empty()) << r.output;
        if (ranks >= 3) EXPECT_FALSE(slices.empty()) << r.output;  // at 2, no subregion has a group of 2
        for (const auto& [candidate, c] : slices) {
            EXPECT_EQ(c[2], c[0]) << candidate << " at " << ranks << " ranks";
            EXPECT_EQ(c[3], c[1]) << candidate << " at " << ranks << " ranks";
            EXPECT_GT(c[0], 0) << candidate;
        }
        // Each candidate's group is sized to its share of the cost and the ranks' loads: at 4
        // ranks there are groups of different sizes, and some run side by side.
        std::set<int> sizes, firsts;
        const std::regex group("data-parallel on ranks ([0-9]+)\\.\\.([0-9]+) \\(");
        for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), group); it != std::sregex_iterator();
             ++it) {
            sizes.insert(std::stoi((*it)[2]) - std::stoi((*it)[1]) + 1);
            firsts.insert(std::stoi((*it)[1]));
        }
        EXPECT_FALSE(sizes.empty()) << r.output;
        EXPECT_LE(*sizes.rbegin(), ranks) << r.output;
        if (ranks == 4) {
            EXPECT_GE(sizes.size(), 2u) << r.output;
            EXPECT_GE(firsts.size(), 2u) << r.output;
        }
    }
    for (int k = 1; k < 4; ++k) {
        auto d = run("h5diff --exclude-path /timing " + outs[0] + " " + outs[static_cast<std::size_t>(k)]);
        EXPECT_EQ(d.exitCode, 0) << "1 vs " << k + 1 << " ranks:\n" << d.output;
    }
    // Every group rank holding all of the rows gives the same file as well.
    const auto whole = dir_->file("dp3whole.h5");
    auto w = hlstmRun(3, whole, kFast + " --train.shard_share 0.01 --train.slice_rows false", "HLSTM_LOG=debug");
    ASSERT_EQ(w.exitCode, 0) << w.output;
    EXPECT_EQ(w.output.find("of this rank's rows"), std::string::npos) << w.output;
    // (The root attribute `config` records train.slice_rows.)
    auto d = run("h5diff --exclude-path /timing --exclude-attribute / " + outs[0] + " " + whole);
    EXPECT_EQ(d.exitCode, 0) << "1 rank vs 3 ranks without sliced rows:\n" << d.output;
    // And the sharded step is a different computation than the plain one (the comparison
    // can fail): the models differ from a run without data-parallel candidates.
    auto plain = dir_->file("plain.h5");
    ASSERT_EQ(hlstmRun(1, plain, kFast + " --train.shard_share 0").exitCode, 0);
    EXPECT_EQ(
        run("h5diff -q --exclude-path /timing " + outs[0] + " " + plain + " /models/bytes /models/bytes").exitCode, 1);
}

TEST_F(RunTest, ASlowRankHandsItsQueuedCandidatesToTheOthersAndTheOutputIsUnchanged) {
    // One candidate per subregion, so each subregion's rows are on one rank only; rank 2 is made
    // a slow node (30 ms per minibatch). The others take its queued candidates, with their rows,
    // and the output is the 1-rank run's.
    // min_points 100: four subregions, so that rank 2 has a second candidate queued to take.
    const std::string grid =
        " --partition.min_points 100 --grid.L 8 --grid.K 1 --grid.S 6 --train.epochs 4 "
        "--train.batch 64 --train.threads 1 --train.shard_share 0";
    const std::string one = dir_->file("steal1.h5"), three = dir_->file("steal3.h5");
    ASSERT_EQ(hlstmRun(1, one, grid).exitCode, 0);
    auto r = hlstmRun(3, three, grid, "HLSTM_SLOW_INJECT=2:30");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("(taken from rank 2,"), std::string::npos) << r.output;
    // ... with the rows of a subregion the taker did not hold.
    EXPECT_TRUE(r.output.find("to rank 0 with its") != std::string::npos ||
                r.output.find("to rank 1 with its") != std::string::npos)
        << r.output;
    auto d = run("h5diff --exclude-path /timing " + one + " " + three);
    EXPECT_EQ(d.exitCode, 0) << d.output;
    // Who trained what is in /timing: rank 2 trained fewer candidates than the plan gave it.
    const auto ranks = ints(three, "/timing/candidate_rank");
    const auto plan = hlstmRun(3, dir_->file("steal-dry.h5"), grid + " --dry-run");
    const auto at = plan.output.find("rank 2: ");
    ASSERT_NE(at, std::string::npos) << plan.output;
    const long planned = std::stol(plan.output.substr(at + 8));
    EXPECT_LT(std::count(ranks.begin(), ranks.end(), 2), planned) << plan.output;
}

TEST_F(RunTest, BadConfigurationIsExitOne) {
    auto r = hlstmRun(2, dir_->file("bad.h5"), " --grid.L 1");
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("grid.L"), std::string::npos) << r.output;
    auto u = run(hlstmBinary() + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                 "/configs/demo.toml --no.such 3 -o x.h5");
    EXPECT_EQ(u.exitCode, 1) << u.output;
    EXPECT_FALSE(std::filesystem::exists(dir_->file("bad.h5")));
    // Settings that cannot work are refused at once, with one message for all ranks.
    for (const std::string bad :
         {" --model.validation_fraction 0", " --model.target signals", " --run.select best", " --run.interval 1.5",
          " --run.baselines arima", " --model.horizon 31 --run.holdout 31", " --run.level_degree 3"}) {
        auto b = hlstmRun(2, dir_->file("bad.h5"), kFast.substr(0, kFast.find(" --run.baselines")) + bad);
        EXPECT_EQ(b.exitCode, 1) << bad << "\n" << b.output;
        std::size_t messages = 0;
        for (std::size_t at = b.output.find("hlstm: "); at != std::string::npos; at = b.output.find("hlstm: ", at + 1))
            ++messages;
        EXPECT_EQ(messages, 1u) << bad << "\n" << b.output;
        EXPECT_FALSE(std::filesystem::exists(dir_->file("bad.h5"))) << bad;
    }
}

// The demo scene has the shared per-epoch atmosphere: local_annual keeps a subregion unless the
// learned model beats it significantly out of time (run.incumbent), so HLSTM is at most the best
// baseline, equal to it where local_annual kept every subregion.
TEST(DemoScene, HlstmIsNoWorseThanAnyBaselineAgainstTheNoiseFreeTruthWithCalibratedIntervals) {
    TempDir dir;
    const std::string out = dir.file("demo.h5");
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                     "/configs/demo.toml -o " + out,
                 500);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(out, h5::Access::kReadOnly);
    const double hlstm = f.readObjectAttribute<double>("/metrics", "mae_truth");
    const auto names = f.readStrings("/baselines/name");
    const auto maeTruth = f.openDataset("/baselines/mae_truth").readAll<double>();
    ASSERT_EQ(names.size(), 8u);
    ASSERT_EQ(maeTruth.size(), names.size());
    std::size_t best = 0;
    for (std::size_t b = 0; b < names.size(); ++b) {
        std::printf("  %-13s MAE vs truth %.3f mm\n", names[b].c_str(), maeTruth[b]);
        if (maeTruth[b] < maeTruth[best]) best = b;
    }
    std::printf("holdout MAE vs truth: HLSTM %.3f mm, best baseline %s %.3f mm\n", hlstm, names[best].c_str(),
                maeTruth[best]);
    RecordProperty("mae_truth", std::to_string(hlstm));
    RecordProperty("mae_truth_best_baseline", std::to_string(maeTruth[best]));
    EXPECT_LE(hlstm, maeTruth[best]);
    // The persistence column is the same computation as the baseline of that name.
    EXPECT_DOUBLE_EQ(f.readObjectAttribute<double>("/metrics", "mae_truth_persistence"), maeTruth[0]);
    const double coverage = f.readObjectAttribute<double>("/metrics", "interval_coverage");
    std::printf("90 %% interval coverage on the holdout: %.3f\n", coverage);
    EXPECT_GE(coverage, 0.87);
    EXPECT_LE(coverage, 0.93);
    // Every subregion says what won it.
    const auto method = f.readStrings("/subregions/method");
    const auto why = f.readStrings("/subregions/why");
    ASSERT_EQ(method.size(), why.size());
    for (std::size_t s = 0; s < method.size(); ++s) EXPECT_NE(why[s].find(method[s]), std::string::npos) << why[s];
}

TEST(PaperMode, WinnerIsTheCandidateWithTheSmallestNextStepValidationMae) {
    TempDir dir;
    const std::string out = dir.file("paper.h5");
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                     "/configs/paper.toml --simulate.points 6000 --partition.min_points 500 --grid.L 20,40 "
                     "--grid.K 1 --train.epochs 4 -o " +
                     out,
                 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(out, h5::Access::kReadOnly);
    const auto gsub = f.openDataset("/grid_search/subregion").readAll<std::int32_t>();
    const auto gL = f.openDataset("/grid_search/L").readAll<std::int32_t>();
    const auto gmae = f.openDataset("/grid_search/validation_mae").readAll<double>();
    const auto sL = f.openDataset("/subregions/L").readAll<std::int32_t>();
    const auto method = f.readStrings("/subregions/method");
    ASSERT_FALSE(sL.empty());
    for (std::size_t s = 0; s < sL.size(); ++s) {
        EXPECT_EQ(method[s], "lstm");
        // eq. (3): the smallest validation MAE of the subregion's candidates wins.
        std::size_t best = gmae.size();
        for (std::size_t k = 0; k < gmae.size(); ++k)
            if (gsub[k] == static_cast<std::int32_t>(s) && (best == gmae.size() || gmae[k] < gmae[best])) best = k;
        ASSERT_LT(best, gmae.size());
        EXPECT_EQ(sL[s], gL[best]) << "subregion " << s;
    }
    // Baselines are reported beside the paper's model as well.
    EXPECT_EQ(f.readStrings("/baselines/name").size(), 8u);
    EXPECT_TRUE(std::isfinite(f.readObjectAttribute<double>("/metrics", "mae_truth")));
}

TEST_F(RunTest, PredictWithSavedModelsReproducesTheRunsForecast) {
    const std::string out = dir_->file("for-predict.h5"), pred = dir_->file("pred.h5");
    ASSERT_EQ(hlstmRun(1, out).exitCode, 0);
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " predict --models " + out + " --input " + scene() +
                 " -o " + pred);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File a(out, h5::Access::kReadOnly), b(pred, h5::Access::kReadOnly);
    // Same models, same windows ending at the last epoch: the same next differentials.
    auto runNext = a.openDataset("/forecast/next_diff").readAll<float>();
    auto predNext = b.openDataset("/forecast/next_diff").readAll<float>();
    ASSERT_EQ(runNext.size(), predNext.size());
    std::size_t finite = 0;
    for (std::size_t i = 0; i < runNext.size(); ++i) {
        if (std::isnan(runNext[i]))
            ASSERT_TRUE(std::isnan(predNext[i])) << i;  // not kept in either
        else
            ASSERT_EQ(runNext[i], predNext[i]) << i;
        finite += std::isfinite(runNext[i]) ? 1 : 0;
    }
    EXPECT_GT(finite, runNext.size() * 9 / 10);
    // And the same next positions: the run's per-step position choice (/subregions/position_choice,
    // src/pipeline/position_choice.cpp) applied to the same level and forecasts.
    const auto runPos = a.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto predPos = b.openDataset("/forecast/next_cumulative").readAll<float>();
    ASSERT_EQ(runPos.size(), predPos.size());
    for (std::size_t i = 0; i < runPos.size(); ++i) {
        if (std::isnan(runPos[i]))
            ASSERT_TRUE(std::isnan(predPos[i])) << i;
        else
            ASSERT_NEAR(runPos[i], predPos[i], 1e-4) << i;
    }
    EXPECT_EQ(a.openDataset("/subregions/position_choice").dims()[0], a.openDataset("/subregions/id").dims()[0]);
    EXPECT_EQ(b.openDataset("/points/subregion").readAll<std::int32_t>(),
              a.openDataset("/points/subregion").readAll<std::int32_t>());
    // A file that is not an hlstm-output is refused with exit 1.
    auto bad =
        run(hlstmBinary() + " predict --models " + scene() + " --input " + scene() + " -o " + dir_->file("x.h5"));
    EXPECT_EQ(bad.exitCode, 1) << bad.output;
    EXPECT_NE(bad.output.find("not an hlstm-output file"), std::string::npos) << bad.output;
}

TEST_F(RunTest, SlurmWarningSignalStopsAtTheNextMinibatchWithExitThreeAndCheckpoints) {
    const std::string out = dir_->file("signal.h5"), log = dir_->file("signal.log");
    const std::string grid =
        " --partition.min_points 300 --grid.L 8,10,12,14 --grid.K 1,2 --grid.S 6,8 --train.epochs 20 --train.threads 1";
    // Start the run, wait for the first trained candidate, send USR1 to mpiexec (which
    // forwards it to the ranks, as Slurm's --signal=B:USR1 does through the batch script).
    const std::string script = "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --input " + scene() + " -o " + out +
                               grid + " > " + log +
                               " 2>&1 & pid=$!; for i in $(seq 1 600); do grep -q 'on this rank:' " + log +
                               " && break; sleep 0.1; done; kill -USR1 $pid; wait $pid";
    const std::string scriptPath = dir_->file("signal.sh");
    if (std::FILE* f = std::fopen(scriptPath.c_str(), "w")) {
        std::fputs(script.c_str(), f);
        std::fclose(f);
    }
    auto r = run("bash " + scriptPath, 200);
    std::string text;
    if (std::FILE* f = std::fopen(log.c_str(), "r")) {
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        std::fclose(f);
    }
    EXPECT_EQ(r.exitCode, 3) << r.output << text;
    // The signal lands inside a candidate (its state is checkpointed) or between two (the
    // finished ones are): either way one stop message that says how to continue.
    EXPECT_TRUE(text.find("the training state is checkpointed") != std::string::npos ||
                text.find("the finished candidates are in") != std::string::npos)
        << text;
    EXPECT_NE(text.find("with --resume to continue"), std::string::npos) << text;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    EXPECT_TRUE(std::filesystem::exists(out + ".ckpt/manifest"));
}

TEST_F(RunTest, MultiStepHorizonReportsCumulativeErrorPerStep) {
    const std::string out = dir_->file("horizon4.h5");
    auto r = hlstmRun(2, out, kFast + " --model.horizon 4 --run.holdout 4");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(out, h5::Access::kReadOnly);
    const auto dims = f.openDataset("/forecast/next_cumulative").dims();
    ASSERT_EQ(dims.size(), 2u);
    EXPECT_EQ(dims[1], 4u);
    // Forecast epochs follow the nominal 12-day spacing.
    const auto next = f.openDataset("/forecast/next_dates").readAll<std::int32_t>();
    ASSERT_EQ(next.size(), 4u);
    for (std::size_t y = 1; y < next.size(); ++y) EXPECT_EQ(dates::toDays(next[y]) - dates::toDays(next[y - 1]), 12);
    // The cumulative error grows with the step against the truth (the forecast drifts; the
    // truth's increments add up), for HLSTM and for persistence alike.
    const auto step = f.openDataset("/metrics/step_mae_truth").readAll<double>();
    ASSERT_EQ(step.size(), 4u);
    EXPECT_GT(step[3], step[0]);
    const auto baselineStep = f.openDataset("/baselines/step_mae_truth").readAll<double>();
    ASSERT_EQ(baselineStep.size(), 4u * f.readStrings("/baselines/name").size());
    EXPECT_GT(baselineStep[3], baselineStep[0]);  // row 0: persistence
    // Intervals widen with the step in every subregion that has one and the same position method
    // at steps 1 and 4 (a step given to another method has that method's residuals, hedged with
    // the own method's: position_choice.cpp).
    const auto half = f.openDataset("/subregions/interval_halfwidth").readAll<float>();
    const auto choice = f.openDataset("/subregions/position_choice").readAll<std::int32_t>();
    ASSERT_EQ(choice.size(), half.size());
    int compared = 0;
    for (std::size_t s = 0; s + 4 <= half.size(); s += 4)
        if (std::isfinite(half[s]) && choice[s] == choice[s + 3]) {
            EXPECT_GT(half[s + 3], half[s]) << "subregion " << s / 4;
            ++compared;
        }
    EXPECT_GT(compared, 0);
    // Steps given to another method are hedged with the own method's (run.position_hedge 0.5, root
    // attribute position_hedge), and hlstm predict with the run's models applies the same hedge: the
    // same next positions (on this scene hedge 0 moves them by up to 2.8 mm).
    EXPECT_EQ(f.readAttribute<double>("position_hedge"), 0.5);
    EXPECT_TRUE(std::any_of(choice.begin(), choice.end(), [](std::int32_t c) { return c >= 0; }));
    const std::string pred = dir_->file("horizon4-pred.h5");
    auto p = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " predict --models " + out + " --input " + scene() +
                 " -o " + pred);
    ASSERT_EQ(p.exitCode, 0) << p.output;
    h5::File g(pred, h5::Access::kReadOnly);
    const auto runPos = f.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto predPos = g.openDataset("/forecast/next_cumulative").readAll<float>();
    ASSERT_EQ(runPos.size(), predPos.size());
    for (std::size_t i = 0; i < runPos.size(); ++i)
        if (std::isfinite(runPos[i])) {
            ASSERT_NEAR(runPos[i], predPos[i], 1e-4) << i;
        }
    // run.position_pool (32, root attribute position_pool): each point's forecast increments are
    // pooled over its nearest points of its subregion (pool_stage.cpp), so a point's 4-step
    // increment differs from its nearest neighbour's far less than without it (0).
    EXPECT_EQ(f.readAttribute<std::int32_t>("position_pool"), 32);
    const std::string own = dir_->file("horizon4-own.h5");
    r = hlstmRun(2, own, kFast + " --model.horizon 4 --run.holdout 4 --run.position_pool 0");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File o(own, h5::Access::kReadOnly);
    EXPECT_EQ(o.readAttribute<std::int32_t>("position_pool"), 0);
    const auto x = f.openDataset("/points/x").readAll<double>(), y = f.openDataset("/points/y").readAll<double>();
    const auto sub = f.openDataset("/points/subregion").readAll<std::int32_t>();
    const auto roughness = [&](const std::vector<float>& d) {  // mean |4-step sum - nearest's|
        double sum = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < sub.size(); ++i) {
            if (sub[i] < 0 || !std::isfinite(d[i * 4])) continue;
            std::size_t best = i;
            double bestD = 1e300;
            for (std::size_t j = 0; j < sub.size(); ++j) {
                const double dd = (x[j] - x[i]) * (x[j] - x[i]) + (y[j] - y[i]) * (y[j] - y[i]);
                if (j != i && sub[j] == sub[i] && std::isfinite(d[j * 4]) && dd < bestD) best = j, bestD = dd;
            }
            if (best == i) continue;
            double a = 0, b = 0;
            for (std::size_t t = 0; t < 4; ++t) a += d[i * 4 + t], b += d[best * 4 + t];
            sum += std::abs(a - b);
            ++n;
        }
        return sum / static_cast<double>(n);
    };
    const double pooled = roughness(f.openDataset("/forecast/next_diff").readAll<float>());
    const double alone = roughness(o.openDataset("/forecast/next_diff").readAll<float>());
    EXPECT_LT(pooled, 0.7 * alone) << pooled << " vs " << alone;
    EXPECT_GT(pooled, 0.0);
}

namespace {
std::string contentOf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_F(RunTest, AnOutputThatIsAnInputIsRefusedAndTheInputsAreUnchanged) {
    const std::string models = dir_->file("models-for-refusal.h5");
    ASSERT_EQ(hlstmRun(1, models).exitCode, 0);
    const std::string sceneBytes = contentOf(scene()), modelBytes = contentOf(models);
    const std::string link = dir_->file("link-to-scene.h5");
    std::filesystem::create_symlink(scene(), link);
    const std::string mpi = "env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2);
    struct Case {
        std::string args, fragment;
    };
    const std::vector<Case> cases = {
        {" run --config " + std::string(HLSTM_SOURCE_DIR) + "/configs/demo.toml --input " + scene() + " -o " + scene(),
         "would replace the input"},
        {" run --config " + std::string(HLSTM_SOURCE_DIR) + "/configs/demo.toml --input " + scene() + " -o " + link,
         "would replace the input"},
        {" predict --models " + models + " --input " + scene() + " -o " + models, "would replace the input"},
        {" predict --models " + models + " --input " + scene() + " -o " + scene(), "would replace the input"},
        {" partition " + scene() + " -o " + scene(), "would replace the input"},
        {" simulate --points 100 --epochs 10 -o " + dir_->path(), "is a directory"},
        {" simulate --points 100 --epochs 10 -o " + dir_->file("no/such/dir/x.h5"), "does not exist"},
    };
    for (const auto& c : cases) {
        auto r = run(mpi + c.args, 120);
        EXPECT_EQ(r.exitCode, 1) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find(c.fragment), std::string::npos) << c.args << "\n" << r.output;
    }
    EXPECT_EQ(contentOf(scene()), sceneBytes);
    EXPECT_EQ(contentOf(models), modelBytes);
    for (const auto& leftover : {scene() + ".tmp", models + ".tmp", link + ".tmp", dir_->path() + ".tmp"})
        EXPECT_FALSE(std::filesystem::exists(leftover)) << leftover;
}

TEST_F(RunTest, AnExistingOutputIsNamedInAWarningReplacedWhenCompleteAndKeptOnFailure) {
    // A rerun with the same -o replaces the earlier results: said at the start (path, size),
    // done only by a complete new file, and a command that fails leaves the file as it was.
    const std::string out = dir_->file("rerun.h5");
    const std::string said = out + " exists (";
    auto first = hlstmRun(2, out);
    ASSERT_EQ(first.exitCode, 0) << first.output;
    EXPECT_EQ(first.output.find(said), std::string::npos) << first.output;
    const std::string firstBytes = contentOf(out);
    auto second = hlstmRun(2, out, kFast + " --model.seed 7");
    ASSERT_EQ(second.exitCode, 0) << second.output;
    const std::size_t at = second.output.find(said);
    ASSERT_NE(at, std::string::npos) << second.output;
    EXPECT_NE(second.output.rfind("WARN", at), std::string::npos) << second.output;
    char size[32];
    std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(firstBytes.size()) / 1e6);
    EXPECT_EQ(second.output.compare(at + said.size(), std::strlen(size), size), 0) << second.output;
    const std::string secondBytes = contentOf(out);
    EXPECT_NE(secondBytes, firstBytes) << "the seed differs: the file must be the second run's";
    auto failed = hlstmRun(2, out, kFast + " --run.scratch " + dir_->file("no-such-scratch"));
    EXPECT_EQ(failed.exitCode, 1) << failed.output;
    EXPECT_NE(failed.output.find(said), std::string::npos) << failed.output;
    EXPECT_EQ(contentOf(out), secondBytes) << "a failed command must not touch the existing output";
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST_F(RunTest, EveryInputPointIsARowWithItsStatusAndTheOthersHaveNaNForecasts) {
    // The scene (which has a few points with too few valid epochs of its own) with two points
    // emptied and one thinned: every one of the 3000 input points is a row of run's (and
    // predict's) output, the kept points first and the others after them, each part in input
    // order, the others with their reason, NaN forecasts and subregion -1.
    const std::string input = dir_->file("holes.h5"), out = dir_->file("holes-out.h5");
    std::filesystem::copy_file(scene(), input, std::filesystem::copy_options::overwrite_existing);
    const std::uint64_t m = 45;
    std::vector<std::int64_t> inputIds;
    {
        h5::File f(input, h5::Access::kReadWrite);
        auto disp = f.openDataset("/displacement");
        const std::vector<float> none(m, std::nanf(""));
        disp.writeRows(7, 1, none.data());
        disp.writeRows(2999, 1, none.data());
        std::vector<float> sparse = disp.readRows<float>(1500, 1);
        for (std::uint64_t t = 0; t < m; t += 1)
            if (t % 4 != 0) sparse[t] = std::nanf("");  // 12 of 45 valid: below min_valid_fraction 0.5
        disp.writeRows(1500, 1, sparse.data());
        inputIds = f.exists("/id") ? f.openDataset("/id").readAll<std::int64_t>() : std::vector<std::int64_t>{};
    }
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(3) + " run --input " + input + " -o " + out + kFast, 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    h5::File f(out, h5::Access::kReadOnly);
    const auto status = f.openDataset("/points/status").readAll<std::int8_t>();
    const auto ids = f.openDataset("/points/id").readAll<std::int64_t>();
    ASSERT_EQ(status.size(), 3000u);
    ASSERT_EQ(ids.size(), 3000u);
    ASSERT_EQ(f.openDataset("/points/x").dims()[0], 3000u);
    ASSERT_EQ(f.openDataset("/points/lon").dims()[0], 3000u);
    ASSERT_EQ(f.openDataset("/points/velocity").dims()[0], 3000u);
    std::map<int, int> count;
    for (auto st : status) ++count[st];
    const std::size_t kept = static_cast<std::size_t>(count[0]);
    EXPECT_EQ(count[3], 2) << "no value in any epoch: the two emptied points";
    EXPECT_GE(count[1], 1) << "too few valid epochs: at least the thinned point";
    EXPECT_EQ(kept + static_cast<std::size_t>(count[1] + count[3]), 3000u) << "no other reason on this scene";
    // Every input point exactly once; kept points first, then the others, each part in input order.
    ASSERT_EQ(inputIds.size(), 3000u);
    EXPECT_EQ(std::multiset<std::int64_t>(ids.begin(), ids.end()),
              std::multiset<std::int64_t>(inputIds.begin(), inputIds.end()));
    std::map<std::int64_t, std::size_t> inputRow;
    for (std::size_t i = 0; i < inputIds.size(); ++i) inputRow[inputIds[i]] = i;
    for (std::size_t i = 1; i < ids.size(); ++i) {
        if (i != kept) {
            EXPECT_LT(inputRow[ids[i - 1]], inputRow[ids[i]]) << i;
        }
    }
    std::map<std::int64_t, int> statusOf;
    for (std::size_t i = 0; i < ids.size(); ++i) statusOf[ids[i]] = status[i];
    EXPECT_EQ(statusOf[inputIds[7]], 3);
    EXPECT_EQ(statusOf[inputIds[2999]], 3);
    EXPECT_EQ(statusOf[inputIds[1500]], 1);
    const auto next = f.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto subregion = f.openDataset("/points/subregion").readAll<std::int32_t>();
    ASSERT_EQ(next.size(), 3000u);
    for (std::size_t i = 0; i < 3000; ++i) {
        if (i < kept) {
            EXPECT_EQ(status[i], 0) << i;
            EXPECT_TRUE(std::isfinite(next[i])) << i;
            EXPECT_GE(subregion[i], 0) << i;
        } else {
            EXPECT_NE(status[i], 0) << i;
            EXPECT_TRUE(std::isnan(next[i])) << i;
            EXPECT_EQ(subregion[i], -1) << i;
        }
    }
    // predict on the same input: the same rows and statuses.
    const std::string pred = dir_->file("holes-pred.h5");
    auto p = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " predict --models " + out + " --input " + input +
                 " -o " + pred);
    ASSERT_EQ(p.exitCode, 0) << p.output;
    h5::File g(pred, h5::Access::kReadOnly);
    EXPECT_EQ(g.openDataset("/points/status").readAll<std::int8_t>(), status);
    EXPECT_EQ(g.openDataset("/points/id").readAll<std::int64_t>(), ids);
}
