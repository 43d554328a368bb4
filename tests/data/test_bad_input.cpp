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
        for (auto pos = r.output.find("hlstm: "); pos != std::string::npos; pos = r.output.find("hlstm: ", pos + 1)) ++count;
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
    { std::FILE* f = std::fopen(junk.c_str(), "w"); std::fputs("not hdf5\n", f); std::fclose(f); }
    auto r = run(hlstmUnderMpi(ranks) + " info " + junk, 60);
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_NE(r.output.find("not an HDF5 file"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Ranks, BadInput, ::testing::Values(1, 2));
