// readInput at 1-4 ranks on one small scene that tests/data/make_fixtures.py writes in every form
// users have (native; MintPy geocoded, with NO_DATA_VALUE, radar geometry, HDF-EOS5; LiCSBAS
// cum.h5; EGMS L2b and L3 CSV): each gathers to the scene's points in pixel (or line) order,
// observed values within 0.01 mm, gaps filled linearly, the same places; a mask keeps exactly its
// pixels; no rank holds more than its share; every malformed variant fails on every rank with an
// InputError naming the file and the cause.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/serialization/string.hpp>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "hlstm/core/error.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/partition/partition.hpp"
#include "test_support.hpp"

using namespace hlstm;

namespace {

constexpr const char* kUtm = "EPSG:32650";  // the UTM zone of the scene centre (116.5 E, 38.4 N)
constexpr double kMmTolerance = 0.01;

// ---------------------------------------------------------------------------------------------
// What the script wrote.

/// expected.h5: the scene's points (pixels with >= 2 finite epochs, row-major pixel order).
struct Expected {
    std::vector<std::int64_t> ids, maskIds;
    std::vector<double> lon, lat;  // pixel centres, degrees
    std::vector<float> mm;         // n x m, NaN where missing (before gap filling)
    std::vector<std::int32_t> dates;
    std::vector<std::string> pids;          // the EGMS pid of each point
    std::size_t rows = 0, cols = 0;         // the grid
    std::vector<std::int8_t> maskedStatus;  // every pixel's PointStatus when read with the mask

    [[nodiscard]] std::size_t n() const { return ids.size(); }
    [[nodiscard]] std::size_t m() const { return dates.size(); }

    static Expected read(const std::string& path) {
        Expected e;
        h5::File f(path, h5::Access::kReadOnly);
        e.ids = f.openDataset("/ids").readAll<std::int64_t>();
        e.maskIds = f.openDataset("/mask_ids").readAll<std::int64_t>();
        e.lon = f.openDataset("/lon").readAll<double>();
        e.lat = f.openDataset("/lat").readAll<double>();
        e.mm = f.openDataset("/mm").readAll<float>();
        e.dates = f.openDataset("/dates").readAll<std::int32_t>();
        e.pids = f.readStrings("/pids");
        const auto shape = f.openDataset("/grid_shape").readAll<std::int64_t>();
        e.rows = static_cast<std::size_t>(shape.at(0));
        e.cols = static_cast<std::size_t>(shape.at(1));
        e.maskedStatus = f.openDataset("/masked_status").readAll<std::int8_t>();
        return e;
    }

    /// The series as a reader returns them: observed values as they are, gaps linear in time.
    [[nodiscard]] std::vector<float> filled() const {
        std::vector<std::int64_t> days(m());
        std::transform(dates.begin(), dates.end(), days.begin(), dates::toDays);
        std::vector<float> out = mm;
        for (std::size_t i = 0; i < n(); ++i) fillGaps(out.data() + i * m(), days.data(), m());
        return out;
    }
    /// 1 where a value was observed (finite), per point and epoch.
    [[nodiscard]] std::vector<int> observed() const {
        std::vector<int> out(mm.size());
        std::transform(mm.begin(), mm.end(), out.begin(), [](float v) { return std::isfinite(v) ? 1 : 0; });
        return out;
    }
    [[nodiscard]] std::uint64_t missing() const {
        return static_cast<std::uint64_t>(std::count_if(mm.begin(), mm.end(), [](float v) { return std::isnan(v); }));
    }
    /// Rows (filled series) of the points with the given ids, in that order.
    [[nodiscard]] std::vector<float> filledRowsOf(const std::vector<std::int64_t>& wanted) const {
        const std::vector<float> all = filled();
        std::vector<float> out;
        for (const auto id : wanted) {
            const auto k = static_cast<std::size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
            if (k == n()) continue;  // not a point: the size check fails
            out.insert(out.end(), all.begin() + static_cast<std::ptrdiff_t>(k * m()),
                       all.begin() + static_cast<std::ptrdiff_t>((k + 1) * m()));
        }
        return out;
    }
};

/// One line of manifest.txt (tab-separated, "-" for none): a file and how it is read.
struct ManifestEntry {
    std::string file, format, geometry, mask, expectError;
};

std::vector<ManifestEntry> readManifest(const std::string& path) {
    std::ifstream in(path);
    std::vector<ManifestEntry> entries;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields;
        std::istringstream fieldStream(line);
        for (std::string field; std::getline(fieldStream, field, '\t');) fields.push_back(field == "-" ? "" : field);
        if (fields.size() != 5) throw std::runtime_error(path + ": not 5 tab-separated fields: " + line);
        entries.push_back({fields[0], fields[1], fields[2], fields[3], fields[4]});
    }
    return entries;
}

