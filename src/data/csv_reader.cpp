// EGMS CSV (L2a/L2b/L3; README: "Input: the archives users have"): columns found by header name, every header of
// exactly 8 digits is a date, ',' or ';', an empty field is missing, `pid` strings kept.
// Each rank parses only its byte range of the file (a line belongs to the rank whose range
// holds its first byte), so no rank reads or holds more than its share plus one buffer.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "reader_common.hpp"

namespace hlstm {
namespace {

constexpr std::size_t kBufferBytes = 8u << 20;

struct Header {
    char delimiter = ',';
    std::size_t fields = 0;
    std::size_t bytes = 0;  // length of the header line with its newline
    std::optional<std::size_t> pid, lat, lon, easting, northing;
    std::vector<std::size_t> dateColumns;
    std::vector<std::int32_t> dates;
};

std::string unquoted(std::string_view f) {
    while (!f.empty() && (f.back() == ' ' || f.back() == '\r')) f.remove_suffix(1);
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    return std::string(f);
}

// Splits one line into fields. RFC 4180 quoting (pandas' QUOTE_ALL / QUOTE_NONNUMERIC): a
// field in double quotes may hold the delimiter; the view is the text between the quotes
// ("" inside stays doubled: EGMS numbers and pids have no quotes). A line break inside
// quotes is not supported (lines are split by byte ranges); false on an unclosed quote.
bool split(std::string_view line, char delimiter, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t pos = 0;
    while (true) {
        std::size_t start = pos;
        while (start < line.size() && line[start] == ' ') ++start;
        if (start < line.size() && line[start] == '"') {
            std::size_t close = start + 1;
            while (true) {
                close = line.find('"', close);
                if (close == std::string_view::npos) return false;
                if (close + 1 < line.size() && line[close + 1] == '"') {
                    close += 2;  // an escaped quote
                    continue;
                }
                break;
            }
            out.push_back(line.substr(start + 1, close - start - 1));
            std::size_t after = close + 1;
            while (after < line.size() && (line[after] == ' ' || line[after] == '\r')) ++after;
            if (after >= line.size()) return true;
            if (line[after] != delimiter) return false;
            pos = after + 1;
            continue;
        }
        const std::size_t next = line.find(delimiter, pos);
        if (next == std::string_view::npos) {
            out.push_back(line.substr(pos));
            return true;
        }
        out.push_back(line.substr(pos, next - pos));
        pos = next + 1;
    }
}

// UTF-8's byte-order mark (Excel and some GIS tools write it before the header).
constexpr std::string_view kBom = "\xEF\xBB\xBF";

Header readHeader(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    if (!std::getline(in, line)) throw InputError(path + ": empty file (no CSV header)");
    Header h;
    h.bytes = line.size() + (in.eof() ? 0 : 1);
    if (line.compare(0, kBom.size(), kBom) == 0) line.erase(0, kBom.size());  // counted in h.bytes
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) throw InputError(path + ": line 1 (header) is empty");
    const auto commas = std::count(line.begin(), line.end(), ','), semis = std::count(line.begin(), line.end(), ';');
    if (commas > 0 && semis > 0) throw InputError(path + ": line 1 (header) mixes ',' and ';' delimiters");
    h.delimiter = semis > commas ? ';' : ',';
    std::vector<std::string_view> fields;
    if (!split(line, h.delimiter, fields))
        throw InputError(path + ": line 1 (header): a quoted field is not closed (or text follows its closing quote)");
    h.fields = fields.size();
    for (std::size_t k = 0; k < fields.size(); ++k) {
        std::string name = unquoted(fields[k]);
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        const bool digits8 =
            name.size() == 8 && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits8) {
            const std::int32_t d = detail::parseDate8(name);
            if (!dates::valid(d))
                throw InputError(path + ": line 1, column " + std::to_string(k + 1) + ": header '" + name +
                                 "' has 8 digits but is not a YYYYMMDD date");
            h.dateColumns.push_back(k);
            h.dates.push_back(d);
        } else if (lower == "pid") {
            h.pid = k;
        } else if (lower == "latitude" || lower == "lat") {
            h.lat = k;
        } else if (lower == "longitude" || lower == "lon") {
            h.lon = k;
        } else if (lower == "easting") {
            h.easting = k;
        } else if (lower == "northing") {
            h.northing = k;
        }
    }
    if (h.dates.size() < 2)
        throw InputError(path + ": the header has " + std::to_string(h.dates.size()) +
                         " date column(s) (YYYYMMDD); need at least 2");
    detail::checkDates(h.dates, path + ": header date column");
    if (!(h.lat && h.lon) && !(h.easting && h.northing))
        throw InputError(path + ": the header has neither latitude/longitude nor easting/northing columns");
    return h;
}

