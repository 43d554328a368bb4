#include "hlstm/data/native_reader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/io/hdf5.hpp"
#include "reader_common.hpp"

namespace hlstm {
namespace {

constexpr float kMetresToMm = 1000.0f;

// Opens a dataset or fails naming the file and what is missing.
h5::Dataset requireDataset(const h5::File& file, const std::string& name) {
    if (!file.exists(name)) throw InputError(file.path() + ": missing dataset " + name);
    return file.openDataset(name);
}

void requireShape(const h5::Dataset& ds, const std::string& file, std::vector<std::uint64_t> expected,
                  const std::string& expectedText) {
    if (ds.dims() != expected) {
        std::string got;
        for (auto d : ds.dims()) got += (got.empty() ? "" : " x ") + std::to_string(d);
        throw InputError(file + ": dataset " + ds.path() + " has shape (" + got + "), expected " + expectedText);
    }
}

void requireClass(const h5::Dataset& ds, const std::string& file, h5::TypeClass cls, const std::string& what) {
    if (ds.typeClass() != cls) throw InputError(file + ": dataset " + ds.path() + " must be " + what);
}

}  // namespace

std::size_t fillGaps(float* s, const std::int64_t* days, std::size_t m) {
    std::size_t filled = 0;
    std::ptrdiff_t last = -1;  // last valid epoch seen
    for (std::size_t t = 0; t < m; ++t) {
        if (!std::isfinite(s[t])) continue;
        if (last < 0) {
            for (std::size_t u = 0; u < t; ++u, ++filled) s[u] = s[t];  // leading gap
        } else if (static_cast<std::size_t>(last) + 1 < t) {
            const double d0 = static_cast<double>(days[last]), d1 = static_cast<double>(days[t]);
            for (std::size_t u = static_cast<std::size_t>(last) + 1; u < t; ++u, ++filled) {
                const double w = (static_cast<double>(days[u]) - d0) / (d1 - d0);
                s[u] = static_cast<float>((1.0 - w) * s[last] + w * s[t]);
            }
        }
        last = static_cast<std::ptrdiff_t>(t);
    }
    if (last >= 0)
        for (std::size_t u = static_cast<std::size_t>(last) + 1; u < m; ++u, ++filled) s[u] = s[last];
    return filled;
}

LocalBlock readNative(const Comm& comm, const std::string& path, const ReadOptions& options) {
    LocalBlock out;
    std::unique_ptr<h5::File> file;
    std::uint64_t n = 0, m = 0;
    bool hasId = false, hasTruth = false;
    float scale = 1.0f;

    // Metadata: every rank checks the same things, so all fail alike; still coordinated.
    coordinated(comm, "read:open", [&] {
        if (!std::filesystem::exists(path)) throw InputError(path + ": no such file");
        if (std::filesystem::is_directory(path)) throw InputError(path + ": is a directory, not an HDF5 file");
        if (!h5::isHdf5(path)) throw InputError(path + ": not an HDF5 file (or corrupt)");
    });
    // Collective open; a failure (on every rank alike) is reported once.
    coordinated(comm, "read:open", [&] {
        try {
            file = std::make_unique<h5::File>(path, h5::Access::kReadOnly, &comm);
        } catch (const H5Error& err) {
            throw InputError(path + ": truncated or damaged HDF5 file, cannot open it: " + err.what());
        }
    });
    // A file cut short (a copy that stopped, a full disk) opens but fails in its datasets.
    auto damaged = [&](const std::function<void()>& body) {
        try {
            body();
        } catch (const H5Error& err) {
            throw InputError(path + ": truncated or damaged HDF5 file: " + err.what());
        }
    };
    coordinated(comm, "read:validate", [&] {
        damaged([&] {
            auto x = requireDataset(*file, "/x");
            auto y = requireDataset(*file, "/y");
            auto dates = requireDataset(*file, "/dates");
            auto disp = requireDataset(*file, "/displacement");
            requireClass(x, path, h5::TypeClass::kFloat, "floating point (float64 metres or degrees)");
            requireClass(y, path, h5::TypeClass::kFloat, "floating point (float64 metres or degrees)");
            requireClass(dates, path, h5::TypeClass::kInteger, "integer YYYYMMDD");
            requireClass(disp, path, h5::TypeClass::kFloat, "floating point (float32)");
            // Sizes an ordinary file has; a damaged type (e.g. a 63,492-byte integer) would make
            // HDF5 itself read out of bounds (found by fuzzing).
            for (const auto* ds : {&x, &y, &disp})
                if (ds->typeSize() != 4 && ds->typeSize() != 8)
                    throw InputError(path + ": dataset " + ds->path() + " has " + std::to_string(ds->typeSize()) +
                                     "-byte floats; expected 4 or 8");
            if (dates.typeSize() > 8)
                throw InputError(path + ": dataset /dates has " + std::to_string(dates.typeSize()) +
                                 "-byte integers; expected at most 8");
            if (x.dims().size() != 1) throw InputError(path + ": dataset /x must be one-dimensional (n points)");
            n = x.dims()[0];
            if (n == 0) throw InputError(path + ": dataset /x has no points (0 rows): nothing to read");
            requireShape(y, path, {n}, "(" + std::to_string(n) + ") like /x");
            if (dates.dims().size() != 1)
                throw InputError(path + ": dataset /dates must be one-dimensional (m epochs)");
            m = dates.dims()[0];
            if (m < 2)
                throw InputError(path + ": dataset /dates has " + std::to_string(m) + " epochs, need at least 2");
            // Sizes no archive has: a damaged (or never written) dataset must not make every rank
            // allocate petabytes (found by fuzzing).
            constexpr std::uint64_t kMaxEpochs = 100000, kMaxPoints = 10000000000ULL;
            if (m > kMaxEpochs)
                throw InputError(path + ": dataset /dates has " + std::to_string(m) + " epochs; more than " +
                                 std::to_string(kMaxEpochs) + " is not an InSAR time series (damaged file?)");
            if (n > kMaxPoints)
                throw InputError(path + ": dataset /x has " + std::to_string(n) + " points; more than " +
                                 std::to_string(kMaxPoints) + " is not an InSAR archive (damaged file?)");
            requireShape(disp, path, {n, m}, "(" + std::to_string(n) + " x " + std::to_string(m) + ") points x epochs");

            out.points.dates = dates.readAll<std::int32_t>();
            detail::checkDates(out.points.dates, path + ": dataset /dates");
            if (!disp.hasAttribute("unit"))
                throw InputError(path + ": dataset /displacement has no 'unit' attribute (\"mm\" or \"m\")");
            out.stats.unit = disp.readStringAttribute("unit");
            if (out.stats.unit == "m")
                scale = kMetresToMm;
            else if (out.stats.unit != "mm")
                throw InputError(path + ": dataset /displacement has unit '" + out.stats.unit +
                                 "'; expected \"mm\" or \"m\"");
            hasId = file->exists("/id");
            if (hasId) {
                auto id = file->openDataset("/id");
                requireClass(id, path, h5::TypeClass::kInteger, "integer");
                if (id.typeSize() > 8)
                    throw InputError(path + ": dataset /id has " + std::to_string(id.typeSize()) +
                                     "-byte integers; expected at most 8");
                requireShape(id, path, {n}, "(" + std::to_string(n) + ") like /x");
            }
            hasTruth = options.readTruth && file->exists("/truth");
            out.stats.hasTruth = hasTruth;
            if (hasTruth) requireShape(file->openDataset("/truth"), path, {n, m}, "like /displacement");
            if (file->hasAttribute("crs")) {
                try {
                    out.stats.crs = file->readStringAttribute("crs");
                } catch (const H5Error&) {
                    // A number: an EPSG code (as MintPy's EPSG attribute); anything else is named.
                    const double code = file->readAttribute<double>("crs");
                    if (!(code >= 1 && code < 1e7 && code == std::floor(code)))
                        throw InputError(path + ": attribute crs = " + std::to_string(code) +
                                         " is neither a CRS string (\"EPSG:32650\") nor an EPSG code");
                    out.stats.crs = "EPSG:" + std::to_string(static_cast<long>(code));
                }
            }
        });
    });

    // A cut at read (input.until, input.exclude_dates) needs every epoch of /truth: finishBlock
    // cuts it with the displacement and keeps its last options.truthEpochs.
    const std::uint64_t truthEpochs =
        options.truthEpochs == 0 || options.cutsEpochs() ? m : std::min<std::uint64_t>(m, options.truthEpochs);
    // Collective block reads: each rank its rows.
    const BlockRange block = blockRange(n, comm.size(), comm.rank());
    std::vector<double> x, y;
    std::vector<float> disp, truth;
    std::vector<std::int64_t> ids;
    coordinated(comm, "read:rows", [&] {
        damaged([&] {
            x = file->openDataset("/x").readRows<double>(block.begin, block.count());
            y = file->openDataset("/y").readRows<double>(block.begin, block.count());
            disp = file->openDataset("/displacement").readRows<float>(block.begin, block.count());
            if (hasId) ids = file->openDataset("/id").readRows<std::int64_t>(block.begin, block.count());
            if (hasTruth && truthEpochs == m)
                truth = file->openDataset("/truth").readRows<float>(block.begin, block.count());
        });
    });
    // Only the last epochs of /truth (independent slab reads; every rank its own rows).
    if (hasTruth && truthEpochs < m)
        coordinated(comm, "read:rows", [&] {
            damaged([&] {
                if (block.count() > 0)
                    truth = file->openDataset("/truth").readSlab<float>({block.begin, m - truthEpochs},
                                                                        {block.count(), truthEpochs});
            });
        });
    file->close();

    // Coordinates must be finite in the native file (gridded formats skip such pixels).
    coordinated(comm, "read:check", [&] {
        for (std::size_t i = 0; i < block.count(); ++i)
            if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
                throw InputError(path + ": dataset " + std::string(std::isfinite(x[i]) ? "/y" : "/x") + " index " +
                                 std::to_string(block.begin + i) + ": coordinate is not finite");
    });
    detail::RawPoints raw;
    raw.x = std::move(x);
    raw.y = std::move(y);
    raw.values = std::move(disp);
    raw.truth = std::move(truth);
    raw.truthEpochs = hasTruth ? truthEpochs : 0;
    raw.toMm = scale;
    raw.ids.resize(block.count());
    for (std::size_t i = 0; i < block.count(); ++i)
        raw.ids[i] = hasId ? ids[i] : static_cast<std::int64_t>(block.begin + i);
    ids = {};
    out.stats.format = "native";
    out.stats.layout = "points " + std::to_string(n) + " x epochs " + std::to_string(m);
    return detail::finishBlock(comm, path, std::move(raw), std::move(out.points.dates), out.stats, options);
}

namespace detail {

std::int32_t parseDate8(const std::string& text) {
    if (text.size() != 8) return -1;
    std::int32_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

void checkDates(const std::vector<std::int32_t>& d, const std::string& where) {
    for (std::size_t t = 0; t < d.size(); ++t) {
        if (!dates::valid(d[t]))
            throw InputError(where + " index " + std::to_string(t) + ": " + std::to_string(d[t]) +
                             " is not a YYYYMMDD date");
        if (t > 0 && d[t] <= d[t - 1])
            throw InputError(where + " index " + std::to_string(t) + ": " + std::to_string(d[t]) +
                             (d[t] == d[t - 1] ? " duplicates" : " is earlier than") + " the previous date " +
                             std::to_string(d[t - 1]) + " (dates must be sorted and unique)");
    }
}

void cutEpochs(const Comm& comm, const std::string& path, RawPoints& raw, std::vector<std::int32_t>& dates,
               const ReadOptions& options) {
    if (!options.cutsEpochs()) return;
    const std::size_t m0 = dates.size();
    std::vector<std::size_t> keep;
    // Every rank has the same dates: the checks agree; coordinated() names the failure once.
    coordinated(comm, "read:until", [&] {
        const std::string range = " (" + path + " has " + std::to_string(m0) + " acquisitions, " +
                                  std::to_string(dates.front()) + " .. " + std::to_string(dates.back()) + ")";
        if (options.until != 0) {
            if (!dates::valid(options.until))
                throw InputError("input.until = " + std::to_string(options.until) + " is not a YYYYMMDD date");
            if (options.until < dates.front() || options.until > dates.back())
                throw InputError("input.until = " + std::to_string(options.until) + " lies outside the archive" +
                                 range);
        }
        for (const std::int32_t d : options.excludeDates)
            if (std::find(dates.begin(), dates.end(), d) == dates.end())
                throw InputError("input.exclude_dates: " + std::to_string(d) + " is not an acquisition date" + range);
        for (std::size_t t = 0; t < m0; ++t)
            if ((options.until == 0 || dates[t] <= options.until) &&
                std::find(options.excludeDates.begin(), options.excludeDates.end(), dates[t]) ==
                    options.excludeDates.end())
                keep.push_back(t);
        if (keep.size() < 2)
            throw InputError("input.until / input.exclude_dates leave " + std::to_string(keep.size()) +
                             " acquisition(s) of " + path + "; need at least 2" + range);
    });
    const std::size_t m = keep.size();
    if (m == m0) return;
    // Rows compacted in place (a kept column never lies after its source).
    const std::size_t rows = m0 == 0 ? 0 : raw.values.size() / m0;
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < m; ++c) raw.values[r * m + c] = raw.values[r * m0 + keep[c]];
    raw.values.resize(rows * m);
    if (!raw.truth.empty()) {
        // The reader read every epoch of /truth (see readNative); keep the last truthEpochs of the cut.
        const std::size_t tw = options.truthEpochs == 0 ? m : std::min(m, options.truthEpochs);
        const std::size_t tr = raw.truthEpochs == 0 ? 0 : raw.truth.size() / raw.truthEpochs;
        for (std::size_t r = 0; r < tr; ++r)
            for (std::size_t c = 0; c < tw; ++c)
                raw.truth[r * tw + c] = raw.truth[r * raw.truthEpochs + keep[m - tw + c]];
        raw.truth.resize(tr * tw);
        raw.truthEpochs = tw;
    }
    std::vector<std::int32_t> kept(m);
    for (std::size_t c = 0; c < m; ++c) kept[c] = dates[keep[c]];
    if (comm.isRoot()) {
        std::string why;
        if (options.until != 0) why += ", input.until = " + std::to_string(options.until);
        if (!options.excludeDates.empty())
            why += ", " + std::to_string(options.excludeDates.size()) + " left out by input.exclude_dates";
        log::info() << path << ": " << m << " of " << m0 << " acquisitions kept (" << kept.front() << " .. "
                    << kept.back() << why << ")";
    }
    dates = std::move(kept);
}

LocalBlock finishBlock(const Comm& comm, const std::string& path, RawPoints&& raw, std::vector<std::int32_t> dates,
                       ReadStats stats, const ReadOptions& options) {
    using output::PointStatus;
    cutEpochs(comm, path, raw, dates, options);
    LocalBlock out;
    out.points.dates = std::move(dates);
    const std::size_t m = out.points.dates.size();
    const std::size_t n = raw.size();
    const bool hasTruth = stats.hasTruth;
    const std::size_t tw = hasTruth ? raw.truthEpochs : 0;
    out.truthEpochs = tw;
    const float scale = raw.toMm;
    std::uint64_t missing = 0, outliers = 0;
    std::array<std::uint64_t, output::kPointStatusCount> droppedBy{};
    auto& dropped = out.dropped;
    coordinated(comm, "read:check", [&] {
        std::vector<std::int64_t> days(m);
        for (std::size_t t = 0; t < m; ++t) days[t] = dates::toDays(out.points.dates[t]);
        // The visible epochs; an archive too short for the holdout is refused by the caller, naming it.
        const std::size_t counted = options.hiddenEpochs + 3 <= m ? m - options.hiddenEpochs : m;
        const double minValid = options.minValidFraction * static_cast<double>(counted);
        auto& x = raw.x;
        auto& y = raw.y;
        auto& disp = raw.values;
        auto& truth = raw.truth;
        auto drop = [&](std::size_t i, PointStatus why) {
            dropped.x.push_back(x[i]);
            dropped.y.push_back(y[i]);
            dropped.ids.push_back(raw.ids[i]);
            if (!raw.pids.empty()) dropped.pids.push_back(std::move(raw.pids[i]));
            dropped.status.push_back(static_cast<std::int8_t>(why));
            ++droppedBy[static_cast<std::size_t>(why)];
        };
        // Kept rows are compacted in place, so the block is never held twice; `v` is the row of
        // point i among the candidates (the points with values).
        std::size_t kept = 0, v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (!raw.status.empty() && raw.status[i] != static_cast<std::int8_t>(PointStatus::kForecast)) {
                drop(i, static_cast<PointStatus>(raw.status[i]));
                continue;
            }
            const std::size_t row = v++;
            float* s = disp.data() + row * m;
            std::size_t valid = 0, visible = 0;
            for (std::size_t t = 0; t < m; ++t) {
                if (std::isfinite(s[t]) && std::abs(static_cast<double>(s[t]) * scale) > kOutlierMm) {
                    s[t] = std::numeric_limits<float>::quiet_NaN();
                    ++outliers;
                }
                valid += std::isfinite(s[t]) ? 1 : 0;
                visible += t < counted && std::isfinite(s[t]) ? 1 : 0;
            }
            if (valid == 0) {
                drop(i, PointStatus::kNoData);
                continue;
            }
            if (visible < 2 || static_cast<double>(visible) < minValid) {
                drop(i, PointStatus::kTooFewEpochs);
                continue;
            }
            if (scale != 1.0f)
                for (std::size_t t = 0; t < m; ++t) s[t] *= scale;
            out.observedMask.append(s, m);
            missing += fillGaps(s, days.data(), m);
            if (kept != row) {
                std::copy(s, s + m, disp.data() + kept * m);
                if (hasTruth)
                    std::copy(truth.data() + row * tw, truth.data() + (row + 1) * tw, truth.data() + kept * tw);
            }
            if (kept != i && !raw.pids.empty()) raw.pids[kept] = std::move(raw.pids[i]);
            if (hasTruth && scale != 1.0f)
                for (std::size_t t = 0; t < tw; ++t) truth[kept * tw + t] *= scale;
            raw.ids[kept] = raw.ids[i];
            x[kept] = x[i];
            y[kept] = y[i];
            ++kept;
        }
        x.resize(kept);
        y.resize(kept);
        raw.ids.resize(kept);
        if (!raw.pids.empty()) raw.pids.resize(kept);
        disp.resize(kept * m);
        // A copy to shrink is worth it only when much is wasted (it holds both for a moment).
        if (disp.capacity() > disp.size() + disp.size() / 4) disp.shrink_to_fit();
        auto& p = out.points;
        p.x = std::move(x);
        p.y = std::move(y);
        p.ids = std::move(raw.ids);
        p.displacement = std::move(disp);
        out.pids = std::move(raw.pids);
        if (hasTruth) {
            truth.resize(kept * tw);
            if (truth.capacity() > truth.size() + truth.size() / 4) truth.shrink_to_fit();
            out.truth = std::move(truth);
        }
    });
    const std::uint64_t kept = out.points.size();
    out.keptOffset = comm.exscan(kept);
    out.keptTotal = comm.allreduce<std::uint64_t>(kept, Reduce::kSum);
    out.points.rows.resize(kept);
    for (std::size_t i = 0; i < kept; ++i) out.points.rows[i] = out.keptOffset + i;
    dropped.offset = comm.exscan(static_cast<std::uint64_t>(dropped.size()));
    dropped.total = comm.allreduce(static_cast<std::uint64_t>(dropped.size()), Reduce::kSum);
    out.stats = std::move(stats);
    out.stats.fileRows = comm.allreduce<std::uint64_t>(n, Reduce::kSum);
    out.stats.epochs = m;
    out.stats.hasTruth = hasTruth;
    for (std::size_t k = 0; k < droppedBy.size(); ++k)
        out.stats.droppedBy[k] = comm.allreduce<std::uint64_t>(droppedBy[k], Reduce::kSum);
    out.stats.dropped = dropped.total;
    out.stats.missing = comm.allreduce<std::uint64_t>(missing, Reduce::kSum);
    out.stats.outliers = comm.allreduce<std::uint64_t>(outliers, Reduce::kSum);
    if (out.stats.outliers > 0 && comm.isRoot())
        log::warn() << path << ": " << out.stats.outliers << " displacement value(s) beyond +-" << kOutlierMm
                    << " mm are treated as missing (outlier: not ground motion)";
    if (out.stats.dropped > 0 && comm.isRoot())
        log::info() << path << ": " << out.stats.dropped << " of " << out.stats.fileRows
                    << " input point(s) not forecast: " << droppedText(out.stats, options);
    if (out.keptTotal == 0) {
        coordinated(comm, "read:check", [&] {
            if (out.stats.fileRows == 0) throw InputError(path + ": the file has no points (" + out.stats.layout + ")");
            throw InputError(path + ": none of its " + std::to_string(out.stats.fileRows) +
                             " input point(s) can be used: " + droppedText(out.stats, options));
        });
    }
    projectGeographic(comm, path, out);
    return out;
}

}  // namespace detail