/// The fixtures, written once for the whole program by rank 0 into a TempDir (collective).
class Fixtures : public testing::Environment {
public:
    void SetUp() override {
        comm_ = std::make_unique<Comm>();
        dir_ = std::make_unique<test::TempDir>(*comm_);
        test::CommandResult r{0, ""};
        if (comm_->isRoot())
            r = test::run("/usr/bin/python3 " HLSTM_SOURCE_DIR "/tests/data/make_fixtures.py " + dir_->path());
        comm_->bcast(r.exitCode);
        comm_->bcast(r.output);
        if (r.exitCode != 0) {
            error_ = "make_fixtures.py failed (exit " + std::to_string(r.exitCode) + "):\n" + r.output;
            return;
        }
        try {
            expected_ = Expected::read(dir_->file("expected.h5"));
            manifest_ = readManifest(dir_->file("manifest.txt"));
        } catch (const std::exception& e) {
            error_ = std::string("reading the fixtures' expected content: ") + e.what();
        }
    }
    void TearDown() override {
        dir_.reset();  // collective: a barrier, then rank 0 removes the files
        comm_.reset();
    }

    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] const Comm& comm() const { return *comm_; }
    [[nodiscard]] std::string file(const std::string& name) const { return dir_->file(name); }
    [[nodiscard]] const Expected& expected() const { return expected_; }
    [[nodiscard]] const std::vector<ManifestEntry>& manifest() const { return manifest_; }

private:
    std::unique_ptr<Comm> comm_;
    std::unique_ptr<test::TempDir> dir_;
    std::string error_;
    Expected expected_;
    std::vector<ManifestEntry> manifest_;
};

Fixtures* const gFixtures = static_cast<Fixtures*>(testing::AddGlobalTestEnvironment(new Fixtures));

// ---------------------------------------------------------------------------------------------
// Reading and gathering.

/// readInput of a fixture file with only the ">= 2 valid epochs" rule (minValidFraction 0).
LocalBlock read(const std::string& name, const std::string& geometry = "", const std::string& mask = "",
                InputFormat format = InputFormat::kAuto) {
    ReadOptions options;
    options.minValidFraction = 0.0;
    options.format = format;
    if (!geometry.empty()) options.geometry = gFixtures->file(geometry);
    if (!mask.empty()) options.mask = gFixtures->file(mask);
    return readInput(gFixtures->comm(), gFixtures->file(name), options);
}

std::vector<std::string> allgatherStrings(const Comm& comm, const std::vector<std::string>& local) {
    std::vector<char> bytes;
    for (const auto& s : local) {
        bytes.insert(bytes.end(), s.begin(), s.end());
        bytes.push_back('\0');
    }
    bytes = comm.allgatherv(bytes);
    std::vector<std::string> all;
    std::size_t start = 0;
    for (std::size_t k = 0; k < bytes.size(); ++k)
        if (bytes[k] == '\0') {
            all.emplace_back(bytes.data() + start, k - start);
            start = k + 1;
        }
    return all;
}

/// Every rank's block concatenated in rank order, on every rank (collective).
struct Gathered {
    std::vector<std::int64_t> ids;
    std::vector<std::uint64_t> rows;
    std::vector<double> x, y;
    std::vector<float> mm;
    std::vector<std::uint64_t> observedWords;  // ObservationMask words, point after point
    std::size_t wordsPerPoint = 0;
    std::vector<std::string> pids;