// Parses a number field; an empty field is NaN. False when it is not a number.
bool parseNumber(std::string_view f, double& out) {
    while (!f.empty() && (f.back() == ' ' || f.back() == '\r')) f.remove_suffix(1);
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
    if (f.empty()) {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    if (f.front() == '+') f.remove_prefix(1);
    const auto r = std::from_chars(f.data(), f.data() + f.size(), out);
    if (r.ec == std::errc() && r.ptr == f.data() + f.size()) return true;
    const std::string lower(f);
    if (lower == "nan" || lower == "NaN" || lower == "NA" || lower == "null") {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    return false;
}

// The first error of this rank's range, by its local line index (line numbers are known only
// after all ranks have counted their lines).
struct LineError {
    std::uint64_t localLine = 0;
    std::string text;
};

// Warns (root) when pids repeat: predict matches EGMS points by pid, so a repeated one is
// ambiguous. Collective: 64-bit hashes of every pid are gathered (8 bytes a point), and the
// first repeated pid in file order is named.
void warnDuplicatePids(const Comm& comm, const std::string& path, const std::vector<std::string>& pids) {
    std::vector<std::uint64_t> local(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) local[i] = std::hash<std::string>{}(pids[i]);
    std::vector<std::uint64_t> all = comm.allgatherv(local);
    const std::uint64_t before = comm.exscan(static_cast<std::uint64_t>(pids.size()));
    // Global index of the first occurrence of each hash; a later one is a repeat.
    std::unordered_map<std::uint64_t, std::uint64_t> first;
    first.reserve(all.size());
    std::uint64_t repeats = 0;
    for (std::uint64_t g = 0; g < all.size(); ++g)
        if (!first.emplace(all[g], g).second) ++repeats;
    if (repeats == 0) return;
    // The first repeated pid, by its line, from the rank that holds it (a hash collision of
    // two different pids would be named too: with 64 bits, not in a real archive).
    std::string example;
    // Signed: an unsigned MPI_MIN of a sentinel 2^64 - 1 gave the sentinel here (Open MPI 4.1).
    std::int64_t exampleAt = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < pids.size(); ++i)
        if (first.at(local[i]) != before + i) {
            example = pids[i];
            exampleAt = static_cast<std::int64_t>(before + i);
            break;
        }
    const std::int64_t at = comm.allreduce(exampleAt, Reduce::kMin);
    const int holder = comm.allreduce(exampleAt == at ? comm.rank() : comm.size(), Reduce::kMin);
    comm.bcast(example, holder);
    if (comm.isRoot())
        log::warn() << path << ": " << repeats << " point(s) repeat a pid of an earlier line (first: pid '" << example
                    << "' on data line " << at + 1 << "); predict matches EGMS points by pid, so these are ambiguous";
}

}  // namespace

