// `hlstm export OUT.h5 -o FILE.csv|FILE.gpkg|FILE.tif [--history]`: the per-point results of a
// run as a GIS table (with the observed history per date), or on the input's pixel grid.
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/export.hpp"
#include "run_input.hpp"

namespace hlstm::cli {
namespace {

struct ExportArgs {
    std::string input, output;
    std::uint64_t blockRows = 65536;
    bool history = false;
    std::string runInput;  // --input: the run's input, when OUT's root attribute input no longer names it
};

// The observed series of the run's input (serial: `self` is a one-rank communicator): every
// kept point's displacement, NaN where the reader filled a gap.
io::History historyOf(const Comm& self, const std::string& path, const ReadOptions& options) {
    ReadOptions o = options;
    o.readTruth = false;
    const LocalBlock block = readInput(self, path, o);
    io::History h;
    h.dates = block.points.dates;
    h.ids = block.points.ids;
    const std::size_t m = block.points.nEpochs(), n = block.points.size();
    h.values.assign(block.points.displacement.begin(), block.points.displacement.end());
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < m; ++t)
            if (!block.observed(i, t)) h.values[i * m + t] = std::numeric_limits<float>::quiet_NaN();
    return h;
}

// The GeoTIFF grid of the run's input (InputError when it is not a geocoded grid).
io::RasterGrid rasterOf(const std::string& path, const ReadOptions& options) {
    const std::optional<GridGeometry> g = gridGeometry(path, options);
    if (!g)
        throw InputError(path + ": a point input (native or EGMS CSV) has no pixel grid: export it to .gpkg or .csv");
    if (!g->regular)
        throw InputError(path + ": in radar geometry (" + g->layout +
                         "): no regular grid to write a GeoTIFF on; geocode it (MintPy geocode.py) or export to .gpkg");
    io::RasterGrid r;
    r.rows = g->rows;
    r.cols = g->cols;
    // GDAL's geotransform starts at the outer corner of pixel (0, 0); x0, y0 are its centre.
    const double gt[6] = {g->x0 - 0.5 * g->dx, g->dx, 0, g->y0 - 0.5 * g->dy, 0, g->dy};
    std::copy(std::begin(gt), std::end(gt), r.geoTransform);
    r.crs = g->crs;
    return r;
}

Action setupExport(CLI::App& sub) {
    auto a = std::make_shared<ExportArgs>();
    sub.add_option("file", a->input, "hlstm output .h5 (of hlstm run or hlstm predict, complete = 1)")->required();
    sub.add_option("-o,--output", a->output,
                   "FILE.csv or FILE.gpkg (format from the extension; written as FILE.tmp, then renamed over FILE)")
        ->required();
    sub.add_option("--block-rows", a->blockRows, "points read and written at a time (one GeoPackage transaction)")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 26));
    sub.add_flag("--history", a->history,
                 "add velocity and one field per observed and forecast date, DYYYYMMDD (the QGIS InSAR Explorer "
                 "plugin's layout), read from the run's input");
    sub.add_option("--input", a->runInput,
                   "the run's input, for --history and .tif (default: OUT's root attribute input; its checksum must "
                   "equal input_checksum)");
    sub.footer(
        "One row per point: id (the EGMS pid when the file has /points/pid), lon, lat, x, y, velocity, zone,\n"
        "subregion, split, then per forecast step next_diff_<date>, next_cumulative_<date>, interval_low_<date>,\n"
        "interval_high_<date> (dates from /forecast/next_dates) and per holdout step holdout_true_<date>,\n"
        "holdout_pred_<date>, abs_error_<date>; columns whose datasets the file lacks are left out.\n"
        "CSV: a header line, ',' and '.', lon/lat with 8 decimals, x/y with 3, NaN as an empty field.\n"
        "GeoPackage: a point layer named after FILE's stem; geometry lon/lat in EPSG:4326 when the file has\n"
        "/points/lon,lat, else x/y in the file's crs attribute (without a CRS, with a warning, when it has none).\n"
        "--history: also D<YYYYMMDD> per observed date (the input's displacement, mm, NaN where not observed) and\n"
        "per forecast date (next_cumulative, on the same reference).\n"
        "GeoTIFF (.tif): for a geocoded MintPy or LiCSBAS input, float32 bands on the input's pixel grid:\n"
        "next_cumulative_<date>, interval_low_<date>, interval_high_<date>, abs_error_<date> (holdout),\n"
        "subregion; NaN (NoData) at pixels that are not points.\n"
        "Example: hlstm export out.h5 -o subsidence.gpkg --history; hlstm export out.h5 -o forecast.tif\n"
        "Exit codes: 0 done, 1 not a complete hlstm output or unknown extension, 2 write failure.");
    return [a](const Comm& comm) {
        // Serial: rank 0 exports, the others wait; a failure reaches every rank.
        io::ExportSummary summary;
        const auto start = std::chrono::steady_clock::now();
        const auto self = comm.split(comm.isRoot());  // the input is read by rank 0 alone
        coordinated(comm, "export", [&] {
            if (!comm.isRoot()) return;
            io::ExportOptions options;
            options.blockRows = a->blockRows;
            const bool tiff = io::exportFormatOf(a->output) == io::ExportFormat::kGeoTiff;
            io::History history;
            io::RasterGrid grid;
            if (a->history || tiff) {
                if (a->history && tiff)
                    throw ConfigError(a->output + ": --history adds fields to a .csv or .gpkg, not to a GeoTIFF");
                const std::string input = runInputOf(a->input, a->runInput, "or export without --history");
                const ReadOptions read = runReadOptionsOf(a->input);
                if (tiff) {
                    grid = rasterOf(input, read);
                    options.grid = &grid;
                } else {
                    log::info() << "export: reading the observed history from " << input;
                    history = historyOf(*self, input, read);
                    options.history = &history;
                }
            }
            summary = io::exportOutput(a->input, a->output, options);
        });
        if (comm.isRoot()) {
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            auto line = log::info();
            line << "exported " << summary.rows << " points x ";
            if (summary.bands > 0)
                line << summary.bands << " bands (" << summary.geometry << ", "
                     << (summary.crs.empty() ? std::string("no CRS") : summary.crs) << ") to " << a->output;
            else
                line << summary.columns << " columns to " << a->output;
            if (!summary.layer.empty())
                line << " (layer " << summary.layer << ", geometry " << summary.geometry << ", "
                     << (summary.crs.empty() ? std::string("no CRS") : summary.crs) << ")";
            line << " in " << seconds << " s";
        }
        return 0;
    };
}

const Registrar kRegistrar({"export",
                            "Export an hlstm output's points and forecasts to CSV, GeoPackage or GeoTIFF (GIS)",
                            setupExport});

}  // namespace
}  // namespace hlstm::cli
