#include "hlstm/pipeline/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hlstm::pipeline {
namespace {

std::string duration(double seconds) {
    const long s = std::lround(std::max(0.0, seconds));
    char buf[64];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld h %ld min", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        std::snprintf(buf, sizeof buf, "%ld min %ld s", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld s", s);
    return buf;
}

}  // namespace

std::string progressLine(const ProgressTotals& totals, const std::string& phase, std::size_t done, double costDone,
                         double elapsedSeconds) {
    const double share = totals.cost > 0 ? std::clamp(costDone / totals.cost, 0.0, 1.0) : 0.0;
    char head[160];
    std::snprintf(head, sizeof head, "[%s] %zu/%zu candidates, %.1f %% of the planned cost, ", phase.c_str(), done,
                  totals.candidates, 100.0 * share);
    std::string line = head + duration(elapsedSeconds) + " elapsed";
    if (totals.expectedSeconds > 0) {
        const double left = totals.expectedSeconds * (1.0 - share);
        line += share >= 1.0 ? ", done" : ", about " + duration(left) + " left";
        line += " (plan " + duration(totals.expectedSeconds) + ")";
    }
    return line;
}

TrainProgress::TrainProgress(ProgressTotals totals, std::FILE* out, bool terminal, double intervalSeconds)
    : totals_(totals), out_(out), terminal_(terminal), interval_(intervalSeconds) {}

bool TrainProgress::update(const std::string& phase, std::size_t done, double costDone, double nowSeconds) {
    const bool changed = phase != phase_;
    if (changed && terminal_ && open_) {  // keep the last line of the previous phase
        std::fputc('\n', out_);
        open_ = false;
    }
    phase_ = phase, done_ = done, costDone_ = costDone;
    if (!changed && nowSeconds - lastPrint_ < interval_) return false;
    print(nowSeconds);
    return true;
}

void TrainProgress::finish(double nowSeconds) {
    print(nowSeconds);
    if (terminal_ && open_) std::fputc('\n', out_);
    open_ = false;
    std::fflush(out_);
}

void TrainProgress::print(double nowSeconds) {
    const std::string line = progressLine(totals_, phase_, done_, costDone_, nowSeconds);
    if (terminal_) {
        std::fprintf(out_, "\r%s\x1b[K", line.c_str());
        open_ = true;
    } else {
        std::fprintf(out_, "%s\n", line.c_str());
    }
    std::fflush(out_);
    lastPrint_ = nowSeconds;
}

}  // namespace hlstm::pipeline
