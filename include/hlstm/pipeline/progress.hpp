/// Progress of the training phase for a person watching the log (issue 21 item 4): at most one
/// line a minute and one at each phase change, with candidates done / total, the share of the
/// planned cost done and the remaining time from the calibrated plan. On a terminal the line is
/// redrawn in place; in a file (a Slurm log) each line is appended. Pure: the caller (rank 0)
/// passes the counts and the time, so it is tested without MPI or clocks.
#pragma once

#include <cstdio>
#include <string>

namespace hlstm::pipeline {

struct ProgressTotals {
    std::size_t candidates = 0;  ///< candidates in the plan
    double cost = 0;             ///< their summed planned cost (flops, Plan::tasks[].cost)
    double expectedSeconds = 0;  ///< the calibrated plan's expected training time (0: unknown)
};

/// "[train] 12/48 candidates, 31.4 % of the planned cost, 4 min 10 s elapsed, about 9 min 5 s left".
std::string progressLine(const ProgressTotals& totals, const std::string& phase, std::size_t done, double costDone,
                         double elapsedSeconds);

class TrainProgress {
public:
    /// `terminal`: redraw one line ('\r', clear to the end) instead of appending lines.
    TrainProgress(ProgressTotals totals, std::FILE* out, bool terminal, double intervalSeconds = 60.0);
    /// Records the state at `nowSeconds` (since the phase began); prints when the phase changed
    /// or `intervalSeconds` passed since the last line. Returns whether it printed.
    bool update(const std::string& phase, std::size_t done, double costDone, double nowSeconds);
    /// Prints the final state once more and ends a redrawn line with a newline.
    void finish(double nowSeconds);

private:
    ProgressTotals totals_;
    std::FILE* out_;
    bool terminal_;
    double interval_;
    double lastPrint_ = -1e300;
    std::string phase_;
    std::size_t done_ = 0;
    double costDone_ = 0;
    bool open_ = false;  // a redrawn line without its newline yet
    void print(double nowSeconds);
};

}  // namespace hlstm::pipeline
