/// GIS export of an hlstm output file (`hlstm export OUT.h5 -o FILE.csv|FILE.gpkg|FILE.tif`): one row
/// per point with its id, coordinates, velocity, zone, subregion, split, the next-epoch
/// forecast (differential and cumulative per horizon step, and its interval) and the holdout
/// forecast and error, one column per step named after its date (next_diff_20240105); with a
/// History, the observed and forecast positions per date (DYYYYMMDD). A GeoTIFF holds the
/// forecasts on the input's pixel grid instead (bands: next positions, interval bounds, holdout
/// errors, subregion; NaN where no point).
///
/// Datasets are read in blocks of rows and written as they come: memory holds one block of
/// each dataset, whatever the number of points. The output is written to `<FILE>.tmp` and
/// renamed into place (an existing FILE is replaced only by a complete export). Serial: the
/// caller runs it on one rank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hlstm::io {

enum class ExportFormat { kCsv, kGpkg, kGeoTiff };

/// The format of an export path from its extension (.csv, .gpkg, .tif or .tiff, any case);
/// ConfigError naming the path otherwise.
ExportFormat exportFormatOf(const std::string& path);

/// The observed history of the points (`export --history`): the input's displacement (mm, on
/// the input's reference; NaN where not observed) of each point id at each date. With it the
/// CSV and GeoPackage get one field per observed date and per forecast date named DYYYYMMDD
/// (the forecast dates holding /forecast/next_cumulative, on the same reference), as the QGIS
/// InSAR Explorer plugin reads them.
struct History {
    std::vector<std::int32_t> dates;  ///< YYYYMMDD, increasing
    std::vector<std::int64_t> ids;    ///< the output's /points/id rule
    std::vector<float> values;        ///< ids.size() x dates.size(), row-major
};

/// The input's pixel grid, for a GeoTIFF export: output point id = row * cols + col.
struct RasterGrid {
    std::uint64_t rows = 0, cols = 0;
    double geoTransform[6] = {0, 1, 0, 0, 0, 1};  ///< GDAL's: origin x, dx, 0, origin y, 0, dy (outer corner)
    std::string crs;                              ///< "EPSG:4326", ... ("" unknown)
};

struct ExportOptions {
    std::uint64_t blockRows = 65536;   ///< rows read, formatted and written (one transaction) at a time
    const History* history = nullptr;  ///< CSV/GeoPackage: add the DYYYYMMDD fields
    const RasterGrid* grid = nullptr;  ///< GeoTIFF: required (the input's grid)
};

/// What an export wrote.
struct ExportSummary {
    std::uint64_t rows = 0;
    std::uint64_t columns = 0;  ///< attribute columns (the geometry not counted)
    std::string layer;          ///< GeoPackage layer name (the output file's stem); empty for CSV
    std::string geometry;       ///< "lon/lat" (EPSG:4326) or "x/y"
    std::string crs;            ///< the geometry's CRS as given ("EPSG:4326", the file's crs), empty if unknown
    std::uint64_t bands = 0;    ///< GeoTIFF: bands written (columns is then 0)
};

/// Exports the hlstm output `input` (format hlstm-output or hlstm-prediction, complete = 1)
/// to `output`. InputError (exit 1) naming `input` when it is missing, not HDF5, not an hlstm
/// output, incomplete or inconsistent; ConfigError for an unknown extension or an output
/// path that is a directory, in a missing directory or the input itself; RuntimeError when
/// writing fails. Nothing is left at `output` (nor its temporary file) after a failure.
ExportSummary exportOutput(const std::string& input, const std::string& output, const ExportOptions& options = {});

}  // namespace hlstm::io
