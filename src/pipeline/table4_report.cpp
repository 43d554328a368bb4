// The paper's Table IV in the run log (issue 20 item 4): one global LSTM against HLSTM per
// subregion, with the MAE against the observations and the noise-free truth, the noise floor
// (the truth's own MAE against the observations) and the training times.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "stages.hpp"

namespace hlstm::pipeline {

std::string tableFour(const RunContext& ctx, const RunOutputs& r) {
    const auto& names = r.eval.names;
    const auto learned = ctx.rc.learned();
    std::int32_t globalSub = -1;  // the global LSTM's pseudo subregion (learned baselines follow the real ones)
    for (std::size_t l = 0; l < learned.size(); ++l)
        if (learned[l].name == "global_lstm") globalSub = ctx.nSub + static_cast<std::int32_t>(l);
    if (globalSub < 0 || std::find(names.begin(), names.end(), "global_lstm") == names.end()) return {};
    const MetricBook& book = r.eval.book;
    const bool truth = r.block.stats.hasTruth;
    const auto& subs = r.part.summary.subregions;
    // Seconds of every subregion's candidates (the grid search) and of its winner alone.
    std::vector<double> grid(subs.size() + learned.size(), 0.0), winner(subs.size(), 0.0);
    const Task* global = nullptr;
    for (const auto& tr : r.selection.results) {
        const Task& t = ctx.plan.tasks[static_cast<std::size_t>(tr.index)];
        grid[static_cast<std::size_t>(t.subregion)] += tr.seconds;
        if (t.subregion == globalSub) global = &t;
        if (t.subregion < ctx.nSub && r.selection.choice[static_cast<std::size_t>(t.subregion)].task == tr.index)
            winner[static_cast<std::size_t>(t.subregion)] = tr.seconds;
    }
    const double nan = std::nan("");
    std::ostringstream os;
    char line[320];
    os << "Table IV (paper: one global LSTM against HLSTM per subregion; MAE of the held-out differential, mm;\n"
          "noise floor = the noise-free truth's own MAE against the observations, the least MAE vs observed a\n"
          "forecast of the signal can reach; seconds: the winner's training / the whole grid, summed over ranks):\n";
    std::snprintf(line, sizeof line, "  %-14s %9s %3s %3s %3s %8s %8s %7s %10s %8s %10s %8s %8s\n", "model", "region",
                  "L", "K", "S", "MAE", "SD", "acc %", "MAE truth", "floor", "glob.LSTM", "winner s", "grid s");
    os << line;
    auto row = [&](const char* model, const std::string& region, const Task* t, const Metrics& m, double vsTruth,
                   double floor, double globalHere, double winnerSeconds, double gridSeconds) {
        std::snprintf(line, sizeof line, "  %-14s %9s %3d %3d %3d %8.4f %8.4f %7.2f %10.4f %8.4f %10.4f %8.3f %8.3f\n",
                      model, region.c_str(), t ? t->L : -1, t ? t->K : -1, t ? t->S : -1, m.mae, m.sd, m.accuracy,
                      vsTruth, floor, globalHere, winnerSeconds, gridSeconds);
        os << line;
    };
    const double floorAll = truth ? book["noise"][0].mae : nan;
    row("LSTM (global)", "all", global, book["global_lstm"][0], truth ? book["global_lstm/truth"][0].mae : nan,
        floorAll, book["global_lstm"][0].mae, grid[static_cast<std::size_t>(globalSub)],
        grid[static_cast<std::size_t>(globalSub)]);
    double winners = 0, all = 0;
    for (std::size_t s = 0; s < subs.size(); ++s) {
        const Choice& c = r.selection.choice[s];
        const Task* t = c.task >= 0 ? &ctx.plan.tasks[static_cast<std::size_t>(c.task)] : nullptr;
        const std::string label =
            t ? "HLSTM"
              : "HLSTM: " +
                    model::toString(r.baselines.kinds[c.baseline >= 0 ? static_cast<std::size_t>(c.baseline) : 0]);
        row(label.c_str(), "sub " + std::to_string(subs[s].id), t, book["sub"][s],
            truth ? book["sub_truth"][s].mae : nan, truth ? book["noise/sub"][s].mae : nan,
            book["global_lstm/sub"][s].mae, winner[s], grid[s]);
        winners += winner[s];
        all += grid[s];
    }
    row("HLSTM", "global", nullptr, book["global"][0], truth ? book["global_truth"][0].mae : nan, floorAll,
        book["global_lstm"][0].mae, winners, all);
    return os.str();
}

}  // namespace hlstm::pipeline