    [[nodiscard]] std::size_t size() const { return x.size(); }
    /// LocalBlock::observed of every point and epoch, 1 or 0.
    [[nodiscard]] std::vector<int> observed(std::size_t m) const {
        std::vector<int> out;
        for (std::size_t i = 0; i < size(); ++i)
            for (std::size_t t = 0; t < m; ++t)
                out.push_back(static_cast<int>((observedWords[i * wordsPerPoint + t / 64] >> (t % 64)) & 1u));
        return out;
    }
};

Gathered gather(const LocalBlock& block) {
    const Comm& comm = gFixtures->comm();
    // A braced initialiser evaluates in order: every rank calls the collectives in the same sequence.
    return {comm.allgatherv(block.points.ids),
            comm.allgatherv(block.points.rows),
            comm.allgatherv(block.points.x),
            comm.allgatherv(block.points.y),
            comm.allgatherv(block.points.displacement),
            comm.allgatherv(block.observedMask.words()),
            (block.points.nEpochs() + 63) / 64,
            allgatherStrings(comm, block.pids)};
}

// ---------------------------------------------------------------------------------------------
// Comparisons that report how many values differ and the first few, not thousands of lines.

/// Index k of a flat n x width array as "point i" or "point i epoch t".
std::string where(std::size_t k, std::size_t width) {
    return width == 1 ? "point " + std::to_string(k)
                      : "point " + std::to_string(k / width) + " epoch " + std::to_string(k % width);
}

template <class G, class W>
testing::AssertionResult allNear(const std::string& what, const std::vector<G>& got, const std::vector<W>& want,
                                 double tolerance, std::size_t width = 1) {
    if (got.size() != want.size())
        return testing::AssertionFailure() << what << ": " << got.size() << " values, expected " << want.size();
    std::size_t bad = 0;
    std::ostringstream first;
    first.precision(12);
    for (std::size_t k = 0; k < got.size(); ++k) {
        const double g = static_cast<double>(got[k]), w = static_cast<double>(want[k]);
        if (std::fabs(g - w) <= tolerance) continue;  // a NaN on either side differs
        if (bad++ < 5) first << "\n  " << where(k, width) << ": " << g << ", expected " << w;
    }
    if (bad == 0) return testing::AssertionSuccess();
    return testing::AssertionFailure() << what << ": " << bad << " of " << got.size() << " differ by more than "
                                       << tolerance << first.str();
}

template <class T>
testing::AssertionResult sameSequence(const std::string& what, const std::vector<T>& got, const std::vector<T>& want,
                                      std::size_t width = 1) {
    if (got == want) return testing::AssertionSuccess();
    std::size_t k = 0;
    while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
    auto show = [k](const std::vector<T>& v) {
        std::ostringstream os;
        if (k < v.size())
            os << v[k];
        else
            os << "(none)";
        return os.str();
    };
    return testing::AssertionFailure() << what << ": " << got.size() << " values (expected " << want.size()
                                       << "), first difference at " << where(k, width) << ": " << show(got)
                                       << ", expected " << show(want);
}

template <class T> std::vector<T> iota(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t k = 0; k < n; ++k) v[k] = static_cast<T>(k);
    return v;
}

std::size_t ceilDiv(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// The forms of the scene.

/// How a reader splits its input among ranks: the bound on one rank's points follows from it.
enum class Split { kFileRows, kGridRows, kCsvBytes };

struct Case {
    const char* file;
    const char* format;  ///< stats.format
    const char* unit;    ///< stats.unit
    const char* crs;     ///< stats.crs
    Split split;
    double xyTolerance;      ///< metres, x/y against native.h5's (0: another CRS, not compared)
    double lonLatTolerance;  ///< degrees, geo::toLonLat(stats.crs, x, y) against the pixel centres
    const char* geometry;    ///< MintPy radar geometry file
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }
/// The test name of a case: its file name with '_' for '.'.
std::string caseName(const testing::TestParamInfo<Case>& info) {
    std::string name = info.param.file;
    std::replace_if(
        name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) == 0; }, '_');
    return name;
}

