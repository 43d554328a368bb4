/// GIS export of an hlstm output file (`hlstm export OUT.h5 -o FILE.csv|FILE.gpkg`): one row
/// per point with its id, coordinates, velocity, zone, subregion, split, the next-epoch
/// forecast (differential and cumulative per horizon step, and its interval) and the holdout
/// forecast and error, one column per step named after its date (next_diff_20240105).
///
/// Datasets are read in blocks of rows and written as they come: memory holds one block of
/// each dataset, whatever the number of points. The output is written to `<FILE>.tmp` and
/// renamed into place (an existing FILE is replaced only by a complete export). Serial: the
/// caller runs it on one rank.
#pragma once

#include <cstdint>
#include <string>

namespace hlstm::io {

enum class ExportFormat { kCsv, kGpkg };

/// The format of an export path from its extension (.csv or .gpkg, any case); ConfigError
/// naming the path otherwise.
ExportFormat exportFormatOf(const std::string& path);

struct ExportOptions {
    std::uint64_t blockRows = 65536;  ///< rows read, formatted and written (one transaction) at a time
};

/// What an export wrote.
struct ExportSummary {
    std::uint64_t rows = 0;
    std::uint64_t columns = 0;  ///< attribute columns (the geometry not counted)
    std::string layer;          ///< GeoPackage layer name (the output file's stem); empty for CSV
    std::string geometry;       ///< "lon/lat" (EPSG:4326) or "x/y"
    std::string crs;            ///< the geometry's CRS as given ("EPSG:4326", the file's crs), empty if unknown
};

/// Exports the hlstm output `input` (format hlstm-output or hlstm-prediction, complete = 1)
/// to `output`. InputError (exit 1) naming `input` when it is missing, not HDF5, not an hlstm
/// output, incomplete or inconsistent; ConfigError for an unknown extension or an output
/// path that is a directory, in a missing directory or the input itself; RuntimeError when
/// writing fails. Nothing is left at `output` (nor its temporary file) after a failure.
ExportSummary exportOutput(const std::string& input, const std::string& output, const ExportOptions& options = {});

}  // namespace hlstm::io
