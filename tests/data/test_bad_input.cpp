// Every kind of bad input: exit 1, one message naming file and problem, no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

namespace {

struct Native {
    std::uint64_t n = 40, m = 6;
    std::vector<double> x, y;
    std::vector<std::int32_t> dates{20200101, 20200113, 20200125, 20200206, 20200218, 20200301};
    std::vector<float> disp;
    std::string unit = "mm";
    bool withX = true;
    bool xAsInt = false;
    std::uint64_t dispCols = 6;
    Native() {
        for (std::uint64_t i = 0; i < n; ++i) {
            x.push_back(static_cast<double>(i % 8) * 100.0);
            y.push_back(static_cast<double>(i / 8) * 100.0);
        }
        disp.assign(n * m, 1.0f);
    }
    void write(const std::string& path) const {
        h5::File f(path, h5::Access::kCreate);
        if (withX) {
            if (xAsInt) {
                std::vector<std::int32_t> xi(x.begin(), x.end());
                f.createDataset<std::int32_t>("/x", {n}).writeRows(0, n, xi.data());
            } else {
                f.createDataset<double>("/x", {n}).writeRows(0, n, x.data());
            }
        }
        f.createDataset<double>("/y", {n}).writeRows(0, n, y.data());
        f.writeSmall<std::int32_t>("/dates", dates);
        std::vector<float> d(n * dispCols, 1.0f);
        if (dispCols == m) d = disp;
        auto ds = f.createDataset<float>("/displacement", {n, dispCols});
        ds.writeRows(0, n, d.data());
        ds.writeAttribute("unit", unit);
    }
};

struct Case {
    std::string name;
    std::function<void(Native&)> spoil;
    std::string expected;  // text the message must contain
};

}  // namespace

class BadInput : public ::testing::TestWithParam<int> {};

