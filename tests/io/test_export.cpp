// `hlstm export` end to end: small hlstm outputs written here (the datasets of a run, known
// values, complete = 1) exported to CSV and GeoPackage by the real program, read back as text
// and through GDAL's ogrinfo; bad inputs exit 1 naming the file; one real `hlstm run` output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Synthetic {
    std::size_t n = 1000;
    std::size_t Y = 3;
    bool lonLat = true;
    bool lonLatNaN = false;  // present but NaN (the run did not know the CRS)
    bool pid = false;
    bool status = false;  // /points/status: code i % 7 (absent: files before it, all forecast)
    std::string crsOnX;   // /points/x attribute crs
    std::string rootCrs;  // root attribute crs
    int complete = 1;
    std::string format = "hlstm-output";
};

double xOf(std::size_t i) { return 500000.0 + 10.123456789 * static_cast<double>(i); }
double yOf(std::size_t i) { return 4200000.0 - 5.987654321 * static_cast<double>(i); }
// Points 1e-4 degrees apart: far more than a float32's resolution (the R-tree's), 8e-6 here.
double lonOf(std::size_t i) { return 116.1 + 1.23456789e-4 * static_cast<double>(i); }
double latOf(std::size_t i) { return 38.2 + 9.87654321e-5 * static_cast<double>(i); }
double velocityOf(std::size_t i) { return -40.0 + 0.0123456789012345 * static_cast<double>(i); }
float diffOf(std::size_t i, std::size_t k) {
    return (i == 7 && k == 1) ? kNaN : 0.1f * static_cast<float>(i % 97) - 3.3f * static_cast<float>(k) + 0.01f;
}
float cumOf(std::size_t i, std::size_t k) {
    return -12.5f - 0.37f * static_cast<float>(i % 101) + static_cast<float>(k);
}
float trueOf(std::size_t i, std::size_t k) { return 0.7f * static_cast<float>(i % 13) - static_cast<float>(k) / 3.0f; }
float predOf(std::size_t i, std::size_t k) { return trueOf(i, k) + 0.25f - 0.01f * static_cast<float>(i % 7); }
std::string pidOf(std::size_t i) { return i == 5 ? "A,\"5\"" : "1Ab" + std::to_string(i * 7); }

const std::vector<std::int32_t> kNextDates{20240105, 20240117, 20240129};
const std::vector<std::int32_t> kHoldoutDates{20231212, 20231224, 20240105};

