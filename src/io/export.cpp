#include "hlstm/io/export.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>
#include <type_traits>
#include <vector>

#include "export_table.hpp"
#include "gdal_util.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/atomic_file.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::io {
namespace {

using namespace detail;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- output file

// The export is written as `<output>.tmp` through the one atomic-file primitive; SQLite's side
// files of the temporary GeoPackage go with it.
const std::vector<std::string> kSqliteSideFiles = {"-journal", "-wal", "-shm"};

void checkExportPath(const std::string& input, const std::string& output) {
    std::error_code ec;
    if (fs::is_directory(output, ec)) throw ConfigError(output + ": is a directory; give a file path for the export");
    const fs::path parent = fs::absolute(output).parent_path();
    if (!fs::is_directory(parent, ec)) throw ConfigError(output + ": directory " + parent.string() + " does not exist");
    // The same check as every command's output: neither FILE nor FILE.tmp may be the input.
    checkOutputPath(output, {input}, {"the hlstm output exported"});
}

// ---------------------------------------------------------------- CSV

void appendNumber(std::string& out, const Source& s, std::size_t i, Style style) {
    if (s.isNull(i)) return;  // NaN: empty field
    char buf[64];
    std::to_chars_result r{};
    switch (s.kind) {
        case Kind::kInt: r = std::to_chars(buf, buf + sizeof buf, s.ints[i]); break;
        case Kind::kFloat32:  // the shortest text that reads back as the same float
            r = style == Style::kShortest ? std::to_chars(buf, buf + sizeof buf, s.f32[i])
                                          : std::to_chars(buf, buf + sizeof buf, static_cast<double>(s.f32[i]),
                                                          std::chars_format::fixed, style == Style::kFixed8 ? 8 : 3);
            break;
        case Kind::kFloat64:
            r = style == Style::kShortest ? std::to_chars(buf, buf + sizeof buf, s.f64[i])
                                          : std::to_chars(buf, buf + sizeof buf, s.f64[i], std::chars_format::fixed,
                                                          style == Style::kFixed8 ? 8 : 3);
            break;
        case Kind::kString: return;
    }
    if (r.ec != std::errc())  // too long in fixed notation (|x| > 1e50): the shortest form instead
        r = std::to_chars(buf, buf + sizeof buf, s.number(i));
    out.append(buf, r.ptr);
}

// RFC 4180: quoted when it holds the delimiter, a quote or a line break.
void appendText(std::string& out, const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
        out += text;
        return;
    }
    out += '"';
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

void writeCsv(Table& t, const std::string& path, std::uint64_t blockRows) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) throw RuntimeError(path + ": cannot create: " + std::strerror(errno));
    std::string text;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
        if (c > 0) text += ',';
        text += t.columns[c].name;
    }
    text += '\n';
    for (std::uint64_t row0 = 0; row0 < t.n; row0 += blockRows) {
        const std::uint64_t rows = std::min(blockRows, t.n - row0);
        t.loadBlock(row0, rows);
        for (std::uint64_t r = 0; r < rows; ++r) {
            for (std::size_t c = 0; c < t.columns.size(); ++c) {
                const Column& col = t.columns[c];
                if (c > 0) text += ',';
                if (col.src == nullptr) continue;
                const std::size_t i = r * col.src->width + col.k;
                if (col.src->kind == Kind::kString)
                    appendText(text, col.src->strs[i]);
                else
                    appendNumber(text, *col.src, i, col.style);
            }
            text += '\n';
        }
        if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size())
            throw RuntimeError(path + ": write failed: " + std::strerror(errno));
        text.clear();
    }
    if (t.n == 0 && std::fwrite(text.data(), 1, text.size(), f.get()) != text.size())
        throw RuntimeError(path + ": write failed: " + std::strerror(errno));
    if (std::fflush(f.get()) != 0) throw RuntimeError(path + ": write failed: " + std::strerror(errno));
    if (std::fclose(f.release()) != 0) throw RuntimeError(path + ": close failed: " + std::strerror(errno));
}

std::string lowerExtension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext;
}
}  // namespace

ExportFormat exportFormatOf(const std::string& path) {
    const std::string ext = lowerExtension(path);
    if (ext == ".csv") return ExportFormat::kCsv;
    if (ext == ".gpkg") return ExportFormat::kGpkg;
    if (ext == ".tif" || ext == ".tiff") return ExportFormat::kGeoTiff;
    throw ConfigError(path + ": unknown export format \"" + (ext.empty() ? std::string("(no extension)") : ext) +
                      "\"; give a .csv, .gpkg or .tif file");
}

ExportSummary exportOutput(const std::string& input, const std::string& output, const ExportOptions& options) {
    if (output.empty()) throw ConfigError("no export path given (-o)");
    const ExportFormat format = exportFormatOf(output);
    checkExportPath(input, output);
    const std::uint64_t blockRows = std::max<std::uint64_t>(1, options.blockRows);
    if (format == ExportFormat::kGeoTiff && options.grid == nullptr)
        throw ConfigError(output + ": a GeoTIFF needs the input's pixel grid (a MintPy or LiCSBAS input)");
    if (format == ExportFormat::kGeoTiff && options.history != nullptr)
        throw ConfigError(output + ": --history adds fields to a .csv or .gpkg, not to a GeoTIFF");
    Table t = openTable(input, blockRows, options.history);

    ExportSummary summary;
    summary.rows = t.n;
    summary.columns = t.columns.size();
    summary.geometry = t.geographic ? "lon/lat" : "x/y";
    if (!t.geographic) summary.crs = t.crs;
    if (!t.geographic && t.crs.empty())
        log::warn() << input << ": no lon/lat and no crs attribute: "
                    << (format == ExportFormat::kGpkg ? "point geometry is x/y without a CRS"
                                                      : "lon, lat columns are empty");
    AtomicFile tmp(output, "", kSqliteSideFiles);
    tmp.discard();  // a stale one from a killed export (never the input: checked above)
    try {
        if (format == ExportFormat::kCsv) {
            writeCsv(t, tmp.tmpPath(), blockRows);
        } else if (format == ExportFormat::kGeoTiff) {
            ScopedConfig noSideFile("GDAL_PAM_ENABLED", "NO");  // band names go into the TIFF, no .aux.xml
            writeGeoTiff(t, tmp.tmpPath(), *options.grid, blockRows, summary);
        } else {
            writeGpkg(t, tmp.tmpPath(), fs::path(output).stem().string(), blockRows, summary);
        }
    } catch (const H5Error& err) {
        bad(input, std::string("truncated or damaged hlstm output file: ") + err.what());
    }
    tmp.commit();
    if (format == ExportFormat::kGeoTiff) summary.columns = 0;
    return summary;
}

}  // namespace hlstm::io
