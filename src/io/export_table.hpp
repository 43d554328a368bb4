// Private to src/io's export: the hlstm output opened as a table of per-point columns read
// in blocks (export_table.cpp), and the writers of each export format (export.cpp: CSV;
// export_gpkg.cpp: GeoPackage through GDAL, with its packed R-tree).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hlstm/io/export.hpp"
#include "hlstm/io/hdf5.hpp"

namespace hlstm::io::detail {

enum class Kind { kInt, kFloat32, kFloat64, kString };

// One per-point dataset of the input and its current block of rows (width values a row).
struct Source {
    std::string path;
    std::unique_ptr<h5::Dataset> ds;
    Kind kind = Kind::kFloat64;
    bool int64 = false;  // integers that need 64 bits (int64, uint32, uint64)
    std::uint64_t width = 1;
    std::vector<std::int64_t> ints;
    std::vector<float> f32;
    std::vector<double> f64;
    std::vector<std::string> strs;
    // The status column: /points/status codes (ds; none in files before it: every point was
    // forecast) written as their names (output::toString), so kind is kString.
    bool statusNames = false;
    // The observed history (export --history): f32 of width history->dates.size(), filled from
    // `history` by the ids of `idsOf` (loaded before this source), NaN for an id not there.
    const History* history = nullptr;
    const Source* idsOf = nullptr;
    std::unordered_map<std::int64_t, std::size_t> historyRow;

    [[nodiscard]] bool isNull(std::size_t i) const {
        return (kind == Kind::kFloat32 && std::isnan(f32[i])) || (kind == Kind::kFloat64 && std::isnan(f64[i]));
    }
    [[nodiscard]] double number(std::size_t i) const {
        switch (kind) {
            case Kind::kInt: return static_cast<double>(ints[i]);
            case Kind::kFloat32: return f32[i];
            case Kind::kFloat64: return f64[i];
            case Kind::kString: break;
        }
        return std::nan("");
    }
};

/// Reads rows [row0, row0 + rows) of a source into its block.
void load(Source& s, std::uint64_t row0, std::uint64_t rows);

// How a column's numbers are written to CSV.
enum class Style { kShortest, kFixed3, kFixed8 };

struct Column {
    std::string name;
    const Source* src = nullptr;  // nullptr: no data (lon/lat of a file without them), always empty
    std::uint64_t k = 0;          // value index within the row
    Style style = Style::kShortest;
};

// The input file opened and checked: its per-point datasets and the columns built from them.
struct Table {
    std::string path;
    std::unique_ptr<h5::File> file;
    std::uint64_t n = 0;
    std::vector<std::unique_ptr<Source>> sources;
    std::vector<Column> columns;
    const Source* x = nullptr;
    const Source* y = nullptr;
    const Source* lon = nullptr;
    const Source* lat = nullptr;
    bool geographic = false;  // geometry from lon/lat (EPSG:4326); else from x/y in `crs`
    std::string crs;          // the file's CRS of x/y ("" when unknown)

    void loadBlock(std::uint64_t row0, std::uint64_t rows) {
        for (auto& s : sources) load(*s, row0, rows);
    }
};

/// InputError "<file>: <what>".
[[noreturn]] void bad(const std::string& file, const std::string& what);

/// The hlstm output `input` opened and checked (format, complete, shapes), with its columns;
/// with `history`, the DYYYYMMDD columns of the observed and forecast positions too.
Table openTable(const std::string& input, std::uint64_t blockRows, const History* history = nullptr);

/// The source of dataset `path` among the table's (nullptr when the file lacks it).
Source* sourceOf(Table& t, const std::string& path);
const Source* sourceOf(const Table& t, const std::string& path);

/// Column-name suffixes of a per-step dataset: its dates ("_20240105") when `datesPath` holds
/// one per step, otherwise the step number ("_step1").
std::vector<std::string> stepSuffixes(const Table& t, const std::string& datesPath, std::uint64_t steps);

/// Writes the forecasts on the input's pixel grid as a GeoTIFF at `path` (GDAL), one float32
/// band each for next_cumulative, interval_low and interval_high per step, abs_error per
/// holdout step and the subregion; NaN where no point. Fills the summary's bands and crs.
void writeGeoTiff(Table& t, const std::string& path, const RasterGrid& grid, std::uint64_t blockRows,
                  ExportSummary& summary);

/// Writes the table as a GeoPackage layer `layerName` at `path` (GDAL), filling the summary's
/// layer and crs.
void writeGpkg(Table& t, const std::string& path, const std::string& layerName, std::uint64_t blockRows,
               ExportSummary& summary);

}  // namespace hlstm::io::detail