const Case kCases[] = {
    {"native.h5", "native", "mm", kUtm, Split::kFileRows, 0.01, 1e-7, ""},
    {"mintpy_geo.h5", "mintpy", "m", kUtm, Split::kGridRows, 0.01, 1e-7, ""},
    {"mintpy_geo_nodata.h5", "mintpy", "m", kUtm, Split::kGridRows, 0.01, 1e-7, ""},
    {"mintpy.he5", "mintpy", "m", kUtm, Split::kGridRows, 0.01, 1e-7, ""},
    // MintPy stores the radar geometry's /latitude, /longitude in float32: ~0.3 m here.
    {"mintpy_radar.h5", "mintpy", "m", kUtm, Split::kGridRows, 1.0, 1.5e-5, "geometryRadar.h5"},
    {"cum.h5", "licsbas", "mm", kUtm, Split::kGridRows, 0.01, 1e-7, ""},
    {"egms_l2b.csv", "egms", "mm", kUtm, Split::kCsvBytes, 0.01, 1e-7, ""},
    // EGMS Ortho (L3) has no latitude/longitude: easting/northing in ETRS89-LAEA, kept as they are.
    {"egms_l3.csv", "egms", "mm", "EPSG:3035", Split::kCsvBytes, 0.0, 1e-7, ""},
};

/// The most points one rank may hold. Of the lines starting in a byte range of a CSV, all but the
/// last lie inside it: a rank of `ranks` equal ranges holds at most 1 + the number of shortest
/// lines whose bytes fit in total / ranks (+1 for rounding). An even split of lines fits too.
std::size_t shareBound(const Case& c, std::size_t ranks) {
    const Expected& e = gFixtures->expected();
    switch (c.split) {
        case Split::kFileRows: return ceilDiv(e.n(), ranks);
        case Split::kGridRows: return ceilDiv(e.rows, ranks) * e.cols;
        case Split::kCsvBytes: break;
    }
    std::ifstream in(gFixtures->file(c.file));
    std::string line;
    std::getline(in, line);
    std::size_t total = line.size() + 1;
    std::vector<std::size_t> lengths;
    while (std::getline(in, line)) {
        lengths.push_back(line.size() + 1);
        total += lengths.back();
    }
    std::sort(lengths.begin(), lengths.end());
    std::size_t fitting = 0, bytes = 0;
    while (fitting < lengths.size() && bytes + lengths[fitting] <= ceilDiv(total, ranks)) bytes += lengths[fitting++];
    return std::min(lengths.size(), fitting + 2);
}

class Formats : public testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(gFixtures->error().empty()) << gFixtures->error(); }
    static const Expected& expected() { return gFixtures->expected(); }
};

class FormatRead : public Formats, public testing::WithParamInterface<Case> {};

}  // namespace

