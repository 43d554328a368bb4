// `hlstm export` for GIS analysts (issue 21 item 3): a real run on a MintPy geocoded grid (the
// fixture of tests/data/make_fixtures.py, with masked and no-data pixels), exported with
// --history to a GeoPackage (read back through ogrinfo: DYYYYMMDD fields equal the input's
// values and the forecast) and to a GeoTIFF (read back through gdalinfo and gdallocationinfo:
// the input's grid, pixel (row, col) = the forecast of point id row * width + col).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

constexpr int kRows = 30, kCols = 40, kDates = 24;

class ExportGis : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        auto f = run("/usr/bin/python3 " HLSTM_SOURCE_DIR "/tests/data/make_fixtures.py " + dir_->path(), 120);
        ASSERT_EQ(f.exitCode, 0) << f.output;
        auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --input " + file("mintpy_geo.h5") +
                         " --input.mask " + file("maskTempCoh.h5") + " -o " + file("out.h5") +
                         " --train.epochs 3 --grid.L 4 --grid.K 1 --grid.S 4 --partition.min_points 50"
                         " --train.threads 1 --run.selection_cuts 0",
                     300);
        ASSERT_EQ(r.exitCode, 0) << r.output;
    }
    static void TearDownTestSuite() { delete dir_; }
    static std::string file(const std::string& name) { return dir_->file(name); }
    static TempDir* dir_;
};
TempDir* ExportGis::dir_ = nullptr;

// "name (Type) = value" lines of `ogrinfo -q -al` for one feature.
std::map<std::string, std::string> fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find(" = "), paren = line.find(" (");
        if (eq == std::string::npos || paren == std::string::npos || paren > eq) continue;
        const auto first = line.find_first_not_of(' ');
        out[line.substr(first, paren - first)] = line.substr(eq + 3);
    }
    return out;
}

std::string attrText(const h5::File& f, const char* name) { return f.readStringAttribute(name); }

}  // namespace

TEST_F(ExportGis, HistoryAddsAFieldPerObservedAndForecastDateWithTheInputsValues) {
    const std::string gpkg = file("history.gpkg");
    auto e = run(hlstmUnderMpi(2) + " export " + file("out.h5") + " -o " + gpkg + " --history", 120);
    ASSERT_EQ(e.exitCode, 0) << e.output;

    h5::File in(file("mintpy_geo.h5"), h5::Access::kReadOnly);
    const auto cube = in.openDataset("/timeseries").readAll<float>();  // dates x rows x cols, metres
    const auto dateText = in.openDataset("/date").readStringRows(0, kDates);
    h5::File out(file("out.h5"), h5::Access::kReadOnly);
    const auto ids = out.openDataset("/points/id").readAll<std::int64_t>();
    const auto status = out.openDataset("/points/status").readAll<std::int32_t>();
    const auto next = out.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto velocity = out.openDataset("/points/velocity").readAll<double>();
    const auto nextDates = out.openDataset("/forecast/next_dates").readAll<std::int32_t>();
    ASSERT_EQ(nextDates.size(), 1u);
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(kRows * kCols));  // every pixel is a row

    const auto schema = run("ogrinfo -so " + gpkg + " history", 60).output;
    for (const auto& d : dateText) EXPECT_NE(schema.find("\nD" + d + ": Real"), std::string::npos) << d << schema;
    EXPECT_NE(schema.find("\nD" + std::to_string(nextDates[0]) + ": Real"), std::string::npos) << schema;
    EXPECT_NE(schema.find("\nvelocity: Real"), std::string::npos) << schema;

    // Rows: several forecast points, a masked one and a no-data one.
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < ids.size() && rows.size() < 6; i += 97)
        if (status[i] == 0) rows.push_back(i);
    for (int code : {2, 3})
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (status[i] == code) {
                rows.push_back(i);
                break;
            }
    ASSERT_GE(rows.size(), 8u) << "the fixture has forecast, masked and no-data points";
    for (std::size_t i : rows) {
        SCOPED_TRACE("row " + std::to_string(i) + " id " + std::to_string(ids[i]));
        auto one = fields(
            run("ogrinfo -q -al -where \"fid = " + std::to_string(i + 1) + "\" " + gpkg + " history", 60).output);
        const std::int64_t pixel = ids[i];
        for (int t = 0; t < kDates; ++t) {
            const std::string& got = one["D" + dateText[t]];
            const float metres = cube[static_cast<std::size_t>(t) * kRows * kCols + static_cast<std::size_t>(pixel)];
            if (status[i] != 0 || std::isnan(metres))
                EXPECT_EQ(got, "(null)") << dateText[t];  // not a kept point, or not observed
            else
                EXPECT_NEAR(std::strtod(got.c_str(), nullptr), 1000.0 * metres, 2e-3) << dateText[t];
        }
        const std::string& forecast = one["D" + std::to_string(nextDates[0])];
        if (std::isnan(next[i]))
            EXPECT_EQ(forecast, "(null)");
        else
            EXPECT_NEAR(std::strtod(forecast.c_str(), nullptr), next[i], 1e-4 * (1 + std::fabs(next[i])));
        if (!std::isnan(velocity[i])) {
            EXPECT_NEAR(std::strtod(one["velocity"].c_str(), nullptr), velocity[i],
                        1e-9 * (1 + std::fabs(velocity[i])));
        }
    }
}

