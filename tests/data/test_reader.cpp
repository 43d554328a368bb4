// readNative at 1-4 ranks: units converted, sparse points dropped, gaps filled, and the
// gathered blocks equal the file's content in order.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "hlstm/data/native_reader.hpp"
#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;

namespace {
constexpr std::uint64_t kN = 211, kM = 9;
double metres(std::uint64_t i, std::uint64_t t) {
    return 0.001 * static_cast<double>(i) + 0.0005 * static_cast<double>(t);
}
bool dropped(std::uint64_t i) { return i % 17 == 5; }
}  // namespace

TEST(NativeReader, BlocksGatherToTheConvertedFilledFile) {
    Comm comm;
    test::TempDir dir(comm);
    const std::string path = dir.file("in.h5");
    const float nan = std::numeric_limits<float>::quiet_NaN();
    if (comm.isRoot()) {
        std::vector<double> x(kN), y(kN);
        std::vector<std::int64_t> id(kN);
        std::vector<float> disp(kN * kM);
        std::vector<std::int32_t> dates;
        for (std::uint64_t t = 0; t < kM; ++t)
            dates.push_back(dates::fromDays(dates::toDays(20200101) + 12 * static_cast<std::int64_t>(t)));
        for (std::uint64_t i = 0; i < kN; ++i) {
            x[i] = 1000.0 + static_cast<double>(i);
            y[i] = -2.0 * static_cast<double>(i);
            id[i] = 5000 + static_cast<std::int64_t>(i);
            for (std::uint64_t t = 0; t < kM; ++t) {
                float v = static_cast<float>(metres(i, t));
                if (dropped(i) && t >= 3) v = nan;   // 3 of 9 valid: dropped at 0.5
                if (i % 7 == 3 && t == 4) v = nan;   // interior gap
                if (i % 11 == 2 && t == 0) v = nan;  // leading gap
                disp[i * kM + t] = v;
            }
        }
        h5::File f(path, h5::Access::kCreate);
        f.createDataset<double>("/x", {kN}).writeRows(0, kN, x.data());
        f.createDataset<double>("/y", {kN}).writeRows(0, kN, y.data());
        f.createDataset<std::int64_t>("/id", {kN}).writeRows(0, kN, id.data());
        f.writeSmall<std::int32_t>("/dates", dates);
        auto d = f.createDataset<float>("/displacement", {kN, kM});
        d.writeRows(0, kN, disp.data());
        d.writeAttribute("unit", std::string("m"));
    }
    comm.barrier();
    ReadOptions options;
    options.minValidFraction = 0.5;
    LocalBlock block = readNative(comm, path, options);

    std::uint64_t expectedKept = 0;
    for (std::uint64_t i = 0; i < kN; ++i) expectedKept += dropped(i) ? 0 : 1;
    EXPECT_EQ(block.keptTotal, expectedKept);
    EXPECT_EQ(block.stats.dropped, kN - expectedKept);
    EXPECT_EQ(block.stats.unit, "m");
    ASSERT_EQ(block.points.nEpochs(), kM);
    // No rank holds more than its share of the file's rows.
    EXPECT_LE(block.points.size(), kN / static_cast<std::uint64_t>(comm.size()) + 1);

    auto ids = comm.allgatherv(block.points.ids);
    auto disp = comm.allgatherv(block.points.displacement);
    auto rows = comm.allgatherv(block.points.rows);
    ASSERT_EQ(ids.size(), expectedKept);
    std::size_t k = 0;
    for (std::uint64_t i = 0; i < kN; ++i) {
        if (dropped(i)) continue;
        ASSERT_EQ(ids[k], 5000 + static_cast<std::int64_t>(i));
        ASSERT_EQ(rows[k], k);
        for (std::uint64_t t = 0; t < kM; ++t) {
            // Leading gap takes the first valid value; interior gaps are linear in time.
            const double expectedMm = 1000.0 * metres(i, (i % 11 == 2 && t == 0) ? 1 : t);
            ASSERT_NEAR(disp[k * kM + t], expectedMm, 1e-3) << "point " << i << " epoch " << t;
        }
        ++k;
    }
}
