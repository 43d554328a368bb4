// `hlstm partition` end to end: the Table I scene's output file (points, zones, subregions,
// curves, edge statistics, velocities over the visible epochs), and bad input or config:
// exit 1 and no output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;
using namespace hlstm::test;

TEST(PartitionCli, PatternsSceneOutputFile) {
    TempDir dir;
    const std::string in = dir.file("patterns.h5"), out = dir.file("part.h5");
    auto sim = run(hlstmUnderMpi(2) + " simulate --kind patterns --points 5000 --epochs 12 -o " + in);
    ASSERT_EQ(sim.exitCode, 0) << sim.output;
    auto r = run(hlstmUnderMpi(3) + " partition " + in + " -o " + out + " --partition.min_points 500");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("chosen k = 5"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("phase timings"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));

    h5::File f(out, h5::Access::kReadOnly);
    const auto sub = f.openDataset("/points/subregion").readAll<std::int32_t>();
    const auto zone = f.openDataset("/points/zone").readAll<std::int32_t>();
    const auto vel = f.openDataset("/points/velocity").readAll<double>();
    const auto x = f.openDataset("/points/x").readAll<double>();
    ASSERT_EQ(sub.size(), 5000u);
    ASSERT_EQ(x.size(), 5000u);
    for (std::size_t i = 0; i < 5000; ++i) {
        const std::size_t block = i * 5 / 5000;
        EXPECT_EQ(sub[i], sub[block * 1000]) << i;
        EXPECT_EQ(zone[i], zone[block * 1000]) << i;
    }
    // blocks 0..4: stable, uplift, subsidence, increased uplift, increased subsidence; zones
    // are ordered by mean velocity ascending
    EXPECT_EQ(zone[4000], 0);
    EXPECT_EQ(zone[2000], 1);
    EXPECT_EQ(zone[0], 2);
    EXPECT_EQ(zone[1000], 3);
    EXPECT_EQ(zone[3000], 4);

    EXPECT_EQ(f.openDataset("/partition/k_values").readAll<std::int32_t>(),
              (std::vector<std::int32_t>{2, 3, 4, 5, 6, 7, 8, 9, 10}));
    const auto db = f.openDataset("/partition/db_index_velocity").readAll<double>();
    ASSERT_EQ(db.size(), 9u);
    EXPECT_EQ(std::min_element(db.begin(), db.end()) - db.begin(), 3);  // k = 5
    EXPECT_EQ(f.openDataset("/partition/db_index_pearson").readAll<double>().size(), 9u);
    EXPECT_EQ(f.openDataset("/partition/k_chosen").readAll<std::int32_t>()[0], 5);
    EXPECT_EQ(f.openDataset("/partition/n_noise").readAll<std::uint64_t>()[0], 0u);
    EXPECT_EQ(f.openDataset("/partition/subregion_n_points").readAll<std::uint64_t>(),
              (std::vector<std::uint64_t>{1000, 1000, 1000, 1000, 1000}));
    const double mean = f.openDataset("/partition/edge_mean").readAll<double>()[0];
    const double sd = f.openDataset("/partition/edge_std").readAll<double>()[0];
    EXPECT_DOUBLE_EQ(f.openDataset("/partition/edge_threshold").readAll<double>()[0], mean + 3.0 * sd);
    EXPECT_DOUBLE_EQ(f.openDataset("/partition/alpha").readAll<double>()[0], 3.0);
    EXPECT_GT(f.openDataset("/partition/n_edges").readAll<std::uint64_t>()[0], 14000u);  // ~3n
    EXPECT_GE(f.openDataset("/partition/n_cut_edges").readAll<std::uint64_t>()[0], 4u);
    EXPECT_EQ(f.readAttribute<std::int32_t>("complete"), 1);

    // velocity = OLS slope over the first 11 of 12 epochs (the holdout hides the last)
    h5::File input(in, h5::Access::kReadOnly);
    const auto disp = input.openDataset("/displacement").readAll<float>();
    const std::size_t m = 12, visible = 11;
    for (std::size_t i : {0u, 1234u, 2999u, 4999u}) {
        double st = 0, sc = 0;
        for (std::size_t t = 0; t < visible; ++t) {
            st += 12.0 * static_cast<double>(t) / 365.25;
            sc += disp[i * m + t];
        }
        double stt = 0, stc = 0;
        for (std::size_t t = 0; t < visible; ++t) {
            const double dt = 12.0 * static_cast<double>(t) / 365.25 - st / visible;
            stt += dt * dt;
            stc += dt * (disp[i * m + t] - sc / visible);
        }
        EXPECT_NEAR(vel[i], stc / stt, 1e-9 * (1 + std::abs(vel[i]))) << i;
    }
}