LocalBlock readEgmsCsv(const Comm& comm, const std::string& path, const ReadOptions& options) {
    Header h;
    std::uint64_t size = 0;
    coordinated(comm, "read:validate", [&] {
        if (!std::filesystem::exists(path)) throw InputError(path + ": no such file");
        if (!std::filesystem::is_regular_file(path))
            throw InputError(path +
                             ": not a regular file (a pipe or a device?): every rank reads its own byte range "
                             "of the CSV, so save the data to a file first");
        h = readHeader(path);
        size = std::filesystem::file_size(path);
    });
    const std::size_t m = h.dates.size();
    const bool geographic = h.lat && h.lon;
    const std::size_t xCol = geographic ? *h.lon : *h.easting, yCol = geographic ? *h.lat : *h.northing;

    // This rank's byte range of the data; a line is ours when its first byte is in it.
    const std::uint64_t data = size - std::min<std::uint64_t>(size, h.bytes);
    const BlockRange share = blockRange(data, comm.size(), comm.rank());
    const std::uint64_t begin = h.bytes + share.begin, end = h.bytes + share.end;

    detail::RawPoints raw;
    std::optional<LineError> error;
    std::uint64_t lines = 0;  // data lines (including blank ones) that start in our range
    coordinated(comm, "read:rows", [&] {
        std::vector<char> streamBuffer(kBufferBytes);
        std::ifstream in;
        in.rdbuf()->pubsetbuf(streamBuffer.data(), static_cast<std::streamsize>(streamBuffer.size()));
        in.open(path, std::ios::binary);
        // Start at the first line that begins at or after `begin`: skip the tail of the line
        // the previous rank owns (nothing when the byte before `begin` is a newline).
        std::uint64_t pos = begin;
        std::string line;
        if (begin > h.bytes && begin < end) {
            in.seekg(static_cast<std::streamoff>(begin - 1));
            std::getline(in, line);
            pos = begin - 1 + line.size() + 1;
        } else {
            in.seekg(static_cast<std::streamoff>(begin));
        }
        std::vector<std::string_view> fields;
        std::vector<float> series(m);
        auto parseLine = [&](std::string_view line) {
            const std::uint64_t local = lines++;
            if (error) return;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) return;  // a blank line (e.g. at the end)
            if (!split(line, h.delimiter, fields)) {
                error = LineError{local, "a quoted field is not closed (or text follows its closing quote)"};
                return;
            }
            if (fields.size() != h.fields) {
                error =
                    LineError{local, std::to_string(fields.size()) + " field(s), expected " + std::to_string(h.fields) +
                                         " as in the header (delimiter '" + std::string(1, h.delimiter) + "')"};
                return;
            }
            double x = 0, y = 0;
            const bool xOk = parseNumber(fields[xCol], x) && std::isfinite(x);
            const bool yOk = parseNumber(fields[yCol], y) && std::isfinite(y);
            if (!xOk || !yOk) {
                const std::size_t col = xOk ? yCol : xCol;  // the first bad one, with its own value
                const char* name = geographic ? (xOk ? "latitude" : "longitude") : (xOk ? "northing" : "easting");
                error = LineError{local, std::string(name) + " (column " + std::to_string(col + 1) + ") '" +
                                             std::string(fields[col]) + "' is not a number"};
                return;
            }
            for (std::size_t t = 0; t < m; ++t) {
                double v = 0;
                if (!parseNumber(fields[h.dateColumns[t]], v)) {
                    error = LineError{local, "column " + std::to_string(h.dates[t]) + ": '" +
                                                 std::string(fields[h.dateColumns[t]]) + "' is not a number"};
                    return;
                }
                series[t] = static_cast<float>(v);
            }
            raw.add(x, y, static_cast<std::int64_t>(local));  // id made global below
            if (h.pid) raw.pids.push_back(unquoted(fields[*h.pid]));
            raw.values.insert(raw.values.end(), series.begin(), series.end());
        };
        while (pos < end && std::getline(in, line)) {
            pos += line.size() + (in.eof() ? 0 : 1);
            parseLine(line);
        }
    });
    // Global line numbers: header line 1, then the data lines of the ranks before us.
    const std::uint64_t before = comm.exscan(lines);
    // The first bad line of the file, the same message on every rank.
    const int failing = comm.allreduce(error ? comm.rank() : comm.size(), Reduce::kMin);
    if (failing < comm.size()) {
        std::string message =
            error ? path + ": line " + std::to_string(2 + before + error->localLine) + ": " + error->text : "";
        comm.bcast(message, failing);
        throw InputError(message);
    }
    // Ids: the data-line order (blank lines excepted, they do not count).
    const std::uint64_t pointsBefore = comm.exscan(static_cast<std::uint64_t>(raw.ids.size()));
    for (std::size_t i = 0; i < raw.ids.size(); ++i) raw.ids[i] = static_cast<std::int64_t>(pointsBefore + i);
    if (h.pid) warnDuplicatePids(comm, path, raw.pids);
    ReadStats stats;
    stats.format = "egms";
    stats.unit = "mm";
    stats.crs = geographic ? "EPSG:4326" : "EPSG:3035";
    stats.layout = std::string("EGMS CSV, delimiter '") + h.delimiter + "', " + std::to_string(h.fields) +
                   " columns, " + std::to_string(m) + " dates, coordinates from " +
                   (geographic ? "latitude/longitude" : "easting/northing (EPSG:3035)") + (h.pid ? ", pid" : "");
    return detail::finishBlock(comm, path, std::move(raw), h.dates, std::move(stats), options);
}

}  // namespace hlstm