void writeSynthetic(const std::string& path, const Synthetic& s) {
    h5::File f(path, h5::Access::kCreate);
    std::vector<double> x(s.n), y(s.n), lon(s.n), lat(s.n), vel(s.n);
    std::vector<std::int64_t> id(s.n);
    std::vector<std::int32_t> zone(s.n), sub(s.n);
    std::vector<std::int8_t> split(s.n);
    std::vector<std::string> pid(s.n);
    std::vector<float> diff(s.n * s.Y), cum(s.n * s.Y), low(s.n * s.Y), high(s.n * s.Y), tru(s.n * s.Y),
        pred(s.n * s.Y), err(s.n * s.Y);
    for (std::size_t i = 0; i < s.n; ++i) {
        x[i] = xOf(i);
        y[i] = yOf(i);
        lon[i] = s.lonLatNaN ? std::nan("") : lonOf(i);
        lat[i] = s.lonLatNaN ? std::nan("") : latOf(i);
        vel[i] = velocityOf(i);
        id[i] = 100000 + static_cast<std::int64_t>(i) * 3;
        zone[i] = static_cast<std::int32_t>(i % 4);
        sub[i] = static_cast<std::int32_t>(i % 9) - 1;
        split[i] = static_cast<std::int8_t>(i % 3 == 0);
        pid[i] = pidOf(i);
        for (std::size_t k = 0; k < s.Y; ++k) {
            diff[i * s.Y + k] = diffOf(i, k);
            cum[i * s.Y + k] = cumOf(i, k);
            low[i * s.Y + k] = cumOf(i, k) - 2.0f;
            high[i * s.Y + k] = cumOf(i, k) + 2.0f;
            tru[i * s.Y + k] = trueOf(i, k);
            pred[i * s.Y + k] = predOf(i, k);
            err[i * s.Y + k] = std::abs(predOf(i, k) - trueOf(i, k));
        }
    }
    const auto rows = [&](const std::string& p, const auto& v) {
        using T = typename std::decay_t<decltype(v)>::value_type;
        f.createDataset<T>(p, {s.n}).writeRows(0, s.n, v.data());
    };
    const auto steps = [&](const std::string& p, const std::vector<float>& v) {
        f.createDataset<float>(p, {s.n, s.Y}).writeRows(0, s.n, v.data());
    };
    rows("/points/x", x);
    rows("/points/y", y);
    rows("/points/id", id);
    if (s.lonLat) {
        rows("/points/lon", lon);
        rows("/points/lat", lat);
    }
    if (s.pid) f.writeStrings("/points/pid", pid);
    if (s.status) {
        std::vector<std::int8_t> codes(s.n);
        for (std::size_t i = 0; i < s.n; ++i) codes[i] = static_cast<std::int8_t>(i % 7);
        rows("/points/status", codes);
    }
    rows("/points/velocity", vel);
    rows("/points/zone", zone);
    rows("/points/subregion", sub);
    rows("/points/split", split);
    if (!s.crsOnX.empty()) f.openDataset("/points/x").writeAttribute("crs", s.crsOnX);
    steps("/forecast/next_diff", diff);
    steps("/forecast/next_cumulative", cum);
    steps("/forecast/interval_low", low);
    steps("/forecast/interval_high", high);
    steps("/forecast/holdout_true", tru);
    steps("/forecast/holdout_pred", pred);
    steps("/forecast/abs_error", err);
    steps("/forecast/persistence_pred", tru);  // not exported
    f.writeSmall<std::int32_t>(
        "/forecast/next_dates",
        std::vector<std::int32_t>(kNextDates.begin(), kNextDates.begin() + static_cast<std::ptrdiff_t>(s.Y)));
    f.writeSmall<std::int32_t>(
        "/forecast/holdout_dates",
        std::vector<std::int32_t>(kHoldoutDates.begin(), kHoldoutDates.begin() + static_cast<std::ptrdiff_t>(s.Y)));
    if (!s.rootCrs.empty()) f.writeAttribute("crs", s.rootCrs);
    if (!s.format.empty()) f.writeAttribute("format", s.format);
    f.writeAttribute("complete", static_cast<std::int32_t>(s.complete));
}

std::string exportCmd(const std::string& in, const std::string& out, const std::string& extra = "") {
    return hlstmBinary() + " export " + in + " -o " + out + (extra.empty() ? "" : " " + extra);
}

// RFC 4180 fields of one line.
std::vector<std::string> csvFields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

struct Csv {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    [[nodiscard]] std::size_t col(const std::string& name) const {
        for (std::size_t c = 0; c < header.size(); ++c)
            if (header[c] == name) return c;
        ADD_FAILURE() << "no column " << name;
        return 0;
    }
    [[nodiscard]] const std::string& at(std::size_t row, const std::string& name) const {
        return rows.at(row).at(col(name));
    }
};

Csv readCsv(const std::string& path) {
    std::ifstream in(path);
    Csv csv;
    std::string line;
    if (std::getline(in, line)) csv.header = csvFields(line);
    while (std::getline(in, line)) csv.rows.push_back(csvFields(line));
    return csv;
}

std::vector<std::string> expectedHeader(std::size_t Y) {
    std::vector<std::string> h{"id", "lon", "lat", "x", "y", "status", "velocity", "zone", "subregion", "split"};
    for (const char* q : {"next_diff", "next_cumulative", "interval_low", "interval_high"})
        for (std::size_t k = 0; k < Y; ++k) h.push_back(std::string(q) + "_" + std::to_string(kNextDates[k]));
    for (const char* q : {"holdout_true", "holdout_pred", "abs_error"})
        for (std::size_t k = 0; k < Y; ++k) h.push_back(std::string(q) + "_" + std::to_string(kHoldoutDates[k]));
    return h;
}

