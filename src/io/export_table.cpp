// The hlstm output as a table of per-point columns (see export_table.hpp).
#include "export_table.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::io::detail {
namespace {

namespace fs = std::filesystem;

// The per-point dataset at `path` (nullptr when absent), checked against n rows.
const Source* addSource(Table& t, const std::string& path, bool required = false) {
    if (!t.file->exists(path)) {
        if (required) bad(t.path, "no dataset " + path + " (not an hlstm output with points?)");
        return nullptr;
    }
    auto s = std::make_unique<Source>();
    s->path = path;
    s->ds = std::make_unique<h5::Dataset>(t.file->openDataset(path));
    const auto dims = s->ds->dims();
    if (dims.empty() || dims.size() > 2)
        bad(t.path,
            path + " has " + std::to_string(dims.size()) + " dimensions; expected 1 (points) or 2 (points x steps)");
    if (dims[0] != t.n)
        bad(t.path, path + " has " + std::to_string(dims[0]) + " rows but /points/x has " + std::to_string(t.n));
    s->width = dims.size() == 2 ? dims[1] : 1;
    const h5::TypeClass cls = s->ds->typeClass();
    if (cls == h5::TypeClass::kInteger) {
        s->kind = Kind::kInt;
        s->int64 = s->ds->typeSize() > 4 || (s->ds->typeSize() == 4 && s->ds->typeIsUnsigned());
    } else if (cls == h5::TypeClass::kFloat)
        s->kind = s->ds->typeSize() <= 4 ? Kind::kFloat32 : Kind::kFloat64;
    else if (cls == h5::TypeClass::kString && dims.size() == 1)
        s->kind = Kind::kString;
    else
        bad(t.path, path + " holds neither numbers nor (1-D) strings");
    t.sources.push_back(std::move(s));
    return t.sources.back().get();
}

std::string attributeOrEmpty(const Table& t, const std::string& objectPath, const std::string& name) {
    try {
        if (objectPath == "/") return t.file->hasAttribute(name) ? t.file->readStringAttribute(name) : std::string();
        const h5::Dataset ds = t.file->openDataset(objectPath);
        return ds.hasAttribute(name) ? ds.readStringAttribute(name) : std::string();
    } catch (const Error& e) {
        log::warn() << t.path << ": ignoring attribute " << name << " of " << objectPath << " (" << e.what() << ")";
        return {};
    }
}

// Whether any point has finite lon and lat (a file whose CRS was unknown holds NaN).
bool anyFiniteLonLat(Table& t, std::uint64_t blockRows) {
    for (std::uint64_t row0 = 0; row0 < t.n; row0 += blockRows) {
        const std::uint64_t rows = std::min(blockRows, t.n - row0);
        const auto lon = t.file->openDataset(output::points::kLon).readRows<double>(row0, rows);
        const auto lat = t.file->openDataset(output::points::kLat).readRows<double>(row0, rows);
        for (std::size_t i = 0; i < rows; ++i)
            if (std::isfinite(lon[i]) && std::isfinite(lat[i])) return true;
    }
    return false;
}

}  // namespace

void bad(const std::string& file, const std::string& what) { throw InputError(file + ": " + what); }

void load(Source& s, std::uint64_t row0, std::uint64_t rows) {
    if (s.history != nullptr) {
        const std::size_t m = s.history->dates.size();
        s.f32.assign(rows * m, std::numeric_limits<float>::quiet_NaN());
        for (std::size_t i = 0; i < rows; ++i) {
            const auto it = s.historyRow.find(s.idsOf->ints[i]);
            if (it != s.historyRow.end())
                std::copy_n(s.history->values.begin() + static_cast<std::ptrdiff_t>(it->second * m), m,
                            s.f32.begin() + static_cast<std::ptrdiff_t>(i * m));
        }
        return;
    }
    if (s.statusNames) {
        const auto codes = s.ds ? s.ds->readRows<std::int64_t>(row0, rows) : std::vector<std::int64_t>(rows, 0);
        s.strs.resize(rows);
        for (std::size_t i = 0; i < rows; ++i)
            s.strs[i] = codes[i] >= 0 && codes[i] < output::kPointStatusCount
                            ? output::toString(static_cast<output::PointStatus>(codes[i]))
                            : "unknown_" + std::to_string(codes[i]);
        return;
    }
    switch (s.kind) {
        case Kind::kInt: s.ints = s.ds->readRows<std::int64_t>(row0, rows); break;
        case Kind::kFloat32: s.f32 = s.ds->readRows<float>(row0, rows); break;
        case Kind::kFloat64: s.f64 = s.ds->readRows<double>(row0, rows); break;
        case Kind::kString: s.strs = s.ds->readStringRows(row0, rows); break;
    }
}