std::string droppedText(const ReadStats& stats, const ReadOptions& options) {
    using output::PointStatus;
    std::string text;
    auto add = [&](PointStatus s, const std::string& why) {
        const std::uint64_t c = stats.droppedBy[static_cast<std::size_t>(s)];
        if (c == 0) return;
        text += (text.empty() ? "" : ", ") + std::to_string(c) + " " + output::toString(s) + " (" + why + ")";
    };
    char fraction[32];
    std::snprintf(fraction, sizeof fraction, "%g", options.minValidFraction);
    add(PointStatus::kMasked, "mask = 0 in input.mask " + options.mask);
    add(PointStatus::kNoData, "no value in any epoch");
    const std::uint64_t counted =
        options.hiddenEpochs + 3 <= stats.epochs ? stats.epochs - options.hiddenEpochs : stats.epochs;
    add(PointStatus::kTooFewEpochs, std::string("fewer valid epochs than input.min_valid_fraction = ") + fraction +
                                        " of " + std::to_string(counted) + (counted < stats.epochs ? " visible" : "") +
                                        ", or fewer than 2");
    add(PointStatus::kInvalidCoordinates, options.geometry.empty()
                                              ? std::string("no finite coordinates")
                                              : "no finite latitude/longitude in input.geometry " + options.geometry);
    return text.empty() ? "none" : text;
}

}  // namespace hlstm