TEST(PartitionCli, BadInputOrConfigExitsOneWithoutOutput) {
    TempDir dir;
    const std::string in = dir.file("patterns.h5"), out = dir.file("part.h5");
    ASSERT_EQ(run(hlstmBinary() + " simulate --kind patterns --points 500 -o " + in).exitCode, 0);
    {
        std::ofstream junk(dir.file("junk.h5"));
        junk << "not hdf5\n";
    }
    const std::vector<std::pair<std::string, std::string>> cases = {
        {" partition " + dir.file("missing.h5") + " -o " + out, "no such file"},
        {" partition " + dir.file("junk.h5") + " -o " + out, "not an HDF5 file"},
        {" partition " + in + " -o " + out + " --partition.k_min 1", "partition.k_min"},
        {" partition " + in + " -o " + out + " --partition.db_distance cosine", "partition.db_distance"},
        {" partition " + in + " -o " + out + " --run.holdout 11", "holdout"},
        {" partition -o " + out, "no input file"},
    };
    for (const auto& [args, message] : cases) {
        auto r = run(hlstmUnderMpi(2) + args);
        EXPECT_EQ(r.exitCode, 1) << args << "\n" << r.output;
        EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
        EXPECT_FALSE(std::filesystem::exists(out)) << args;
        EXPECT_FALSE(std::filesystem::exists(out + ".tmp")) << args;
    }
}

// An archive in another format through the real program: a MintPy cube in degrees and an EGMS
// CSV (tests/data/make_fixtures.py) are partitioned at 2 ranks, and the output carries every
// point's WGS84 lon/lat (the pixel centres, back from the UTM projection the partition used),
// the CRS of /points/x,y, the file's own CRS, and for EGMS the pid strings.
TEST(PartitionCli, OtherFormatsGiveLonLatAndTheirCrs) {
    TempDir dir;
    auto fx = run("/usr/bin/python3 " HLSTM_SOURCE_DIR "/tests/data/make_fixtures.py " + dir.path());
    ASSERT_EQ(fx.exitCode, 0) << fx.output;
    h5::File expected(dir.file("expected.h5"), h5::Access::kReadOnly);
    const auto lon = expected.openDataset("/lon").readAll<double>();
    const auto lat = expected.openDataset("/lat").readAll<double>();
    const auto pids = expected.readStrings("/pids");
    for (const std::string input : {"mintpy_geo.h5", "egms_l2b.csv"}) {
        SCOPED_TRACE(input);
        const std::string out = dir.file(input + ".part.h5");
        auto r = run(hlstmUnderMpi(2) + " partition " + dir.file(input) + " -o " + out +
                     " --partition.min_points 40 --partition.k_max 4 --input.min_valid_fraction 0");
        ASSERT_EQ(r.exitCode, 0) << r.output;
        h5::File f(out, h5::Access::kReadOnly);
        const auto gotLon = f.openDataset("/points/lon").readAll<double>();
        const auto gotLat = f.openDataset("/points/lat").readAll<double>();
        // Every input point is a row: the kept points first (these), then the pixels without
        // data, each with its status (/points/status), so the file may have more rows.
        const auto status = f.openDataset("/points/status").readAll<std::int8_t>();
        ASSERT_GE(gotLon.size(), lon.size());
        ASSERT_EQ(status.size(), gotLon.size());
        for (std::size_t i = 0; i < status.size(); ++i) ASSERT_EQ(status[i] == 0, i < lon.size()) << i;
        double worst = 0;
        for (std::size_t i = 0; i < lon.size(); ++i)
            worst = std::max({worst, std::abs(gotLon[i] - lon[i]), std::abs(gotLat[i] - lat[i])});
        EXPECT_LT(worst, 1e-7) << "degrees";
        auto x = f.openDataset("/points/x");
        EXPECT_EQ(x.readStringAttribute("crs"), "EPSG:32650");
        EXPECT_EQ(x.readStringAttribute("source_crs"), "EPSG:4326");
        if (input == "egms_l2b.csv") {
            auto got = f.readStrings("/points/pid");
            ASSERT_GE(got.size(), pids.size());
            got.resize(pids.size());
            EXPECT_EQ(got, pids);
        } else
            EXPECT_FALSE(f.exists("/points/pid"));
    }
}
