// Gridded inputs: MintPy timeseries.h5 / HDF-EOS5 .he5 (geocoded, or radar geometry with a
// geometry file) and LiCSBAS cum.h5 (README: "Input: the archives users have"). Each rank reads only its block of
// grid rows, a few rows at a time (hyperslabs over dates x rows x width), so it never holds
// more than its share of the points plus one slab.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "reader_common.hpp"

namespace hlstm {
namespace {

constexpr std::size_t kSlabBytes = 16u << 20;  // one read: 16 MB of the cube

// Where a grid's points are: pixel (row, col) centre = (x0 + col * dx, y0 + row * dy), or
// per-pixel coordinates from a geometry file's /latitude, /longitude.
struct Grid {
    std::string cube;  // dataset (dates, rows, cols)
    std::uint64_t rows = 0, cols = 0;
    std::vector<std::int32_t> dates;
    float toMm = 1.0f;
    std::string unit;
    std::optional<float> noData;
    double x0 = 0, dx = 0, y0 = 0, dy = 0;
    std::string crs;
    std::string geometryFile;  // radar geometry: file and datasets of lat, lon
    std::string latPath, lonPath;
    std::string layout;
};

// A root attribute as text: MintPy writes every attribute as a string, other writers numbers.
std::optional<std::string> attrText(const h5::File& f, const std::string& name) {
    if (!f.hasAttribute(name)) return std::nullopt;
    try {
        return f.readStringAttribute(name);
    } catch (const H5Error&) {
        const double v = f.readAttribute<double>(name);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return std::string(buf);
    }
}

double number(const std::string& path, const std::string& name, const std::string& text) {
    std::size_t used = 0;
    double v = std::numeric_limits<double>::quiet_NaN();
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    while (used < text.size() && std::isspace(static_cast<unsigned char>(text[used]))) ++used;
    if (used == 0 || used != text.size())
        throw InputError(path + ": attribute " + name + " = '" + text + "' is not a number");
    return v;
}

double requireAttrNumber(const h5::File& f, const std::string& name, const std::string& why) {
    auto t = attrText(f, name);
    if (!t) throw InputError(f.path() + ": missing attribute " + name + " (" + why + ")");
    return number(f.path(), name, *t);
}

// A scalar (or one-element) dataset of LiCSBAS as a double.
double scalarDataset(const h5::File& f, const std::string& name, const std::string& why) {
    if (!f.exists(name)) throw InputError(f.path() + ": missing dataset " + name + " (" + why + ")");
    auto ds = f.openDataset(name);
    std::uint64_t n = 1;
    for (auto d : ds.dims()) n *= d;
    if (n != 1 || (ds.typeClass() != h5::TypeClass::kFloat && ds.typeClass() != h5::TypeClass::kInteger))
        throw InputError(f.path() + ": dataset " + name + " must be one number (" + why + ")");
    return ds.readAll<double>().at(0);
}

std::vector<std::int32_t> readDates(const h5::File& f, const std::string& name) {
    if (!f.exists(name)) throw InputError(f.path() + ": missing dataset " + name + " (the YYYYMMDD acquisition dates)");
    auto ds = f.openDataset(name);
    if (ds.dims().size() != 1) throw InputError(f.path() + ": dataset " + name + " must be one-dimensional (dates)");
    std::vector<std::int32_t> out;
    if (ds.typeClass() == h5::TypeClass::kString) {
        std::size_t t = 0;
        for (const auto& s : f.readStrings(name)) {
            const std::int32_t d = detail::parseDate8(s);
            if (d < 0)
                throw InputError(f.path() + ": dataset " + name + " index " + std::to_string(t) + ": '" + s +
                                 "' is not a YYYYMMDD date");
            out.push_back(d);
            ++t;
        }
    } else if (ds.typeClass() == h5::TypeClass::kInteger && ds.typeSize() <= 8) {
        out = ds.readAll<std::int32_t>();
    } else {
        throw InputError(f.path() + ": dataset " + name + " must hold YYYYMMDD strings or integers");
    }
    detail::checkDates(out, f.path() + ": dataset " + name);
    return out;
}

// The cube's shape check: (dates, rows, cols) floats.
void checkCube(const h5::File& f, Grid& g) {
    auto ds = f.openDataset(g.cube);
    if (ds.typeClass() != h5::TypeClass::kFloat || (ds.typeSize() != 4 && ds.typeSize() != 8))
        throw InputError(f.path() + ": dataset " + g.cube + " must hold 4- or 8-byte floats");
    const auto d = ds.dims();
    if (d.size() != 3)
        throw InputError(f.path() + ": dataset " + g.cube + " must be three-dimensional (dates x rows x columns)");
    if (d[0] != g.dates.size())
        throw InputError(f.path() + ": dataset " + g.cube + " has " + std::to_string(d[0]) +
                         " dates but the date list " + std::to_string(g.dates.size()));
    if (d[1] == 0 || d[2] == 0) throw InputError(f.path() + ": dataset " + g.cube + " has no pixels");
    g.rows = d[1];
    g.cols = d[2];
}

std::string crsOfMintPy(const h5::File& f) {
    if (auto epsg = attrText(f, "EPSG"); epsg && !epsg->empty() && *epsg != "None" && *epsg != "none")
        return epsg->rfind("EPSG:", 0) == 0
                   ? *epsg
                   : "EPSG:" + std::to_string(static_cast<long>(number(f.path(), "EPSG", *epsg)));
    if (auto zone = attrText(f, "UTM_ZONE"); zone && !zone->empty()) {
        const bool south = zone->back() == 'S' || zone->back() == 's';
        const std::string digits =
            (zone->back() >= '0' && zone->back() <= '9') ? *zone : zone->substr(0, zone->size() - 1);
        const int z = static_cast<int>(number(f.path(), "UTM_ZONE", digits));
        if (z < 1 || z > 60) throw InputError(f.path() + ": attribute UTM_ZONE = '" + *zone + "' is not a UTM zone");
        return "EPSG:" + std::to_string((south ? 32700 : 32600) + z);
    }
    const std::string unit = attrText(f, "X_UNIT").value_or("degrees");
    if (unit.find("deg") != std::string::npos) return "EPSG:4326";
    return "";  // metres of an unnamed projection
}

Grid mintPyGrid(const h5::File& f, const ReadOptions& options) {
    Grid g;
    std::string dateName;
    if (f.exists("/timeseries")) {
        g.cube = "/timeseries", dateName = "/date";
    } else if (f.exists("/HDFEOS/GRIDS/timeseries/observation/displacement")) {
        g.cube = "/HDFEOS/GRIDS/timeseries/observation/displacement";
        dateName = "/HDFEOS/GRIDS/timeseries/observation/date";
    } else {
        throw InputError(f.path() +
                         ": a MintPy file without /timeseries or "
                         "/HDFEOS/GRIDS/timeseries/observation/displacement (GIAnT files are not read: "
                         "convert them with MintPy first)");
    }
    g.dates = readDates(f, dateName);
    checkCube(f, g);
    for (const char* key : {"LENGTH", "WIDTH"})
        if (auto t = attrText(f, key)) {
            const auto v = static_cast<std::uint64_t>(number(f.path(), key, *t));
            const std::uint64_t want = std::string(key) == "LENGTH" ? g.rows : g.cols;
            if (v != want)
                throw InputError(f.path() + ": attribute " + key + " = " + *t + " but " + g.cube + " has " +
                                 std::to_string(want));
        }
    g.unit = attrText(f, "UNIT").value_or("m");
    if (g.unit == "m")
        g.toMm = 1000.0f;
    else if (g.unit == "cm")
        g.toMm = 10.0f;
    else if (g.unit == "mm")
        g.toMm = 1.0f;
    else
        throw InputError(f.path() + ": attribute UNIT = '" + g.unit + "'; expected m, cm or mm");
    if (auto nd = attrText(f, "NO_DATA_VALUE"); nd && *nd != "None" && *nd != "none" && !nd->empty()) {
        const double v = number(f.path(), "NO_DATA_VALUE", *nd);
        if (std::isfinite(v)) g.noData = static_cast<float>(v);
    }
    // HDF-EOS5 (.he5): the no-data value is the displacement's own MissingValue attribute.
    if (!g.noData) {
        auto cube = f.openDataset(g.cube);
        if (cube.hasAttribute("MissingValue")) {
            const double v = cube.readAttribute<double>("MissingValue");
            if (std::isfinite(v)) g.noData = static_cast<float>(v);
        }
    }
    const bool geocoded = f.hasAttribute("X_FIRST") || f.hasAttribute("Y_FIRST");
    if (geocoded) {
        const std::string why = "the file is geocoded: X_FIRST, Y_FIRST, X_STEP, Y_STEP give the grid";
        const double xFirst = requireAttrNumber(f, "X_FIRST", why), yFirst = requireAttrNumber(f, "Y_FIRST", why);
        g.dx = requireAttrNumber(f, "X_STEP", why);
        g.dy = requireAttrNumber(f, "Y_STEP", why);
        if (g.dx == 0 || g.dy == 0 || !std::isfinite(g.dx) || !std::isfinite(g.dy))
            throw InputError(f.path() + ": attribute " +
                             std::string(g.dx == 0 || !std::isfinite(g.dx) ? "X_STEP" : "Y_STEP") +
                             " is 0 or not finite: the grid has no pixel size");
        g.x0 = xFirst + 0.5 * g.dx;  // X_FIRST is the outer corner of the first pixel
        g.y0 = yFirst + 0.5 * g.dy;
        g.crs = crsOfMintPy(f);
        g.layout = "MintPy geocoded grid " + std::to_string(g.rows) + " x " + std::to_string(g.cols) + " (" +
                   (g.crs.empty() ? "unnamed CRS" : g.crs) + "), " + g.cube;
        return g;
    }
    // Radar geometry: coordinates per pixel from a geometry file.
    g.crs = "EPSG:4326";
    if (!options.geometry.empty()) {
        g.geometryFile = options.geometry;
        g.latPath = "/latitude", g.lonPath = "/longitude";
    } else if (f.exists("/HDFEOS/GRIDS/timeseries/geometry/latitude")) {
        g.geometryFile = f.path();
        g.latPath = "/HDFEOS/GRIDS/timeseries/geometry/latitude";
        g.lonPath = "/HDFEOS/GRIDS/timeseries/geometry/longitude";
    } else {
        const auto dir = std::filesystem::path(f.path()).parent_path();
        for (const auto& candidate : {dir / "inputs" / "geometryRadar.h5", dir / "geometryRadar.h5"})
            if (std::filesystem::exists(candidate)) {
                g.geometryFile = candidate.string();
                g.latPath = "/latitude", g.lonPath = "/longitude";
                break;
            }
        if (g.geometryFile.empty())
            throw InputError(f.path() +
                             ": in radar geometry (no X_FIRST/Y_FIRST attributes), and no geometry file: "
                             "set input.geometry to its geometryRadar.h5 (with /latitude, /longitude)");
    }
    g.layout = "MintPy radar-geometry grid " + std::to_string(g.rows) + " x " + std::to_string(g.cols) +
               ", coordinates from " + g.geometryFile;
    return g;
}

Grid licsbasGrid(const h5::File& f) {
    Grid g;
    g.cube = "/cum";
    if (!f.exists("/cum")) throw InputError(f.path() + ": missing dataset /cum (LiCSBAS cumulative displacement)");
    g.dates = readDates(f, "/imdates");
    checkCube(f, g);
    g.unit = "mm";
    const std::string why = "LiCSBAS geographic grid: lat = corner_lat + post_lat * row";
    g.y0 = scalarDataset(f, "/corner_lat", why);
    g.x0 = scalarDataset(f, "/corner_lon", why);
    g.dy = scalarDataset(f, "/post_lat", why);
    g.dx = scalarDataset(f, "/post_lon", why);
    if (g.dy == 0 || !std::isfinite(g.dy))
        throw InputError(f.path() + ": dataset /post_lat is 0 or not finite: the grid has no latitude step");
    if (g.dx == 0 || !std::isfinite(g.dx))
        throw InputError(f.path() + ": dataset /post_lon is 0 or not finite: the grid has no longitude step");
    g.crs = "EPSG:4326";
    g.layout = "LiCSBAS geographic grid " + std::to_string(g.rows) + " x " + std::to_string(g.cols) + ", /cum";
    return g;
}

// A (rows, cols) slab of a 2-D dataset shaped like the grid, as doubles (mask: non-zero = keep).
std::vector<double> planeSlab(const h5::File& f, const std::string& name, const Grid& g, std::uint64_t r0,
                              std::uint64_t rr) {
    auto ds = f.openDataset(name);
    if (ds.typeClass() == h5::TypeClass::kEnum) {  // h5py's bool: an int8 enum
        if (ds.typeSize() != 1) throw InputError(f.path() + ": dataset " + name + " is an enum wider than a bool");
        const std::vector<std::int8_t> raw = ds.readEnum8Slab({r0, 0}, {rr, g.cols});
        return {raw.begin(), raw.end()};
    }
    return ds.readSlab<double>({r0, 0}, {rr, g.cols});
}

void checkPlane(const h5::File& f, const std::string& name, const Grid& g, const std::string& what) {
    if (!f.exists(name)) throw InputError(f.path() + ": missing dataset " + name + " (" + what + ")");
    const auto d = f.openDataset(name).dims();
    if (d.size() != 2 || d[0] != g.rows || d[1] != g.cols)
        throw InputError(f.path() + ": dataset " + name + " must be " + std::to_string(g.rows) + " x " +
                         std::to_string(g.cols) + " like the time series (" + what + ")");
}

}  // namespace

GridGeometry gridGeometryOf(const std::string& path, InputFormat format, const ReadOptions& options) {
    std::unique_ptr<h5::File> file;
    try {
        file = std::make_unique<h5::File>(path, h5::Access::kReadOnly);
    } catch (const H5Error& err) {
        throw InputError(path + ": truncated or damaged HDF5 file, cannot open it: " + err.what());
    }
    const Grid g = format == InputFormat::kLicsbas ? licsbasGrid(*file) : mintPyGrid(*file, options);
    GridGeometry out;
    out.rows = g.rows;
    out.cols = g.cols;
    out.regular = g.geometryFile.empty();
    out.x0 = g.x0, out.dx = g.dx, out.y0 = g.y0, out.dy = g.dy;
    out.crs = g.crs;
    out.layout = g.layout;
    return out;
}

LocalBlock readGrid(const Comm& comm, const std::string& path, InputFormat format, const ReadOptions& options) {
    std::unique_ptr<h5::File> file, geometry, mask;
    Grid g;
    const std::string maskName = "/mask";
    // Every rank opens the files for reading on its own (serial HDF5 access, independent
    // slabs); they all check the same metadata, so they fail alike.
    coordinated(comm, "read:validate", [&] {
        try {
            file = std::make_unique<h5::File>(path, h5::Access::kReadOnly);
        } catch (const H5Error& err) {
            throw InputError(path + ": truncated or damaged HDF5 file, cannot open it: " + err.what());
        }
        g = format == InputFormat::kLicsbas ? licsbasGrid(*file) : mintPyGrid(*file, options);
        (void)file->openDataset(g.cube);  // an unreadable filter (LZF) is named here
        if (!g.geometryFile.empty()) {
            if (g.geometryFile == path) {
                checkPlane(*file, g.latPath, g, "latitude per pixel");
                checkPlane(*file, g.lonPath, g, "longitude per pixel");
            } else {
                if (!std::filesystem::exists(g.geometryFile))
                    throw InputError(g.geometryFile + ": no such file (input.geometry)");
                geometry = std::make_unique<h5::File>(g.geometryFile, h5::Access::kReadOnly);
                checkPlane(*geometry, g.latPath, g, "latitude per pixel");
                checkPlane(*geometry, g.lonPath, g, "longitude per pixel");
            }
        }
        if (!options.mask.empty()) {
            if (!std::filesystem::exists(options.mask)) throw InputError(options.mask + ": no such file (input.mask)");
            mask = std::make_unique<h5::File>(options.mask, h5::Access::kReadOnly);
            checkPlane(*mask, maskName, g, "non-zero where pixels are kept");
        }
    });

    const std::size_t m = g.dates.size();
    const BlockRange mine = blockRange(g.rows, comm.size(), comm.rank());
    detail::RawPoints raw;
    raw.toMm = g.toMm;
    std::uint64_t masked = 0;
    coordinated(comm, "read:rows", [&] {
        const std::size_t slabRows =
            std::clamp<std::size_t>(kSlabBytes / std::max<std::size_t>(1, g.cols * m * sizeof(float)), 1,
                                    std::max<std::size_t>(1, mine.count()));
        raw.values.reserve(mine.count() * g.cols * m);  // the share at most; untouched pages cost nothing
        auto cube = file->openDataset(g.cube);
        const h5::File* geo = g.geometryFile.empty() ? nullptr : (geometry ? geometry.get() : file.get());
        for (std::uint64_t r0 = mine.begin; r0 < mine.end; r0 += slabRows) {
            const std::uint64_t rr = std::min<std::uint64_t>(slabRows, mine.end - r0);
            std::vector<float> slab;
            try {
                slab = cube.readSlab<float>({0, r0, 0}, {m, rr, g.cols});
            } catch (const H5Error& err) {
                throw InputError(path + ": truncated or damaged HDF5 file: " + err.what());
            }
            std::vector<double> keep, lat, lon;
            if (mask) keep = planeSlab(*mask, maskName, g, r0, rr);
            if (geo) {
                lat = planeSlab(*geo, g.latPath, g, r0, rr);
                lon = planeSlab(*geo, g.lonPath, g, r0, rr);
            }
            const std::size_t plane = rr * g.cols;
            for (std::size_t p = 0; p < plane; ++p) {
                // NO_DATA_VALUE marks pixels without data in every epoch; a single value equal
                // to it is data (MintPy's first epoch and reference pixel are 0 everywhere).
                std::size_t valid = 0, noData = 0;
                for (std::size_t t = 0; t < m; ++t) {
                    const float v = slab[t * plane + p];
                    valid += std::isfinite(v) ? 1 : 0;
                    noData += (g.noData && v == *g.noData) ? 1 : 0;
                }
                const std::uint64_t row = r0 + p / g.cols, col = p % g.cols;
                const auto id = static_cast<std::int64_t>(row * g.cols + col);
                double x = g.x0 + static_cast<double>(col) * g.dx, y = g.y0 + static_cast<double>(row) * g.dy;
                if (geo) x = lon[p], y = lat[p];
                const bool located = std::isfinite(x) && std::isfinite(y) && !(geo && x == 0 && y == 0);
                if (!located) x = y = std::numeric_limits<double>::quiet_NaN();
                // Every pixel is an input point: the ones left out are kept with their reason.
                if (valid == 0 || noData == valid) {  // not a point: no data here
                    raw.skip(x, y, id, output::PointStatus::kNoData);
                    continue;
                }
                if (mask && keep[p] == 0) {
                    ++masked;
                    raw.skip(x, y, id, output::PointStatus::kMasked);
                    continue;
                }
                if (!located) {  // no geolocation
                    raw.skip(x, y, id, output::PointStatus::kInvalidCoordinates);
                    continue;
                }
                raw.add(x, y, id);
                for (std::size_t t = 0; t < m; ++t) raw.values.push_back(slab[t * plane + p]);
            }
        }
    });
    file.reset(), geometry.reset(), mask.reset();
    masked = comm.allreduce<std::uint64_t>(masked, Reduce::kSum);
    ReadStats stats;
    stats.format = toString(format);
    stats.unit = g.unit;
    stats.crs = g.crs;
    stats.layout = g.layout + (options.mask.empty() ? ""
                                                    : ", mask " + options.mask + " (" + std::to_string(masked) +
                                                          " pixel(s) masked out)");
    return detail::finishBlock(comm, path, std::move(raw), g.dates, std::move(stats), options);
}

}  // namespace hlstm