// "name (Type) = value" lines of `ogrinfo -al -q` for one feature, and its POINT.
std::map<std::string, std::string> ogrFeature(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find(" = ");
        const auto paren = line.find(" (");
        if (eq != std::string::npos && paren != std::string::npos && paren < eq) {
            const auto first = line.find_first_not_of(' ');
            out[line.substr(first, paren - first)] = line.substr(eq + 3);
            out[line.substr(first, paren - first) + ":type"] =
                line.substr(paren + 2, line.find(')', paren) - paren - 2);
        } else if (line.find("POINT") != std::string::npos) {
            out["POINT"] = line.substr(line.find("POINT"));
        }
    }
    return out;
}

double num(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

// SQLite's own consistency check of the layer's R-tree ("ok" or what is wrong).
std::string rtreeCheck(const std::string& gpkg, const std::string& layer) {
    auto r = run("ogrinfo -ro -q " + gpkg + " -sql \"SELECT rtreecheck('rtree_" + layer + "_geom') AS c\"", 60);
    const auto at = r.output.find("c (String) = ");
    if (at == std::string::npos) return r.output;
    return r.output.substr(at + 13, r.output.find('\n', at) - at - 13);
}

// GDAL's GeoPackage validator (gdal-bin depends on python3-gdal, which ships it).
void expectValidGeoPackage(const std::string& gpkg) {
    const std::string python = "/usr/bin/python3";
    if (run(python + " -c 'import osgeo_utils.samples.validate_gpkg'", 60).exitCode != 0) {
        std::printf("note: osgeo_utils.samples.validate_gpkg not importable; %s not validated\n", gpkg.c_str());
        return;
    }
    auto v = run(python + " -m osgeo_utils.samples.validate_gpkg " + gpkg, 120);
    EXPECT_EQ(v.exitCode, 0) << v.output;
}

// Features in a window, as GDAL's spatial filter (the R-tree) finds them.
std::uint64_t countInWindow(const std::string& gpkg, const std::string& layer, double x0, double y0, double x1,
                            double y1) {
    char spat[200];
    std::snprintf(spat, sizeof spat, " -spat %.10f %.10f %.10f %.10f ", x0, y0, x1, y1);
    auto r = run("ogrinfo -ro -so" + std::string(spat) + gpkg + " " + layer, 60);
    const auto at = r.output.find("Feature Count: ");
    EXPECT_NE(at, std::string::npos) << r.output;
    return at == std::string::npos ? 0 : std::strtoull(r.output.c_str() + at + 15, nullptr, 10);
}

// A CSV field holding a float32 of the file: empty for NaN, else text that reads back as it.
void expectFloatField(const std::string& field, float value) {
    if (std::isnan(value))
        EXPECT_EQ(field, "");
    else
        EXPECT_EQ(std::strtof(field.c_str(), nullptr), value) << field;
}

}  // namespace

