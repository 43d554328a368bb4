// TrainProgress (issue 21 item 4): at most one line per interval and one per phase change, the
// counts, the share of the planned cost and the time left from the plan; redrawn on a terminal,
// appended in a log file.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "hlstm/pipeline/progress.hpp"

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
}  // namespace hlstm::pipeline
