// `hlstm export OUT.h5 -o FILE.csv|FILE.gpkg`: the per-point results of a run as a GIS table.
#include <chrono>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/export.hpp"

namespace hlstm::cli {
namespace {

struct ExportArgs {
    std::string input, output;
    std::uint64_t blockRows = 65536;
};

Action setupExport(CLI::App& sub) {
    auto a = std::make_shared<ExportArgs>();
    sub.add_option("file", a->input, "hlstm output .h5 (of hlstm run or hlstm predict, complete = 1)")->required();
    sub.add_option("-o,--output", a->output,
                   "FILE.csv or FILE.gpkg (format from the extension; written as FILE.tmp, then renamed over FILE)")
        ->required();
    sub.add_option("--block-rows", a->blockRows, "points read and written at a time (one GeoPackage transaction)")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 26));
    sub.footer(
        "One row per point: id (the EGMS pid when the file has /points/pid), lon, lat, x, y, velocity, zone,\n"
        "subregion, split, then per forecast step next_diff_<date>, next_cumulative_<date>, interval_low_<date>,\n"
        "interval_high_<date> (dates from /forecast/next_dates) and per holdout step holdout_true_<date>,\n"
        "holdout_pred_<date>, abs_error_<date>; columns whose datasets the file lacks are left out.\n"
        "CSV: a header line, ',' and '.', lon/lat with 8 decimals, x/y with 3, NaN as an empty field.\n"
        "GeoPackage: a point layer named after FILE's stem; geometry lon/lat in EPSG:4326 when the file has\n"
        "/points/lon,lat, else x/y in the file's crs attribute (without a CRS, with a warning, when it has none).\n"
        "Example: hlstm export out.h5 -o subsidence.gpkg\n"
        "Exit codes: 0 done, 1 not a complete hlstm output or unknown extension, 2 write failure.");
    return [a](const Comm& comm) {
        // Serial: rank 0 exports, the others wait; a failure reaches every rank.
        io::ExportSummary summary;
        const auto start = std::chrono::steady_clock::now();
        coordinated(comm, "export", [&] {
            if (!comm.isRoot()) return;
            io::ExportOptions options;
            options.blockRows = a->blockRows;
            summary = io::exportOutput(a->input, a->output, options);
        });
        if (comm.isRoot()) {
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            auto line = log::info();
            line << "exported " << summary.rows << " points x " << summary.columns << " columns to " << a->output;
            if (!summary.layer.empty())
                line << " (layer " << summary.layer << ", geometry " << summary.geometry << ", "
                     << (summary.crs.empty() ? std::string("no CRS") : summary.crs) << ")";
            line << " in " << seconds << " s";
        }
        return 0;
    };
}

const Registrar kRegistrar({"export", "Export an hlstm output's points and forecasts to CSV or GeoPackage (GIS)",
                            setupExport});

}  // namespace
}  // namespace hlstm::cli