// Column-name suffixes of a per-step dataset: its dates ("_20240105") when `datesPath` holds
// one per step, otherwise the step number ("_step1").
std::vector<std::string> stepSuffixes(const Table& t, const std::string& datesPath, std::uint64_t steps) {
    std::vector<std::int32_t> dates;
    if (t.file->exists(datesPath)) {
        const h5::Dataset ds = t.file->openDataset(datesPath);
        const auto dims = ds.dims();
        if (dims.size() == 1 && dims[0] == steps && ds.typeClass() == h5::TypeClass::kInteger)
            dates = ds.readAll<std::int32_t>();
    }
    std::vector<std::string> out;
    for (std::uint64_t k = 0; k < steps; ++k)
        out.push_back(dates.size() == steps ? "_" + std::to_string(dates[k]) : "_step" + std::to_string(k + 1));
    return out;
}

Source* sourceOf(Table& t, const std::string& path) {
    for (auto& s : t.sources)
        if (s->path == path && s->history == nullptr && !s->statusNames) return s.get();
    return nullptr;
}

const Source* sourceOf(const Table& t, const std::string& path) { return sourceOf(const_cast<Table&>(t), path); }

Table openTable(const std::string& input, std::uint64_t blockRows, const History* history) {
    Table t;
    t.path = input;
    std::error_code ec;
    if (!fs::exists(input, ec)) bad(input, "no such file");
    if (fs::is_directory(input, ec)) bad(input, "is a directory, not an hlstm output file");
    if (!h5::isHdf5(input)) bad(input, "not an HDF5 file (expected the output of hlstm run or predict)");
    try {
        t.file = std::make_unique<h5::File>(input, h5::Access::kReadOnly);
        const std::string format =
            t.file->hasAttribute(output::attr::kFormat) ? t.file->readStringAttribute(output::attr::kFormat) : "";
        if (format != output::kFormatName && format != output::kPredictionFormatName)
            bad(input, "not an hlstm output file (no format = \"hlstm-output\" or \"hlstm-prediction\" attribute)");
        if (!t.file->hasAttribute(output::attr::kComplete) ||
            t.file->readAttribute<std::int32_t>(output::attr::kComplete) != 1)
            bad(input, "incomplete " + format + " file (complete != 1): the run that wrote it did not finish");
        if (!t.file->exists(output::points::kX)) bad(input, "no dataset /points/x");
        {
            const auto dims = t.file->openDataset(output::points::kX).dims();
            t.n = dims.empty() ? 0 : dims[0];
        }
        t.x = addSource(t, output::points::kX, true);
        t.y = addSource(t, output::points::kY, true);
        const Source* pid = addSource(t, output::points::kPid);
        const Source* id = pid != nullptr ? pid : addSource(t, output::points::kId);
        t.lon = addSource(t, output::points::kLon);
        t.lat = addSource(t, output::points::kLat);
        if (t.lon == nullptr || t.lat == nullptr) t.lon = t.lat = nullptr;
        for (const Source* s : {t.x, t.y, t.lon, t.lat})
            if (s != nullptr && (s->width != 1 || s->kind == Kind::kString))
                bad(input, s->path + " is not one number per point");
        t.geographic = t.lon != nullptr && anyFiniteLonLat(t, blockRows);
        t.crs = attributeOrEmpty(t, output::points::kX, output::attr::kCrs);
        if (t.crs.empty()) t.crs = attributeOrEmpty(t, "/", output::attr::kCrs);

        if (id != nullptr) t.columns.push_back({"id", id, 0, Style::kShortest});
        t.columns.push_back({"lon", t.lon, 0, Style::kFixed8});
        t.columns.push_back({"lat", t.lat, 0, Style::kFixed8});
        t.columns.push_back({"x", t.x, 0, Style::kFixed3});
        t.columns.push_back({"y", t.y, 0, Style::kFixed3});
        {
            // Why each point was or was not forecast (all forecast in files before /points/status).
            auto status = std::make_unique<Source>();
            status->path = output::points::kStatus;
            status->kind = Kind::kString;
            status->statusNames = true;
            if (t.file->exists(status->path)) {
                status->ds = std::make_unique<h5::Dataset>(t.file->openDataset(status->path));
                const auto dims = status->ds->dims();
                if (dims.size() != 1 || dims[0] != t.n || status->ds->typeClass() != h5::TypeClass::kInteger)
                    bad(input, "/points/status must hold one integer per point (" + std::to_string(t.n) + ")");
            }
            t.sources.push_back(std::move(status));
            t.columns.push_back({"status", t.sources.back().get(), 0, Style::kShortest});
        }
        for (const char* name : {"velocity", "zone", "subregion", "split"})
            if (const Source* s = addSource(t, std::string(output::points::kGroup) + "/" + name)) {
                if (s->width != 1 || s->kind == Kind::kString) bad(input, s->path + " is not one number per point");
                t.columns.push_back({name, s, 0, Style::kShortest});
            }
        // Per-step columns, grouped by quantity, one per step named after its date.
        const auto perStep = [&](const char* name, const char* datesPath) {
            const Source* s = addSource(t, std::string(output::forecast::kGroup) + "/" + name);
            if (s == nullptr) return;
            if (s->kind == Kind::kString) bad(input, s->path + " holds strings; expected numbers");
            const auto suffix = stepSuffixes(t, datesPath, s->width);
            for (std::uint64_t k = 0; k < s->width; ++k)
                t.columns.push_back({name + suffix[k], s, k, Style::kShortest});
        };
        for (const char* name : {"next_diff", "next_cumulative", "interval_low", "interval_high"})
            perStep(name, output::forecast::kNextDates);
        for (const char* name : {"holdout_true", "holdout_pred", "abs_error"})
            perStep(name, output::forecast::kHoldoutDates);
        if (history != nullptr) {
            // DYYYYMMDD: the observed positions, then the forecast ones (next_cumulative).
            const Source* ids = sourceOf(t, output::points::kId);
            if (ids == nullptr) ids = addSource(t, output::points::kId);
            if (ids == nullptr || ids->kind != Kind::kInt || ids->width != 1)
                bad(input, "no integer /points/id to match the input's points with (--history)");
            auto h = std::make_unique<Source>();
            h->path = "(history)";
            h->kind = Kind::kFloat32;
            h->width = history->dates.size();
            h->history = history;
            h->idsOf = ids;
            h->historyRow.reserve(history->ids.size());
            for (std::size_t i = 0; i < history->ids.size(); ++i) h->historyRow.emplace(history->ids[i], i);
            t.sources.push_back(std::move(h));
            const Source* hs = t.sources.back().get();
            for (std::uint64_t k = 0; k < hs->width; ++k)
                t.columns.push_back({"D" + std::to_string(history->dates[k]), hs, k, Style::kShortest});
            if (const Source* next = sourceOf(t, output::forecast::kNextCumulative)) {
                const auto suffix = stepSuffixes(t, output::forecast::kNextDates, next->width);
                for (std::uint64_t k = 0; k < next->width; ++k)
                    if (suffix[k].rfind("_step", 0) != 0) t.columns.push_back({"D" + suffix[k].substr(1), next, k});
            }
        }
    } catch (const H5Error& err) {
        // A copy cut short opens (or not) and then fails in its datasets.
        bad(input, std::string("truncated or damaged hlstm output file: ") + err.what());
    }
    return t;
}

}  // namespace hlstm::io::detail