TEST(Export, CsvHasOneRowPerPointWithTheDatasetsValues) {
    TempDir dir;
    Synthetic s;
    writeSynthetic(dir.file("out.h5"), s);
    // Blocks of 300 rows: the values at and around block boundaries come from the right rows.
    auto r = run(exportCmd(dir.file("out.h5"), dir.file("points.csv"), "--block-rows 300"), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("exported 1000 points x 31 columns"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("points.csv.tmp")));
    const Csv csv = readCsv(dir.file("points.csv"));
    EXPECT_EQ(csv.header, expectedHeader(3));
    ASSERT_EQ(csv.rows.size(), s.n);
    for (std::size_t i : {0u, 7u, 299u, 300u, 301u, 599u, 600u, 999u}) {
        SCOPED_TRACE(i);
        ASSERT_EQ(csv.rows[i].size(), csv.header.size());
        EXPECT_EQ(csv.at(i, "id"), std::to_string(100000 + 3 * i));
        // lon/lat with 8 decimals, x/y with 3
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.8f", lonOf(i));
        EXPECT_EQ(csv.at(i, "lon"), buf);
        std::snprintf(buf, sizeof buf, "%.8f", latOf(i));
        EXPECT_EQ(csv.at(i, "lat"), buf);
        std::snprintf(buf, sizeof buf, "%.3f", xOf(i));
        EXPECT_EQ(csv.at(i, "x"), buf);
        std::snprintf(buf, sizeof buf, "%.3f", yOf(i));
        EXPECT_EQ(csv.at(i, "y"), buf);
        EXPECT_EQ(num(csv.at(i, "velocity")), velocityOf(i));  // full precision: reads back exactly
        EXPECT_EQ(csv.at(i, "zone"), std::to_string(i % 4));
        EXPECT_EQ(csv.at(i, "subregion"), std::to_string(static_cast<int>(i % 9) - 1));
        EXPECT_EQ(csv.at(i, "split"), i % 3 == 0 ? "1" : "0");
        EXPECT_EQ(csv.at(i, "status"), "forecast");  // a file without /points/status: every point was
        for (std::size_t k = 0; k < 3; ++k) {
            const std::string nd = std::to_string(kNextDates[k]), hd = std::to_string(kHoldoutDates[k]);
            if (std::isnan(diffOf(i, k)))
                EXPECT_EQ(csv.at(i, "next_diff_" + nd), "");  // NaN: empty field
            else
                EXPECT_EQ(std::strtof(csv.at(i, "next_diff_" + nd).c_str(), nullptr), diffOf(i, k));
            EXPECT_EQ(std::strtof(csv.at(i, "next_cumulative_" + nd).c_str(), nullptr), cumOf(i, k));
            EXPECT_EQ(std::strtof(csv.at(i, "interval_low_" + nd).c_str(), nullptr), cumOf(i, k) - 2.0f);
            EXPECT_EQ(std::strtof(csv.at(i, "interval_high_" + nd).c_str(), nullptr), cumOf(i, k) + 2.0f);
            EXPECT_EQ(std::strtof(csv.at(i, "holdout_true_" + hd).c_str(), nullptr), trueOf(i, k));
            EXPECT_EQ(std::strtof(csv.at(i, "holdout_pred_" + hd).c_str(), nullptr), predOf(i, k));
            EXPECT_EQ(std::strtof(csv.at(i, "abs_error_" + hd).c_str(), nullptr),
                      std::abs(predOf(i, k) - trueOf(i, k)));
        }
    }
    // Shortest text that reads back as the same float: 0.01f is "0.01", not 0.009999999776.
    EXPECT_EQ(csv.at(0, "next_diff_20240105"), "0.01");
}

