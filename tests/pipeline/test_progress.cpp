// TrainProgress (issue 21 item 4): at most one line per interval and one per phase change, the
// counts, the share of the planned cost and the time left from the plan; redrawn on a terminal,
// appended in a log file.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <regex>
#include <sstream>
#include <vector>

#include "hlstm/pipeline/progress.hpp"
#include "test_support.hpp"

namespace hlstm::pipeline {
namespace {

std::string captured(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    for (int c; (c = std::fgetc(f)) != EOF;) s.push_back(static_cast<char>(c));
    return s;
}

TEST(Progress, LineHasCountsShareAndTimeLeftFromThePlan) {
    const ProgressTotals t{48, 1000.0, 800.0};
    EXPECT_EQ(progressLine(t, "train", 12, 250.0, 250.0),
              "[train] 12/48 candidates, 25.0 % of the planned cost, 4 min 10 s elapsed, about 10 min 0 s left (plan "
              "13 min 20 s)");
    EXPECT_EQ(progressLine(t, "train", 48, 1000.0, 900.0),
              "[train] 48/48 candidates, 100.0 % of the planned cost, 15 min 0 s elapsed, done (plan 13 min 20 s)");
    EXPECT_EQ(progressLine({3, 0.0, 0.0}, "plan", 0, 0.0, 7200.0),
              "[plan] 0/3 candidates, 0.0 % of the planned cost, 2 h 0 min elapsed");
}

TEST(Progress, AppendsAtMostOnceAMinuteAndAtEachPhaseChangeInALog) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    TrainProgress p({10, 100.0, 600.0}, f, false);
    EXPECT_TRUE(p.update("train", 0, 0.0, 0.0));     // the first state
    EXPECT_FALSE(p.update("train", 1, 10.0, 30.0));  // within the minute
    EXPECT_FALSE(p.update("train", 2, 20.0, 59.9));
    EXPECT_TRUE(p.update("train", 3, 30.0, 60.0));  // a minute after the last line
    EXPECT_FALSE(p.update("train", 4, 40.0, 100.0));
    EXPECT_TRUE(p.update("forecast", 10, 100.0, 101.0));  // phase change: at once
    p.finish(102.0);
    const std::string s = captured(f);
    EXPECT_EQ(
        s,
        "[train] 0/10 candidates, 0.0 % of the planned cost, 0 s elapsed, about 10 min 0 s left (plan 10 min 0 s)\n"
        "[train] 3/10 candidates, 30.0 % of the planned cost, 1 min 0 s elapsed, about 7 min 0 s left (plan 10 min 0 "
        "s)\n"
        "[forecast] 10/10 candidates, 100.0 % of the planned cost, 1 min 41 s elapsed, done (plan 10 min 0 s)\n"
        "[forecast] 10/10 candidates, 100.0 % of the planned cost, 1 min 42 s elapsed, done (plan 10 min 0 s)\n");
    std::fclose(f);
}

TEST(Progress, RedrawsOneLineOnATerminalAndKeepsEachPhasesLast) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    TrainProgress p({2, 2.0, 0.0}, f, true, 1.0);
    p.update("train", 0, 0.0, 0.0);
    p.update("train", 1, 1.0, 5.0);
    p.update("forecast", 2, 2.0, 6.0);
    p.finish(7.0);
    const std::string s = captured(f);
    EXPECT_EQ(s,
              "\r[train] 0/2 candidates, 0.0 % of the planned cost, 0 s elapsed\x1b[K"
              "\r[train] 1/2 candidates, 50.0 % of the planned cost, 5 s elapsed\x1b[K\n"
              "\r[forecast] 2/2 candidates, 100.0 % of the planned cost, 6 s elapsed\x1b[K"
              "\r[forecast] 2/2 candidates, 100.0 % of the planned cost, 7 s elapsed\x1b[K\n");
    std::fclose(f);
}

}  // namespace

// The wiring in a real run (3 ranks, candidates on every rank, a data-parallel one among them):
// rank 0 prints the first line at 0, lines between as reports arrive, and a last line with
// every candidate of the plan; with run.progress_minutes = 0 only the first and the last.
struct ProgressLine {
    std::size_t done, total;
    double share;
};
std::vector<ProgressLine> progressLines(const std::string& log, std::size_t* planned) {
    std::smatch m;
    if (std::regex_search(log, m, std::regex(R"(plan: [0-9]+ subregion\(s\), ([0-9]+) candidate\(s\))")))
        *planned = std::stoul(m[1]);
    std::vector<ProgressLine> out;
    std::istringstream in(log);
    const std::regex line(R"(^\[train\] ([0-9]+)/([0-9]+) candidates, ([0-9.]+) % of the planned cost)");
    for (std::string l; std::getline(in, l);)
        if (std::regex_search(l, m, line)) out.push_back({std::stoul(m[1]), std::stoul(m[2]), std::stod(m[3])});
    return out;
}

TEST(Progress, ARunAtThreeRanksReportsEveryCandidateOnRankZero) {
    test::TempDir dir;
    const std::string scene = dir.file("scene.h5");
    auto s = test::run(test::hlstmUnderMpi(2) + " simulate --points 3000 --epochs 40 --seed 5 -o " + scene, 120);
    ASSERT_EQ(s.exitCode, 0) << s.output;
    const std::string common = "env OMP_NUM_THREADS=1 " + test::hlstmUnderMpi(3) + " run --input " + scene +
                               " --partition.min_points 300 --grid.L 6,8 --grid.K 1 --grid.S 4,8 --train.epochs 20"
                               " --train.threads 1 --train.shard_share 0.3 --run.checkpoint_minutes 0";
    auto r = test::run(common + " -o " + dir.file("often.h5") + " --run.progress_minutes 0.0002", 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    std::size_t planned = 0;
    const auto lines = progressLines(r.output, &planned);
    ASSERT_GT(planned, 6u) << r.output;
    ASSERT_GE(lines.size(), 3u) << r.output;
    EXPECT_EQ(lines.front().done, 0u);
    EXPECT_EQ(lines.front().share, 0.0);
    EXPECT_EQ(lines.back().done, planned);
    EXPECT_EQ(lines.back().share, 100.0);
    for (std::size_t k = 0; k < lines.size(); ++k) {
        EXPECT_EQ(lines[k].total, planned) << k;
        EXPECT_LE(lines[k].done, planned) << k;
        if (k == 0) continue;
        EXPECT_GE(lines[k].done, lines[k - 1].done) << k;
        EXPECT_GE(lines[k].share, lines[k - 1].share) << k;
    }
    std::size_t between = 0;
    for (const auto& l : lines) between += l.done > 0 && l.done < planned ? 1 : 0;
    EXPECT_GT(between, 0u) << "reports from the ranks arrive while they train:\n" << r.output;

    auto q = test::run(common + " -o " + dir.file("quiet.h5") + " --run.progress_minutes 0", 300);
    ASSERT_EQ(q.exitCode, 0) << q.output;
    const auto quiet = progressLines(q.output, &planned);
    ASSERT_EQ(quiet.size(), 2u) << q.output;
    EXPECT_EQ(quiet[0].done, 0u);
    EXPECT_EQ(quiet[1].done, planned);
}

}  // namespace hlstm::pipeline