TEST_F(ExportGis, GeoTiffIsOnTheInputGridWithEachPixelsForecast) {
    const std::string tif = file("forecast.tif");
    auto e = run(hlstmUnderMpi(2) + " export " + file("out.h5") + " -o " + tif, 120);
    ASSERT_EQ(e.exitCode, 0) << e.output;
    EXPECT_FALSE(std::filesystem::exists(tif + ".tmp"));
    const std::string info = run("gdalinfo " + tif, 60).output;
    EXPECT_NE(info.find("Size is " + std::to_string(kCols) + ", " + std::to_string(kRows)), std::string::npos) << info;
    h5::File in(file("mintpy_geo.h5"), h5::Access::kReadOnly);
    const double x0 = std::stod(attrText(in, "X_FIRST")), y0 = std::stod(attrText(in, "Y_FIRST"));
    const double dx = std::stod(attrText(in, "X_STEP")), dy = std::stod(attrText(in, "Y_STEP"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(info, m, std::regex(R"(Origin = \(([-0-9.]+),([-0-9.]+)\))"))) << info;
    EXPECT_NEAR(std::stod(m[1]), x0, 1e-9);
    EXPECT_NEAR(std::stod(m[2]), y0, 1e-9);
    ASSERT_TRUE(std::regex_search(info, m, std::regex(R"(Pixel Size = \(([-0-9.]+),([-0-9.]+)\))"))) << info;
    EXPECT_NEAR(std::stod(m[1]), dx, 1e-12);
    EXPECT_NEAR(std::stod(m[2]), dy, 1e-12);
    EXPECT_NE(info.find("ID[\"EPSG\",4326]"), std::string::npos) << info;
    EXPECT_NE(info.find("Description = subregion"), std::string::npos) << info;

    h5::File out(file("out.h5"), h5::Access::kReadOnly);
    const auto ids = out.openDataset("/points/id").readAll<std::int64_t>();
    const auto next = out.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto sub = out.openDataset("/points/subregion").readAll<std::int32_t>();
    std::size_t finite = 0, empty = 0;
    for (std::size_t i = 0; i < ids.size(); i += 13) {
        const auto row = ids[i] / kCols, col = ids[i] % kCols;
        SCOPED_TRACE("pixel " + std::to_string(row) + "," + std::to_string(col));
        // Band 1: next_cumulative; band 5: subregion (NaN where no point was forecast).
        auto v =
            run("gdallocationinfo -valonly -b 1 " + tif + " " + std::to_string(col) + " " + std::to_string(row), 60);
        auto s =
            run("gdallocationinfo -valonly -b 5 " + tif + " " + std::to_string(col) + " " + std::to_string(row), 60);
        ASSERT_EQ(v.exitCode, 0) << v.output;
        if (std::isnan(next[i])) {
            EXPECT_EQ(v.output.substr(0, 3), "nan") << v.output;
            ++empty;
        } else {
            EXPECT_EQ(std::strtof(v.output.c_str(), nullptr), next[i]);
            EXPECT_EQ(std::strtod(s.output.c_str(), nullptr), sub[i]);
            ++finite;
        }
    }
    EXPECT_GT(finite, 50u);
    EXPECT_GT(empty, 0u);  // masked or no-data pixels are NoData
}

TEST_F(ExportGis, RefusedWithTheFileNamedAndNothingLeft) {
    // A GeoTIFF of a point input (native): no grid.
    auto r = run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --input " + file("native.h5") + " -o " +
                     file("native-out.h5") +
                     " --train.epochs 2 --grid.L 4 --grid.K 1 --grid.S 4 --partition.min_points 50"
                     " --train.threads 1 --run.selection_cuts 0",
                 300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    auto t = run(hlstmUnderMpi(2) + " export " + file("native-out.h5") + " -o " + file("native.tif"), 60);
    EXPECT_EQ(t.exitCode, 1) << t.output;
    EXPECT_NE(t.output.find(file("native.h5") + ": a point input"), std::string::npos) << t.output;
    EXPECT_FALSE(std::filesystem::exists(file("native.tif")));
    EXPECT_FALSE(std::filesystem::exists(file("native.tif.tmp")));
    // --history with an input changed since the run: both checksums named.
    std::filesystem::copy_file(file("mintpy_geo.h5"), file("changed.h5"));
    {
        h5::File c(file("changed.h5"), h5::Access::kReadWrite);
        c.writeAttribute("PROCESSOR", std::string("edited"));
    }
    auto h = run(hlstmUnderMpi(1) + " export " + file("out.h5") + " -o " + file("h.gpkg") + " --history --input " +
                     file("changed.h5"),
                 60);
    EXPECT_EQ(h.exitCode, 1) << h.output;
    EXPECT_NE(h.output.find(file("changed.h5") + " (--input): changed since the run"), std::string::npos) << h.output;
    EXPECT_FALSE(std::filesystem::exists(file("h.gpkg")));
    // --history is for tables, not for a GeoTIFF.
    auto b = run(hlstmUnderMpi(1) + " export " + file("out.h5") + " -o " + file("b.tif") + " --history", 60);
    EXPECT_NE(b.exitCode, 0) << b.output;
    EXPECT_NE(b.output.find("--history adds fields to a .csv or .gpkg"), std::string::npos) << b.output;
}