TEST(Export, GpkgReadBackThroughOgrinfo) {
    TempDir dir;
    Synthetic s;
    writeSynthetic(dir.file("out.h5"), s);
    const std::string gpkg = dir.file("subsidence.gpkg");
    auto r = run(exportCmd(dir.file("out.h5"), gpkg, "--block-rows 256"), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("(layer subsidence, geometry lon/lat, EPSG:4326)"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(gpkg + ".tmp"));

    auto info = run("ogrinfo -so " + gpkg + " subsidence", 60);
    ASSERT_EQ(info.exitCode, 0) << info.output;
    EXPECT_NE(info.output.find("Layer name: subsidence"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("Geometry: Point"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("Feature Count: 1000\n"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("ID[\"EPSG\",4326]]"), std::string::npos)
        << info.output;  // the CRS itself, last in its WKT
    EXPECT_NE(info.output.find("id: Integer64"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("zone: Integer "), std::string::npos) << info.output;
    for (const auto& name : expectedHeader(3))
        EXPECT_NE(info.output.find("\n" + name + ": "), std::string::npos) << name << "\n" << info.output;

    // The R-tree packed by the export: consistent for SQLite, and a valid GeoPackage for GDAL.
    EXPECT_EQ(rtreeCheck(gpkg, "subsidence"), "ok");
    expectValidGeoPackage(gpkg);

    // fid 1..n in row order: fid 8 is row 7 (the NaN forecast), fid 258 is row 257 (second block).
    for (std::size_t i : {7u, 257u}) {
        SCOPED_TRACE(i);
        auto one = run("ogrinfo -q -al -where \"fid = " + std::to_string(i + 1) + "\" " + gpkg + " subsidence", 60);
        ASSERT_EQ(one.exitCode, 0) << one.output;
        auto f = ogrFeature(one.output);
        EXPECT_EQ(f["id"], std::to_string(100000 + 3 * i));
        EXPECT_NEAR(num(f["lon"]), lonOf(i), 1e-12);
        EXPECT_NEAR(num(f["lat"]), latOf(i), 1e-12);
        EXPECT_NEAR(num(f["x"]), xOf(i), 1e-7);
        EXPECT_NEAR(num(f["velocity"]), velocityOf(i), 1e-12);
        EXPECT_EQ(f["zone"], std::to_string(i % 4));
        EXPECT_EQ(f["split"], i % 3 == 0 ? "1" : "0");
        if (i == 7)
            EXPECT_EQ(f["next_diff_20240117"], "(null)");
        else
            EXPECT_EQ(static_cast<float>(num(f["next_diff_20240117"])), diffOf(i, 1));
        EXPECT_EQ(static_cast<float>(num(f["next_cumulative_20240129"])), cumOf(i, 2));
        EXPECT_EQ(static_cast<float>(num(f["abs_error_20231224"])), std::abs(predOf(i, 1) - trueOf(i, 1)));
        // POINT (lon lat): x = longitude (traditional GIS order)
        std::istringstream pt(f["POINT"].substr(f["POINT"].find('(') + 1));
        double px = 0, py = 0;
        pt >> px >> py;
        EXPECT_NEAR(px, lonOf(i), 1e-9) << f["POINT"];
        EXPECT_NEAR(py, latOf(i), 1e-9) << f["POINT"];
    }
}

// A three-level R-tree (6000 points, 51 cells a node): window queries through it find exactly
// the points inside, and edits after the export keep it consistent (its triggers).
TEST(Export, SpatialIndexAnswersWindowQueries) {
    TempDir dir;
    Synthetic s;
    s.n = 6000;
    writeSynthetic(dir.file("out.h5"), s);
    const std::string gpkg = dir.file("idx.gpkg");
    auto r = run(exportCmd(dir.file("out.h5"), gpkg, "--block-rows 1000"), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_EQ(rtreeCheck(gpkg, "idx"), "ok");
    auto depth = run(
        "ogrinfo -ro -q " + gpkg + " -sql \"SELECT rtreedepth(data) AS d FROM rtree_idx_geom_node WHERE nodeno = 1\"",
        60);
    EXPECT_NE(depth.output.find("d (Integer) = 2"), std::string::npos) << depth.output;
    // Windows over the points' diagonal (lon and lat grow with the row): the rows inside.
    struct Window {
        std::size_t first, last;  // rows whose points are inside
    };
    for (const Window w : {Window{0, 0}, Window{10, 20}, Window{2999, 3100}, Window{100, 5999}, Window{5990, 5999}}) {
        SCOPED_TRACE(std::to_string(w.first) + ".." + std::to_string(w.last));
        const double x0 = 0.5 * (lonOf(w.first) + (w.first > 0 ? lonOf(w.first - 1) : lonOf(0) - 1.0));
        const double x1 = 0.5 * (lonOf(w.last) + lonOf(w.last + 1));
        EXPECT_EQ(countInWindow(gpkg, "idx", x0, 30.0, x1, 40.0), w.last - w.first + 1);
    }
    EXPECT_EQ(countInWindow(gpkg, "idx", 100.0, 30.0, 110.0, 40.0), 0u);
    // Edits through SQL: the GeoPackage triggers keep the R-tree in step.
    auto edit = run("ogrinfo -q " + gpkg + " -sql \"DELETE FROM idx WHERE fid = 11\"", 60);
    ASSERT_EQ(edit.exitCode, 0) << edit.output;
    EXPECT_EQ(countInWindow(gpkg, "idx", 0.5 * (lonOf(9) + lonOf(10)), 30.0, 0.5 * (lonOf(20) + lonOf(21)), 40.0), 10u);
    EXPECT_EQ(rtreeCheck(gpkg, "idx"), "ok");
    expectValidGeoPackage(gpkg);
}

TEST(Export, WithoutLonLatUsesXyInTheFilesCrs) {
    TempDir dir;
    Synthetic s;
    s.n = 50;
    s.lonLat = false;
    s.crsOnX = "EPSG:32650";
    writeSynthetic(dir.file("out.h5"), s);
    auto r = run(exportCmd(dir.file("out.h5"), dir.file("utm.gpkg")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_EQ(r.output.find("WARN"), std::string::npos) << r.output;
    auto info = run("ogrinfo -so " + dir.file("utm.gpkg") + " utm", 60);
    EXPECT_NE(info.output.find("ID[\"EPSG\",32650]]"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("Feature Count: 50\n"), std::string::npos) << info.output;
    auto one = run("ogrinfo -q -al -where \"fid = 3\" " + dir.file("utm.gpkg") + " utm", 60);
    auto f = ogrFeature(one.output);
    EXPECT_EQ(f["lon"], "(null)");
    std::istringstream pt(f["POINT"].substr(f["POINT"].find('(') + 1));
    double px = 0, py = 0;
    pt >> px >> py;
    EXPECT_NEAR(px, xOf(2), 1e-6) << f["POINT"];
    EXPECT_NEAR(py, yOf(2), 1e-6) << f["POINT"];

    // CSV: lon, lat columns present and empty; NaN lon/lat with a root crs: the same.
    s.lonLat = true;
    s.lonLatNaN = true;
    s.crsOnX.clear();
    s.rootCrs = "EPSG:3857";
    writeSynthetic(dir.file("nan.h5"), s);
    r = run(exportCmd(dir.file("nan.h5"), dir.file("nan.csv")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const Csv csv = readCsv(dir.file("nan.csv"));
    ASSERT_EQ(csv.rows.size(), 50u);
    EXPECT_EQ(csv.at(3, "lon"), "");
    EXPECT_EQ(csv.at(3, "lat"), "");
    EXPECT_EQ(num(csv.at(3, "x")), std::round(xOf(3) * 1000.0) / 1000.0);
    r = run(exportCmd(dir.file("nan.h5"), dir.file("nan.gpkg")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("geometry x/y, EPSG:3857"), std::string::npos) << r.output;
    EXPECT_NE(run("ogrinfo -so " + dir.file("nan.gpkg") + " nan", 60).output.find("ID[\"EPSG\",3857]]"),
              std::string::npos);
}

TEST(Export, WithoutAnyCrsWarnsAndWritesAnUndefinedCartesianSrs) {
    TempDir dir;
    Synthetic s;
    s.n = 20;
    s.lonLat = false;
    writeSynthetic(dir.file("out.h5"), s);
    auto r = run(exportCmd(dir.file("out.h5"), dir.file("plain.gpkg")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("WARN"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("no lon/lat and no crs"), std::string::npos) << r.output;
    auto info = run("ogrinfo -so " + dir.file("plain.gpkg") + " plain", 60);
    EXPECT_NE(info.output.find("Undefined Cartesian SRS"), std::string::npos) << info.output;
    EXPECT_EQ(info.output.find("EPSG\",4326"), std::string::npos) << info.output;
    auto sql = run("ogrinfo -q " + dir.file("plain.gpkg") + " -sql \"SELECT srs_id FROM gpkg_geometry_columns\"", 60);
    EXPECT_NE(sql.output.find("srs_id (Integer64) = -1\n"), std::string::npos) << sql.output;
}

TEST(Export, PidIsTheIdText) {
    TempDir dir;
    Synthetic s;
    s.n = 10;
    s.pid = true;
    writeSynthetic(dir.file("egms.h5"), s);
    ASSERT_EQ(run(exportCmd(dir.file("egms.h5"), dir.file("egms.csv")), 60).exitCode, 0);
    const Csv csv = readCsv(dir.file("egms.csv"));
    ASSERT_EQ(csv.rows.size(), 10u);
    EXPECT_EQ(csv.at(4, "id"), pidOf(4));
    EXPECT_EQ(csv.at(5, "id"), pidOf(5));  // "A,\"5\"": quoted, the quote doubled
    EXPECT_EQ(csv.rows[5].size(), csv.header.size());
    auto r = run(exportCmd(dir.file("egms.h5"), dir.file("egms.gpkg")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    auto info = run("ogrinfo -so " + dir.file("egms.gpkg") + " egms", 60);
    EXPECT_NE(info.output.find("id: String"), std::string::npos) << info.output;
    auto f = ogrFeature(run("ogrinfo -q -al -where \"fid = 5\" " + dir.file("egms.gpkg") + " egms", 60).output);
    EXPECT_EQ(f["id"], pidOf(4));
}

TEST(Export, BadInputExitsOneNamingTheFileAndLeavesNoOutput) {
    TempDir dir;
    Synthetic s;
    s.n = 10;
    s.complete = 0;
    writeSynthetic(dir.file("partial.h5"), s);
    s.complete = 1;
    s.format = "";
    writeSynthetic(dir.file("other.h5"), s);
    s.format = "hlstm-output";
    writeSynthetic(dir.file("good.h5"), s);
    { std::ofstream(dir.file("text.h5")) << "not hdf5\n"; }
    struct Case {
        std::string in, out, says;
    };
    const std::vector<Case> cases{
        {dir.file("partial.h5"), dir.file("a.csv"), "incomplete hlstm-output file (complete != 1)"},
        {dir.file("partial.h5"), dir.file("a.gpkg"), "incomplete hlstm-output file (complete != 1)"},
        {dir.file("other.h5"), dir.file("a.csv"), "not an hlstm output file"},
        {dir.file("text.h5"), dir.file("a.csv"), "not an HDF5 file"},
        {dir.file("missing.h5"), dir.file("a.csv"), "no such file"},
        {dir.file("good.h5"), dir.file("a.shp"), "unknown export format \".shp\""},
        {dir.file("good.h5"), dir.file("nodir/a.csv"), "does not exist"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.in + " -> " + c.out);
        auto r = run(exportCmd(c.in, c.out), 60);
        EXPECT_EQ(r.exitCode, 1) << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
        const std::string named = c.says.rfind("unknown", 0) == 0 || c.says == "does not exist" ? c.out : c.in;
        EXPECT_NE(r.output.find("hlstm: bad input"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(named + ": "), std::string::npos) << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;  // one message
        EXPECT_FALSE(std::filesystem::exists(c.out));
        EXPECT_FALSE(std::filesystem::exists(c.out + ".tmp"));
    }
    // Under several ranks: still one message, from one rank.
    auto r = run(hlstmUnderMpi(2) + " export " + dir.file("partial.h5") + " -o " + dir.file("a.gpkg"), 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    const auto first = r.output.find("hlstm: bad input");
    ASSERT_NE(first, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("hlstm: bad input", first + 1), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(dir.file("partial.h5") + ": incomplete"), std::string::npos) << r.output;
}

TEST(Export, ReplacesAnExistingFileAndHelpDescribesIt) {
    TempDir dir;
    Synthetic s;
    s.n = 5;
    writeSynthetic(dir.file("out.h5"), s);
    { std::ofstream(dir.file("old.csv")) << "stale\n"; }
    { std::ofstream(dir.file("old.gpkg")) << "stale\n"; }
    { std::ofstream(dir.file("old.gpkg.tmp")) << "left by a killed export\n"; }
    ASSERT_EQ(run(exportCmd(dir.file("out.h5"), dir.file("old.csv")), 60).exitCode, 0);
    EXPECT_EQ(readCsv(dir.file("old.csv")).rows.size(), 5u);
    auto r = run(exportCmd(dir.file("out.h5"), dir.file("old.gpkg")), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(run("ogrinfo -so " + dir.file("old.gpkg") + " old", 60).output.find("Feature Count: 5\n"),
              std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir.file("old.gpkg.tmp")));
    // Exporting again over a GeoPackage replaces it (no layer added to the old file).
    ASSERT_EQ(run(exportCmd(dir.file("out.h5"), dir.file("old.gpkg")), 60).exitCode, 0);
    auto layers = run("ogrinfo -q " + dir.file("old.gpkg"), 60);
    EXPECT_EQ(layers.output, "1: old (Point)\n") << layers.output;

    auto help = run(hlstmBinary() + " export --help", 60);
    EXPECT_EQ(help.exitCode, 0);
    EXPECT_NE(help.output.find("FILE.csv or FILE.gpkg"), std::string::npos) << help.output;
    EXPECT_NE(help.output.find("EPSG:4326"), std::string::npos) << help.output;
    EXPECT_NE(run(hlstmBinary() + " --help", 60).output.find("export"), std::string::npos);
}

// A real `hlstm run` output (2 ranks), exported under 2 ranks: every row, the run's values.
TEST(Export, RealRunOutput) {
    TempDir dir;
    const std::string out = dir.file("run.h5");
    auto r =
        run("env OMP_NUM_THREADS=1 " + hlstmUnderMpi(2) + " run --config " + std::string(HLSTM_SOURCE_DIR) +
                "/configs/demo.toml -o " + out + " --simulate.points 1500 --partition.min_points 300 --train.epochs 2",
            300);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    auto e = run(hlstmUnderMpi(2) + " export " + out + " -o " + dir.file("run.csv"), 60);
    ASSERT_EQ(e.exitCode, 0) << e.output;
    h5::File f(out, h5::Access::kReadOnly);
    const auto id = f.openDataset("/points/id").readAll<std::int64_t>();
    const auto x = f.openDataset("/points/x").readAll<double>();
    const auto vel = f.openDataset("/points/velocity").readAll<double>();
    const auto sub = f.openDataset("/points/subregion").readAll<std::int32_t>();
    const auto next = f.openDataset("/forecast/next_cumulative").readAll<float>();
    const auto err = f.openDataset("/forecast/abs_error").readAll<float>();
    const auto nextDates = f.openDataset("/forecast/next_dates").readAll<std::int32_t>();
    const auto holdoutDates = f.openDataset("/forecast/holdout_dates").readAll<std::int32_t>();
    ASSERT_EQ(nextDates.size(), 1u);
    const Csv csv = readCsv(dir.file("run.csv"));
    ASSERT_EQ(csv.rows.size(), id.size());
    const std::string nc = "next_cumulative_" + std::to_string(nextDates[0]);
    const std::string ae = "abs_error_" + std::to_string(holdoutDates[0]);
    std::size_t nanSeen = 0;
    for (std::size_t i = 0; i < id.size(); i += 7) {
        SCOPED_TRACE(i);
        EXPECT_EQ(csv.at(i, "id"), std::to_string(id[i]));
        EXPECT_NEAR(num(csv.at(i, "x")), x[i], 5e-4);
        if (std::isnan(vel[i]))
            EXPECT_EQ(csv.at(i, "velocity"), "");  // a point that was not kept
        else
            EXPECT_EQ(num(csv.at(i, "velocity")), vel[i]);
        EXPECT_EQ(csv.at(i, "subregion"), std::to_string(sub[i]));
        expectFloatField(csv.at(i, nc), next[i]);
        expectFloatField(csv.at(i, ae), err[i]);
        nanSeen += std::isnan(err[i]) ? 1 : 0;
    }
    RecordProperty("rows_with_nan_error_checked", static_cast<int>(nanSeen));
    auto g = run(hlstmUnderMpi(1) + " export " + out + " -o " + dir.file("run.gpkg"), 60);
    ASSERT_EQ(g.exitCode, 0) << g.output;
    auto info = run("ogrinfo -so " + dir.file("run.gpkg") + " run", 60);
    EXPECT_NE(info.output.find("Feature Count: " + std::to_string(id.size()) + "\n"), std::string::npos) << info.output;
}

TEST(Export, TheStatusColumnNamesEachPointsPointStatus) {
    TempDir dir;
    Synthetic s;
    s.status = true;
    writeSynthetic(dir.file("out.h5"), s);
    auto r = run(exportCmd(dir.file("out.h5"), dir.file("points.csv"), "--block-rows 300"), 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const Csv csv = readCsv(dir.file("points.csv"));
    ASSERT_EQ(csv.rows.size(), s.n);
    const char* names[] = {"forecast", "too_few_epochs", "masked", "no_data", "invalid_coordinates", "far", "no_model"};
    for (std::size_t i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 299u, 300u, 999u})
        EXPECT_EQ(csv.at(i, "status"), names[i % 7]) << i;
    // The GeoPackage: a text field with the same names.
    auto g = run(exportCmd(dir.file("out.h5"), dir.file("points.gpkg")), 60);
    ASSERT_EQ(g.exitCode, 0) << g.output;
    auto sql = run("ogrinfo -q " + dir.file("points.gpkg") +
                       " -sql \"SELECT status, COUNT(*) AS n FROM points GROUP BY status ORDER BY status\"",
                   60);
    ASSERT_EQ(sql.exitCode, 0) << sql.output;
    EXPECT_NE(sql.output.find("status (String) = far"), std::string::npos) << sql.output;
    EXPECT_NE(sql.output.find("n (Integer) = 143"), std::string::npos) << sql.output;  // 1000 = 6 x 143 + 142
}
