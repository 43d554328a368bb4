// `hlstm report OUT.h5 -o report.html`: one self-contained HTML file (tables, figures as data
// URIs, an interactive map of points with their series), written by tools/plot/hlstm_plot.py.
#include <chrono>
#include <filesystem>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "plot_tool.hpp"

namespace hlstm::cli {
namespace {
namespace fs = std::filesystem;

struct ReportArgs {
    plot::ToolCall call;
    int mapPoints = 2000;
};

void checkReportPath(const std::string& path, const std::vector<std::string>& inputs) {
    std::error_code ec;
    if (path.empty()) throw ConfigError("-o: empty file name");
    if (fs::is_directory(path, ec)) throw ConfigError(path + " (-o): is a directory; name the .html file");
    const fs::path parent = fs::absolute(path).parent_path();
    if (!fs::is_directory(parent, ec))
        throw ConfigError(path + " (-o): its directory " + parent.string() + " does not exist");
    for (const auto& in : inputs)
        if (!in.empty() && fs::exists(path, ec) && fs::equivalent(path, in, ec))
            throw ConfigError(path + " (-o): is the same file as the input " + in);
}

Action setupReport(CLI::App& sub) {
    auto a = std::make_shared<ReportArgs>();
    a->call.command = "report";
    sub.add_option("file", a->call.file, "hlstm output .h5 (of hlstm run, complete = 1)")->required();
    sub.add_option("-o,--output", a->call.output, "the .html file (written as FILE.tmp, then renamed)")->required();
    sub.add_option("--input", a->call.input,
                   "the run's input, for the observed histories (default: the output's root attribute input; its "
                   "checksum must equal input_checksum)");
    sub.add_flag("--no-history", a->call.noHistory, "do not read the input: the map shows forecasts without histories");
    sub.add_option("--map-points", a->mapPoints,
                   "points on the interactive map (a fixed-seed sample of the forecast points)")
        ->capture_default_str()
        ->check(CLI::Range(1, 200000));
    sub.footer(
        "One HTML file that works offline (no network, no external file): the input summary, the partition, each\n"
        "subregion's winner and why, the method table (HLSTM's /metrics and every baseline), interval coverage,\n"
        "the /backtest tables when present, every figure of hlstm plot (PNG data URIs), and a map where a click\n"
        "on a point draws its observed history, holdout forecast, next forecast and interval band.\n"
        "Needs /usr/bin/python3 with matplotlib, h5py and NumPy (tools/setup.sh --with-plot).\n"
        "Example: hlstm report demo-output/demo.h5 -o demo-output/report.html\n"
        "Exit codes: 0 done, 1 bad output/input file or output path, 2 runtime failure.");
    return [a](const Comm& comm) {
        const auto start = std::chrono::steady_clock::now();
        coordinated(comm, "report", [&] {
            if (!comm.isRoot()) return;
            const std::string input = plot::checkFiles(a->call);
            checkReportPath(a->call.output, {a->call.file, input});
            plot::ToolCall call = a->call;
            call.extra = {"--map-points", std::to_string(a->mapPoints)};
            plot::run(call, input);
        });
        if (comm.isRoot())
            log::info() << "report of " << a->call.file << " in " << a->call.output << " ("
                        << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s)";
        return 0;
    };
}

const Registrar kRegistrar({"report", "Write a self-contained offline HTML report of an hlstm output", setupReport});

}  // namespace
}  // namespace hlstm::cli