TEST_P(FormatRead, GathersToTheScenesPointsValuesAndPlaces) {
    const Case& c = GetParam();
    const Expected& e = expected();
    const Comm& comm = gFixtures->comm();
    const LocalBlock block = read(c.file, c.geometry);
    const bool egms = std::string(c.format) == "egms";

    EXPECT_EQ(block.stats.format, c.format);
    EXPECT_EQ(block.stats.unit, c.unit);
    EXPECT_EQ(block.stats.crs, c.crs);
    EXPECT_EQ(geo::isGeographic(block.stats.sourceCrs), std::string(c.crs) == kUtm) << block.stats.sourceCrs;
    EXPECT_EQ(block.keptTotal, e.n());
    EXPECT_EQ(block.stats.missing, e.missing());
    EXPECT_EQ(block.points.dates, e.dates);  // not ASSERT: every rank must reach the collectives below
    EXPECT_LE(block.points.size(), shareBound(c, static_cast<std::size_t>(comm.size())))
        << "rank " << comm.rank() << " of " << comm.size();

    const Gathered g = gather(block);
    ASSERT_EQ(g.size(), e.n());
    EXPECT_TRUE(sameSequence("rows", g.rows, iota<std::uint64_t>(e.n())));
    if (!block.points.rows.empty()) {
        EXPECT_EQ(block.points.rows.front(), block.keptOffset);
    }
    if (egms) {  // a CSV point's id is its line order; its name is the pid
        EXPECT_TRUE(sameSequence("ids", g.ids, iota<std::int64_t>(e.n())));
        EXPECT_TRUE(sameSequence("pids", g.pids, e.pids));
    } else {
        EXPECT_TRUE(sameSequence("ids", g.ids, e.ids));
        EXPECT_TRUE(g.pids.empty()) << g.pids.size() << " pids";
    }

    EXPECT_TRUE(allNear("displacement (mm)", g.mm, e.filled(), kMmTolerance, e.m()));
    ASSERT_EQ(g.observedWords.size(), e.n() * g.wordsPerPoint);
    EXPECT_TRUE(sameSequence("observed", g.observed(e.m()), e.observed(), e.m()));

    const auto [lon, lat] = geo::toLonLat(block.stats.crs, g.x, g.y);
    EXPECT_TRUE(allNear("longitude", lon, e.lon, c.lonLatTolerance));
    EXPECT_TRUE(allNear("latitude", lat, e.lat, c.lonLatTolerance));
    if (c.xyTolerance > 0) {
        const Gathered native = gather(read("native.h5"));
        EXPECT_TRUE(allNear("x (m) against native.h5", g.x, native.x, c.xyTolerance));
        EXPECT_TRUE(allNear("y (m) against native.h5", g.y, native.y, c.xyTolerance));
    }
}

INSTANTIATE_TEST_SUITE_P(EveryForm, FormatRead, testing::ValuesIn(kCases), caseName);

TEST_F(Formats, MaskKeepsExactlyItsPixels) {
    const Expected& e = expected();
    ASSERT_LT(e.maskIds.size(), e.n());  // the mask does remove points
    for (const char* name : {"mintpy_geo.h5", "cum.h5"}) {
        SCOPED_TRACE(name);
        const LocalBlock block = read(name, "", "maskTempCoh.h5");
        EXPECT_EQ(block.keptTotal, e.maskIds.size());
        const Gathered g = gather(block);
        EXPECT_TRUE(sameSequence("ids", g.ids, e.maskIds));
        EXPECT_TRUE(allNear("displacement (mm)", g.mm, e.filledRowsOf(e.maskIds), kMmTolerance, e.m()));
    }
}

TEST_F(Formats, EveryPixelIsAKeptOrADroppedPointWithItsReason) {
    // Every input pixel is accounted for: kept, or dropped with its PointStatus, in pixel order;
    // the counts per reason are the fixture script's, at any rank count.
    const Expected& e = expected();
    const Comm& comm = gFixtures->comm();
    std::vector<std::int64_t> wantIds;
    std::vector<std::int8_t> wantStatus;
    std::array<std::uint64_t, output::kPointStatusCount> wantCounts{};
    for (std::size_t p = 0; p < e.maskedStatus.size(); ++p) {
        ++wantCounts[static_cast<std::size_t>(e.maskedStatus[p])];
        if (e.maskedStatus[p] == 0) continue;
        wantIds.push_back(static_cast<std::int64_t>(p));
        wantStatus.push_back(e.maskedStatus[p]);
    }
    ASSERT_EQ(e.maskedStatus.size(), e.rows * e.cols);
    // The fixture has every reason a grid reader gives.
    for (auto s : {output::PointStatus::kMasked, output::PointStatus::kNoData, output::PointStatus::kTooFewEpochs})
        ASSERT_GT(wantCounts[static_cast<std::size_t>(s)], 0u) << output::toString(s);
    for (const char* name : {"mintpy_geo.h5", "mintpy_geo_nodata.h5", "mintpy.he5"}) {
        SCOPED_TRACE(name);
        const LocalBlock block = read(name, "", "maskTempCoh.h5");
        const auto& d = block.dropped;
        EXPECT_EQ(block.keptTotal, wantCounts[0]);
        EXPECT_EQ(d.total, wantIds.size());
        EXPECT_EQ(block.stats.fileRows, e.rows * e.cols);
        EXPECT_EQ(block.stats.dropped, wantIds.size());
        for (std::size_t k = 1; k < output::kPointStatusCount; ++k)
            EXPECT_EQ(block.stats.droppedBy[k], wantCounts[k]) << output::toString(static_cast<output::PointStatus>(k));
        EXPECT_EQ(d.offset, comm.exscan(static_cast<std::uint64_t>(d.size())));
        EXPECT_TRUE(sameSequence("dropped ids", comm.allgatherv(d.ids), wantIds));
        const auto status = comm.allgatherv(d.status);
        EXPECT_EQ(status, wantStatus);
        // Coordinates in the block's CRS like the kept points': finite for a geocoded grid.
        const auto x = comm.allgatherv(d.x);
        EXPECT_EQ(
            static_cast<std::size_t>(std::count_if(x.begin(), x.end(), [](double v) { return std::isfinite(v); })),
            wantIds.size());
    }
}

