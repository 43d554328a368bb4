/// Every input format users have (README: "Input: the archives users have"), chosen by content:
/// the native file, MintPy timeseries.h5 / HDF-EOS5 .he5 (geocoded or radar geometry with a
/// geometry file), LiCSBAS cum.h5 and EGMS CSV (L2a/L2b/L3). Each rank reads only its share
/// (row blocks of the grid, byte ranges of the CSV); the kept points are in one global order
/// that does not depend on the rank count (pixel order, CSV line order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm {

/// "auto", "native", "mintpy", "licsbas", "egms".
std::string toString(InputFormat format);
/// Parses a name of toString; throws ConfigError naming the key otherwise.
InputFormat inputFormatFromString(const std::string& name);

/// The format of `path` by content (HDF5 datasets present, CSV header); throws InputError
/// naming the file when it is none of them.
InputFormat detectFormat(const std::string& path);

/// Reads `path` collectively in `options.format` (detected when kAuto). Geographic
/// coordinates (degrees) are projected to the UTM zone of the scene centre (WGS84), so that
/// distances are metres; stats.crs names the CRS of points.x/y after that ("EPSG:326zz").
/// Displacement in mm. Throws InputError naming the file, dataset or line on every rank.
LocalBlock readInput(const Comm& comm, const std::string& path, const ReadOptions& options);

/// The pixel grid of a gridded input (MintPy, LiCSBAS): its points' ids are the pixel indices
/// row * cols + col.
struct GridGeometry {
    std::uint64_t rows = 0, cols = 0;
    /// Geocoded (a regular grid): pixel (row, col) centre = (x0 + col * dx, y0 + row * dy) in
    /// crs. False for MintPy radar geometry (coordinates per pixel from a geometry file).
    bool regular = true;
    double x0 = 0, dx = 0, y0 = 0, dy = 0;
    std::string crs;
    std::string layout;  ///< as ReadStats::layout
};

/// The grid of `path` when it is a gridded input (InputError naming the file when its grid
/// attributes are bad); nullopt for point inputs (native, EGMS). Serial: reads metadata only.
std::optional<GridGeometry> gridGeometry(const std::string& path, const ReadOptions& options);

/// Sets the epoch cut of `options` (input.until, input.exclude_dates; 0 = none); ConfigError
/// naming the key on a value that is not a YYYYMMDD date.
void setEpochCut(ReadOptions& options, std::int64_t until, const std::vector<std::int64_t>& excludeDates);

/// The reader settings of a configuration's input.* keys (ConfigError on a bad value).
ReadOptions readOptionsFromConfig(const Config& config);

/// Every file a command reads, with the option that names it: `paths[k]` given by
/// `options[k]` ("--input", "--config", "input.mask", ...). Empty paths are left out.
struct FilesRead {
    std::vector<std::string> paths, options;
    void add(const std::string& path, const std::string& option);
};
/// The files of an input (`input`, `read`'s mask and geometry) and of a configuration (its
/// --config files): what an output path is checked against (h5::AtomicOutput).
FilesRead filesRead(const std::string& input, const ReadOptions& read, const Config* config = nullptr);

/// Where this rank's rows are in the per-point datasets of an output: every input point is a
/// row, the kept points first, then those not kept (block.dropped).
output::PointRows pointRowsOf(const LocalBlock& block);

/// Writes /points/x, /points/y, /points/id, /points/lon and /points/lat (WGS84 degrees; NaN
/// when the CRS is unknown) of every input point (this rank's kept and not-kept points at
/// their rows, see pointRowsOf), the CRS of /points/x,y as attribute `crs` of /points/x, and
/// /points/pid for EGMS inputs (collective).
void writePointGeography(const Comm& comm, const h5::File& out, const LocalBlock& block);

namespace geo {
/// Whether `crs` names a CRS at all (not empty, not "local").
bool known(const std::string& crs);
/// Whether PROJ knows `crs` ("EPSG:4326", "4326", a PROJ string).
bool projKnows(const std::string& crs);
/// Whether `crs` ("EPSG:4326", "4326", a PROJ string, ...) is geographic (degrees).
bool isGeographic(const std::string& crs);
/// "EPSG:326zz" / "EPSG:327zz": the WGS84 UTM zone containing (lon, lat).
std::string utmCrsOf(double lon, double lat);
/// Transforms coordinates in place from one CRS to another (axis order x = east/lon,
/// y = north/lat for both). Throws InputError naming `what` on a CRS PROJ does not know or
/// a point it cannot transform.
void transform(const std::string& from, const std::string& to, std::vector<double>& x, std::vector<double>& y,
               const std::string& what);
/// WGS84 longitude and latitude of points in `crs`; NaN when `crs` is empty or "local".
std::pair<std::vector<double>, std::vector<double>> toLonLat(const std::string& crs, const std::vector<double>& x,
                                                             const std::vector<double>& y);
}  // namespace geo

}  // namespace hlstm
