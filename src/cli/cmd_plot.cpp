// `hlstm plot OUT.h5 -o DIR`: the figures of a run (maps, partition, grid search, errors, points)
// drawn with matplotlib by tools/plot/hlstm_plot.py.
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

struct PlotArgs {
    plot::ToolCall call;
    std::string format = "png", points, lalo;
};

// DIR: an existing directory, or a new one in an existing directory (created here).
void prepareDirectory(const std::string& file, const std::string& dir) {
    std::error_code ec;
    if (dir.empty()) throw ConfigError("-o: empty directory name");
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) throw ConfigError(dir + " (-o): exists and is not a directory");
        return;
    }
    const fs::path parent = fs::absolute(dir).parent_path();
    if (!fs::is_directory(parent, ec))
        throw ConfigError(dir + " (-o): its directory " + parent.string() + " does not exist");
    if (!fs::create_directory(dir, ec) && ec)
        throw RuntimeError(dir + " (-o): cannot create the directory: " + ec.message());
    (void)file;
}

Action setupPlot(CLI::App& sub) {
    auto a = std::make_shared<PlotArgs>();
    a->call.command = "plot";
    sub.add_option("file", a->call.file, "hlstm output .h5 (of hlstm run, complete = 1)")->required();
    sub.add_option("-o,--output", a->call.output, "directory for the figures (created if missing; files are replaced)")
        ->required();
    sub.add_option("--format", a->format, "png or pdf")->capture_default_str()->check(CLI::IsMember({"png", "pdf"}));
    sub.add_option("--points", a->points, "point ids (/points/id) to draw point_<id> figures of, comma-separated");
    sub.add_option("--lalo", a->lalo, "LAT,LON: draw the point nearest to it (needs /points/lon,lat)");
    sub.add_option("--input", a->call.input,
                   "the run's input, for the observed histories (default: the output's root attribute input; its "
                   "checksum must equal input_checksum)");
    sub.add_flag("--no-history", a->call.noHistory,
                 "do not read the input: point figures without the observed history");
    sub.footer(
        "Writes into DIR: velocity, subregions, db_index, grid_mae, forecast, abs_error, scatter, step_mae, curves\n"
        "(the winners' training curves) and\n"
        "point_<id> (three representative points - 1st, 50th, 99th velocity percentile - unless --points or --lalo)\n"
        "as PNG (120 dpi, at least 1200 x 720) or PDF. Maps use lon/lat when the output has them, else x/y in its\n"
        "CRS, and aggregate the points on a raster (mean per cell), so a national scene draws as fast as a small one.\n"
        "Needs /usr/bin/python3 with matplotlib, h5py and NumPy (Debian: python3-matplotlib python3-h5py;\n"
        "tools/setup.sh --with-plot). HLSTM_PYTHON and HLSTM_PLOT_SCRIPT override the interpreter and the script.\n"
        "Example: hlstm plot demo-output/demo.h5 -o demo-output/figures\n"
        "Exit codes: 0 done, 1 bad output/input file (missing, incomplete, input changed since the run) or\n"
        "unknown point, 2 runtime failure (Python or a module missing, drawing failed).");
    return [a](const Comm& comm) {
        const auto start = std::chrono::steady_clock::now();
        coordinated(comm, "plot", [&] {
            if (!comm.isRoot()) return;
            const std::string input =
                plot::checkFiles(a->call);  // before creating DIR: a bad file leaves nothing behind
            prepareDirectory(a->call.file, a->call.output);
            plot::ToolCall call = a->call;
            call.extra = {"--format", a->format};
            if (!a->points.empty()) call.extra.insert(call.extra.end(), {"--points", a->points});
            if (!a->lalo.empty()) call.extra.insert(call.extra.end(), {"--lalo", a->lalo});
            plot::run(call, input);
        });
        if (comm.isRoot())
            log::info() << "figures of " << a->call.file << " in " << a->call.output << " ("
                        << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s)";
        return 0;
    };
}

const Registrar kRegistrar({"plot", "Draw the figures of an hlstm output (PNG or PDF, matplotlib)", setupPlot});

}  // namespace
}  // namespace hlstm::cli