TEST_F(Formats, MalformedFilesFailOnEveryRankNamingTheFileAndTheCause) {
    std::size_t malformed = 0;
    for (const ManifestEntry& entry : gFixtures->manifest()) {
        if (entry.expectError.empty()) continue;
        ++malformed;
        // In the file's own format the message says what is wrong; detected, it names the file.
        for (const InputFormat format : {inputFormatFromString(entry.format), InputFormat::kAuto}) {
            SCOPED_TRACE(entry.file + " read as " + toString(format));
            std::string message;
            try {
                (void)read(entry.file, entry.geometry, entry.mask, format);
                ADD_FAILURE() << "read without an error";
            } catch (const InputError& error) {
                message = error.what();
            } catch (const std::exception& error) {
                ADD_FAILURE() << "not an InputError: " << error.what();
            }
            EXPECT_NE(message.find(entry.file), std::string::npos) << message;
            if (format != InputFormat::kAuto) {
                EXPECT_NE(message.find(entry.expectError), std::string::npos)
                    << "wanted \"" << entry.expectError << "\" in: " << message;
            }
        }
    }
    EXPECT_EQ(malformed, 7u) << "malformed variants in manifest.txt";
}

// The partition (paper II-A) of the scene read from every form equals the native file's: the same
// zone and subregion for every point, the same subregion sizes, at any rank count. EGMS L3 gives
// the places in another projection (EPSG:3035): the Delaunay graph of a regular grid is full of
// ties that another projection breaks otherwise, so only its velocity zones must agree.
TEST_F(Formats, EveryFormPartitionsLikeTheNativeFile) {
    const Comm& comm = gFixtures->comm();
    partition::PartitionConfig config;
    config.minPoints = 40;
    config.kMax = 4;
    auto labels = [&](const LocalBlock& block) {
        config.epochs = block.points.nEpochs() - 1;  // a holdout of one epoch, as `run` does
        const partition::PartitionResult r = partition::run(comm, block.points, config);
        std::vector<std::uint64_t> sizes;
        for (const auto& s : r.summary.subregions) sizes.push_back(s.nPoints);
        return std::make_tuple(comm.allgatherv(r.zone), comm.allgatherv(r.subregion), sizes);
    };
    const auto [zone, sub, sizes] = labels(read("native.h5"));
    ASSERT_GE(sizes.size(), 2u) << "the scene must split, or the comparison proves little";
    for (const std::string file :
         {"mintpy_geo.h5", "mintpy_geo_nodata.h5", "mintpy.he5", "cum.h5", "egms_l2b.csv", "egms_l3.csv"}) {
        SCOPED_TRACE(file);
        const auto [z, s, n] = labels(read(file));
        EXPECT_EQ(z, zone);
        if (file == "egms_l3.csv") continue;
        EXPECT_EQ(n, sizes);
        EXPECT_EQ(s, sub);
    }
}
