#include "hlstm/data/input.hpp"
#include "hlstm/io/output_format.hpp"

#include <proj.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/hdf5.hpp"
#include "reader_common.hpp"

namespace hlstm {

// Readers of the other formats (grid_reader.cpp, csv_reader.cpp).
LocalBlock readGrid(const Comm& comm, const std::string& path, InputFormat format, const ReadOptions& options);
GridGeometry gridGeometryOf(const std::string& path, InputFormat format, const ReadOptions& options);
LocalBlock readEgmsCsv(const Comm& comm, const std::string& path, const ReadOptions& options);

std::string toString(InputFormat format) {
    switch (format) {
        case InputFormat::kAuto: return "auto";
        case InputFormat::kNative: return "native";
        case InputFormat::kMintPy: return "mintpy";
        case InputFormat::kLicsbas: return "licsbas";
        case InputFormat::kEgms: return "egms";
    }
    return "auto";
}

InputFormat inputFormatFromString(const std::string& name) {
    for (auto f :
         {InputFormat::kAuto, InputFormat::kNative, InputFormat::kMintPy, InputFormat::kLicsbas, InputFormat::kEgms})
        if (toString(f) == name) return f;
    throw ConfigError("input.format: '" + name + "' is not one of auto, native, mintpy, licsbas, egms");
}

namespace {

// The first line of a text file, or "" (at most 1 MB: a header, not a whole file).
std::string firstLine(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    char c;
    while (line.size() < (1u << 20) && in.get(c) && c != '\n') line.push_back(c);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte-order mark
    return line;
}

// A header of several fields (',' or ';') one of which is YYYYMMDD, quoted or not.
bool looksLikeDatedCsv(const std::string& header) {
    for (char delimiter : {',', ';'}) {
        if (header.find(delimiter) == std::string::npos) continue;
        std::istringstream fields(header);
        for (std::string field; std::getline(fields, field, delimiter);) {
            if (field.size() >= 2 && field.front() == '"' && field.back() == '"')
                field = field.substr(1, field.size() - 2);
            if (detail::parseDate8(field) >= 0) return true;
        }
    }
    return false;
}

}  // namespace

InputFormat detectFormat(const std::string& path) {
    if (!std::filesystem::exists(path)) throw InputError(path + ": no such file");
    if (std::filesystem::is_directory(path)) throw InputError(path + ": is a directory, not an HDF5 file or a CSV");
    if (!std::filesystem::is_regular_file(path))
        throw InputError(path +
                         ": not a regular file (a pipe or a device?): every rank reads its own part of the "
                         "input, so save the data to a file first");
    if (h5::isHdf5(path)) {
        std::unique_ptr<h5::File> file;
        try {
            file = std::make_unique<h5::File>(path, h5::Access::kReadOnly);
        } catch (const H5Error&) {
            return InputFormat::kNative;  // the native reader names the damage
        }
        if (file->exists("/displacement") || file->exists("/x")) return InputFormat::kNative;
        if (file->exists("/timeseries") || file->exists("/HDFEOS") || file->exists("/giantTimeseries"))
            return InputFormat::kMintPy;
        if (file->exists("/cum") || file->exists("/imdates")) return InputFormat::kLicsbas;
        throw InputError(path +
                         ": an HDF5 file of no known input format: none of /displacement (native), "
                         "/timeseries or /HDFEOS (MintPy), /cum (LiCSBAS)");
    }
    if (looksLikeDatedCsv(firstLine(path))) return InputFormat::kEgms;
    throw InputError(path +
                     ": not an HDF5 file (or corrupt), nor a CSV whose header has YYYYMMDD date columns "
                     "(EGMS)");
}

LocalBlock readInput(const Comm& comm, const std::string& path, const ReadOptions& options) {
    InputFormat format = options.format;
    if (format == InputFormat::kAuto) coordinated(comm, "read:open", [&] { format = detectFormat(path); });
    switch (format) {
        case InputFormat::kMintPy:
        case InputFormat::kLicsbas: return readGrid(comm, path, format, options);
        case InputFormat::kEgms: return readEgmsCsv(comm, path, options);
        default: return readNative(comm, path, options);
    }
}

std::optional<GridGeometry> gridGeometry(const std::string& path, const ReadOptions& options) {
    InputFormat format = options.format;
    if (format == InputFormat::kAuto) format = detectFormat(path);
    if (format != InputFormat::kMintPy && format != InputFormat::kLicsbas) return std::nullopt;
    return gridGeometryOf(path, format, options);
}

void setEpochCut(ReadOptions& options, std::int64_t until, const std::vector<std::int64_t>& excludeDates) {
    auto date = [](std::int64_t v, const std::string& key) {
        if (v != 0 && (v < 10000101 || v > 99991231 || !dates::valid(static_cast<std::int32_t>(v))))
            throw ConfigError(key + ": " + std::to_string(v) + " is not a YYYYMMDD date");
        return static_cast<std::int32_t>(v);
    };
    options.until = date(until, "input.until");
    options.excludeDates.clear();
    for (const std::int64_t d : excludeDates)
        if (d != 0) options.excludeDates.push_back(date(d, "input.exclude_dates"));
}

ReadOptions readOptionsFromConfig(const Config& config) {
    ReadOptions o;
    o.minValidFraction = config.getDouble("input.min_valid_fraction");
    if (!(o.minValidFraction >= 0 && o.minValidFraction <= 1))
        throw ConfigError("input.min_valid_fraction must be in [0, 1]");
    o.format = inputFormatFromString(config.getString("input.format"));
    o.geometry = config.getString("input.geometry");
    o.mask = config.getString("input.mask");
    setEpochCut(o, config.getInt("input.until"), config.getIntList("input.exclude_dates"));
    return o;
}

void FilesRead::add(const std::string& path, const std::string& option) {
    if (path.empty()) return;
    paths.push_back(path);
    options.push_back(option);
}

FilesRead filesRead(const std::string& input, const ReadOptions& read, const Config* config) {
    FilesRead f;
    f.add(input, "input");
    f.add(read.mask, "the mask, input.mask");
    f.add(read.geometry, "the geometry, input.geometry");
    if (config != nullptr)
        for (const auto& file : config->files()) f.add(file, "the configuration, --config");
    return f;
}

output::PointRows pointRowsOf(const LocalBlock& block) {
    output::PointRows r;
    r.keptTotal = block.keptTotal;
    r.keptOffset = block.keptOffset;
    r.keptCount = block.points.size();
    r.droppedTotal = block.dropped.total;
    r.droppedOffset = block.dropped.offset;
    r.droppedCount = block.dropped.size();
    return r;
}

void writePointGeography(const Comm& comm, const h5::File& out, const LocalBlock& block) {
    const auto& p = block.points;
    const auto& d = block.dropped;
    const output::PointRows rows = pointRowsOf(block);
    output::writePointRows(out, output::points::kX, rows, p.x, d.x);
    output::writePointRows(out, output::points::kY, rows, p.y, d.y);
    output::writePointRows(out, output::points::kId, rows, p.ids, d.ids);
    const auto [lon, lat] = geo::toLonLat(block.stats.crs, p.x, p.y);
    const auto [dlon, dlat] = geo::toLonLat(block.stats.crs, d.x, d.y);
    output::writePointRows(out, output::points::kLon, rows, lon, dlon);
    output::writePointRows(out, output::points::kLat, rows, lat, dlat);
    out.writeObjectStringAttribute(output::points::kX, output::attr::kCrs,
                                   block.stats.crs.empty() ? "unknown" : block.stats.crs);
    if (!block.stats.sourceCrs.empty() && block.stats.sourceCrs != block.stats.crs)
        out.writeObjectStringAttribute(output::points::kX, output::attr::kSourceCrs, block.stats.sourceCrs);
    if (block.stats.format != "egms") return;
    // Every rank takes part (a rank without points has no pids, the file has them).
    std::uint64_t width = 0;
    for (const auto& s : block.pids) width = std::max<std::uint64_t>(width, s.size());
    for (const auto& s : d.pids) width = std::max<std::uint64_t>(width, s.size());
    width = comm.allreduce(width, Reduce::kMax);
    std::vector<std::string> droppedPids = d.pids;
    droppedPids.resize(d.size());  // a reader that kept no pid of a dropped point: empty
    if (width > 0)
        out.writeStringRows(output::points::kPid, rows.total(), rows.keptOffset, block.pids,
                            rows.keptTotal + rows.droppedOffset, droppedPids, width);
}

// ---------------------------------------------------------------- coordinates (PROJ)
namespace geo {
namespace {

struct Context {
    PJ_CONTEXT* ctx = proj_context_create();
    Context() { proj_log_level(ctx, PJ_LOG_NONE); }
    ~Context() { proj_context_destroy(ctx); }
};
struct Object {
    PJ* pj;
    explicit Object(PJ* p) : pj(p) {}
    ~Object() {
        if (pj != nullptr) proj_destroy(pj);
    }
};

// "4326" (MintPy's EPSG attribute) -> "EPSG:4326"; everything else as given.
std::string normalized(const std::string& crs) {
    if (!crs.empty() && std::all_of(crs.begin(), crs.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "EPSG:" + crs;
    return crs;
}

}  // namespace

bool known(const std::string& crs) { return !crs.empty() && crs != "local"; }

bool projKnows(const std::string& crs) {
    Context c;
    Object p(proj_create(c.ctx, normalized(crs).c_str()));
    return p.pj != nullptr;
}

bool isGeographic(const std::string& crs) {
    if (!known(crs)) return false;
    Context c;
    Object p(proj_create(c.ctx, normalized(crs).c_str()));
    if (p.pj == nullptr) return false;
    const PJ_TYPE type = proj_get_type(p.pj);
    return type == PJ_TYPE_GEOGRAPHIC_2D_CRS || type == PJ_TYPE_GEOGRAPHIC_3D_CRS || type == PJ_TYPE_GEOGRAPHIC_CRS;
}

std::string utmCrsOf(double lon, double lat) {
    const int zone = std::clamp(static_cast<int>(std::floor((lon + 180.0) / 6.0)) + 1, 1, 60);
    return "EPSG:" + std::to_string((lat >= 0 ? 32600 : 32700) + zone);
}

void transform(const std::string& from, const std::string& to, std::vector<double>& x, std::vector<double>& y,
               const std::string& what) {
    Context c;
    Object raw(proj_create_crs_to_crs(c.ctx, normalized(from).c_str(), normalized(to).c_str(), nullptr));
    if (raw.pj == nullptr)
        throw InputError(what + ": cannot transform coordinates from '" + from + "' to '" + to +
                         "' (a CRS PROJ does not know)");
    // Longitude/easting first for both sides, whatever the CRS's official axis order.
    Object pj(proj_normalize_for_visualization(c.ctx, raw.pj));
    if (pj.pj == nullptr) throw InputError(what + ": cannot normalise the transformation " + from + " -> " + to);
    const std::size_t n = x.size();
    if (n == 0) return;
    proj_trans_generic(pj.pj, PJ_FWD, x.data(), sizeof(double), n, y.data(), sizeof(double), n, nullptr, 0, 0, nullptr,
                       0, 0);
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i]) || !std::isfinite(y[i]) || std::abs(x[i]) > 1e30)
            throw InputError(what + ": point " + std::to_string(i) + " cannot be transformed from " + from + " to " +
                             to + " (coordinates outside the CRS's area?)");
}

std::pair<std::vector<double>, std::vector<double>> toLonLat(const std::string& crs, const std::vector<double>& x,
                                                             const std::vector<double>& y) {
    std::vector<double> lon = x, lat = y;
    if (!known(crs)) {
        std::fill(lon.begin(), lon.end(), std::numeric_limits<double>::quiet_NaN());
        std::fill(lat.begin(), lat.end(), std::numeric_limits<double>::quiet_NaN());
        return {lon, lat};
    }
    if (!isGeographic(crs)) transform(crs, "EPSG:4326", lon, lat, "lon/lat of the points");
    return {lon, lat};
}

}  // namespace geo