TEST_P(BadInput, ExitsOneNamingTheProblemWithoutOutput) {
    const int ranks = GetParam();
    const std::vector<Case> cases = {
        {"missing", [](Native& s) { s.withX = false; }, "missing dataset /x"},
        {"shape", [](Native& s) { s.dispCols = 5; }, "dataset /displacement has shape (40 x 5)"},
        {"type", [](Native& s) { s.xAsInt = true; }, "dataset /x must be floating point"},
        {"unsorted", [](Native& s) { std::swap(s.dates[2], s.dates[3]); }, "dataset /dates index 3"},
        {"duplicate", [](Native& s) { s.dates[4] = s.dates[3]; }, "duplicates the previous date"},
        {"unit", [](Native& s) { s.unit = "cm"; }, "unit 'cm'"},
        {"nan-coordinate", [](Native& s) { s.y[37] = std::numeric_limits<double>::quiet_NaN(); },
         "dataset /y index 37: coordinate is not finite"},
    };
    TempDir dir;
    for (const auto& c : cases) {
        Native scene;
        c.spoil(scene);
        const std::string in = dir.file(c.name + ".h5");
        scene.write(in);
        const std::string out = dir.file(c.name + "-out.h5");
        auto r = run(hlstmUnderMpi(ranks) + " info " + in, 60);
        EXPECT_EQ(r.exitCode, 1) << c.name << ": " << r.output;
        EXPECT_NE(r.output.find(in), std::string::npos) << c.name << ": " << r.output;
        EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.name << ": " << r.output;
        // One message, not one per rank.
        std::size_t count = 0;
        for (auto pos = r.output.find("hlstm: "); pos != std::string::npos; pos = r.output.find("hlstm: ", pos + 1))
            ++count;
        EXPECT_EQ(count, 1u) << c.name << ": " << r.output;
        if (ranks != 2) continue;
        // The full pipeline refuses it the same way and leaves no output behind.
        auto rr = run(hlstmUnderMpi(ranks) + " run --input " + in + " -o " + out + " --train.epochs 1", 60);
        EXPECT_EQ(rr.exitCode, 1) << c.name << ": " << rr.output;
        EXPECT_NE(rr.output.find(c.expected), std::string::npos) << c.name << ": " << rr.output;
        EXPECT_FALSE(std::filesystem::exists(out)) << c.name;
        EXPECT_FALSE(std::filesystem::exists(out + ".tmp")) << c.name;
    }
    // Not HDF5 at all.
    const std::string junk = dir.file("junk.h5");
    {
        std::FILE* f = std::fopen(junk.c_str(), "w");
        std::fputs("not hdf5\n", f);
        std::fclose(f);
    }
    auto r = run(hlstmUnderMpi(ranks) + " info " + junk, 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("not an HDF5 file"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Ranks, BadInput, ::testing::Values(1, 2));

// Files written the ordinary h5py way: variable-length UTF-8 string attributes (h5py's default
// for a Python str), and h5py's own LZF compression, which plain HDF5 cannot read.
namespace {
std::string writeWithH5py(const TempDir& dir, const std::string& name, const std::string& compression) {
    const std::string path = dir.file(name), script = dir.file(name + ".py");
    std::FILE* f = std::fopen(script.c_str(), "w");
    std::fprintf(f,
                 "import h5py, numpy as np, sys\n"
                 "n, m = 40, 8\n"
                 "with h5py.File(sys.argv[1], 'w') as f:\n"
                 "    f['x'] = np.arange(n, dtype='f8') %% 8 * 100.0\n"
                 "    f['y'] = (np.arange(n) // 8).astype('f8') * 100.0\n"
                 "    f['dates'] = np.array([20200101, 20200113, 20200125, 20200206, 20200218, 20200301,"
                 " 20200313, 20200325], dtype='i4')\n"
                 "    d = np.cumsum(np.full((n, m), 0.002, dtype='f4'), axis=1)\n"
                 "    f.create_dataset('displacement', data=d%s)\n"
                 "    f['displacement'].attrs['unit'] = 'm'\n"
                 "    f.attrs['crs'] = 'EPSG:32650'\n",
                 compression.empty() ? "" : (", compression='" + compression + "'").c_str());
    std::fclose(f);
    auto r = run("/usr/bin/python3 " + script + " " + path, 60);
    EXPECT_EQ(r.exitCode, 0) << "needs python3-h5py (tools/setup.sh --with-fixtures): " << r.output;
    return path;
}
}  // namespace

TEST(H5pyWritten, Utf8StringAttributesAreReadAndMetresBecomeMillimetres) {
    TempDir dir;
    const std::string path = writeWithH5py(dir, "utf8.h5", "");
    auto r = run(hlstmUnderMpi(2) + " info " + path, 60);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("EPSG:32650"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("40 (40 in file"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("m (read as mm)"), std::string::npos) << r.output;
    // 0.002 m per 12 days -> 2 mm x 365.25 / 12 = 60.875 mm/yr for every point.
    EXPECT_NE(r.output.find("60.875 .. 60.875 mm/yr"), std::string::npos) << r.output;
}

TEST(H5pyWritten, LzfCompressionIsAClearInputErrorWithTheRecompressCommand) {
    TempDir dir;
    const std::string path = writeWithH5py(dir, "lzf.h5", "lzf");
    for (const std::string cmd :
         {" info " + path, " run --config " + std::string(HLSTM_SOURCE_DIR) + "/configs/demo.toml --input " + path +
                               " -o " + dir.file("o.h5")}) {
        auto r = run(hlstmUnderMpi(2) + cmd, 60);
        EXPECT_EQ(r.exitCode, 1) << cmd << "\n" << r.output;
        EXPECT_NE(r.output.find(path + ":/displacement is compressed with filter 32000 (LZF"), std::string::npos)
            << r.output;
        EXPECT_NE(r.output.find("h5repack -f GZIP=4"), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir.file("o.h5")));
        EXPECT_FALSE(std::filesystem::exists(dir.file("o.h5.tmp")));
    }
}