namespace detail {

void projectGeographic(const Comm& comm, const std::string& path, LocalBlock& block) {
    auto& s = block.stats;
    if (s.sourceCrs.empty()) s.sourceCrs = s.crs;
    // A CRS PROJ does not know fails here, at read, not at the write after training.
    coordinated(comm, "read:crs", [&] {
        if (!geo::known(s.crs)) return;
        if (!geo::projKnows(s.crs))
            throw InputError(path + ": CRS '" + s.crs + "' (the file's " +
                             (s.format == "native" ? std::string("crs") : std::string("EPSG/crs")) +
                             " attribute) is not known to PROJ; give a valid EPSG code or PROJ string");
    });
    if (!geo::isGeographic(s.crs)) return;
    auto& p = block.points;
    double lo[2] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    double hi[2] = {-lo[0], -lo[1]};
    for (std::size_t i = 0; i < p.size(); ++i) {
        lo[0] = std::min(lo[0], p.x[i]), hi[0] = std::max(hi[0], p.x[i]);
        lo[1] = std::min(lo[1], p.y[i]), hi[1] = std::max(hi[1], p.y[i]);
    }
    for (int k = 0; k < 2; ++k) {
        lo[k] = comm.allreduce(lo[k], Reduce::kMin);
        hi[k] = comm.allreduce(hi[k], Reduce::kMax);
    }
    coordinated(comm, "read:project", [&] {
        if (lo[0] < -180 || hi[0] > 360 || lo[1] < -90 || hi[1] > 90)
            throw InputError(path + ": coordinates in " + s.crs + " are not degrees (longitude " +
                             std::to_string(lo[0]) + ".." + std::to_string(hi[0]) + ", latitude " +
                             std::to_string(lo[1]) + ".." + std::to_string(hi[1]) + ")");
        const std::string utm = geo::utmCrsOf(0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
        geo::transform(s.crs, utm, p.x, p.y, path);
        // The dropped points too, where they have coordinates (NaN stays NaN).
        auto& d = block.dropped;
        std::vector<double> dx, dy;
        for (std::size_t i = 0; i < d.size(); ++i)
            if (std::isfinite(d.x[i]) && std::isfinite(d.y[i])) dx.push_back(d.x[i]), dy.push_back(d.y[i]);
        geo::transform(s.crs, utm, dx, dy, path);
        for (std::size_t i = 0, k = 0; i < d.size(); ++i)
            if (std::isfinite(d.x[i]) && std::isfinite(d.y[i])) d.x[i] = dx[k], d.y[i] = dy[k], ++k;
        s.crs = utm;
    });
    if (comm.isRoot())
        log::info() << path << ": coordinates projected from " << s.sourceCrs << " to " << s.crs
                    << " (WGS84 UTM zone of the scene centre), so distances are metres";
}

}  // namespace detail
}  // namespace hlstm
