// Collective block reads of a parallel HDF5 file equal a serial read, for 1-4 ranks.
#include <gtest/gtest.h>

#include <boost/serialization/string.hpp>

#include "hlstm/core/random.hpp"
#include "hlstm/io/hdf5.hpp"
#include "test_support.hpp"

using namespace hlstm;

TEST(Hdf5, CollectiveBlockReadsEqualSerialRead) {
    Comm comm;
    test::TempDir dir(comm);
    const std::string path = dir.file("blocks.h5");
    const std::uint64_t n = 1037, m = 13;  // not divisible by any rank count
    if (comm.isRoot()) {
        std::vector<float> data(n * m);
        std::vector<double> x(n);
        Rng rng(99);
        for (auto& v : data) v = static_cast<float>(rng.normal());
        for (auto& v : x) v = rng.uniform(-1e6, 1e6);
        h5::File f(path, h5::Access::kCreate);
        f.createDataset<float>("/displacement", {n, m}).writeRows(0, n, data.data());
        f.createDataset<double>("/group/x", {n}).writeRows(0, n, x.data());
        f.writeAttribute("note", std::string("serial"));
        f.writeAttribute("count", static_cast<std::int64_t>(n));
    }
    comm.barrier();
    // Serial reference: every rank reads the whole file without MPI-IO.
    std::vector<float> serial;
    std::vector<double> serialX;
    {
        h5::File f(path, h5::Access::kReadOnly);
        serial = f.openDataset("/displacement").readAll<float>();
        serialX = f.openDataset("/group/x").readAll<double>();
        EXPECT_EQ(f.readStringAttribute("note"), "serial");
        EXPECT_EQ(f.readAttribute<std::int64_t>("count"), static_cast<std::int64_t>(n));
    }
    ASSERT_EQ(serial.size(), n * m);
    comm.barrier();
    h5::File pf(path, h5::Access::kReadOnly, &comm);
    auto b = blockRange(n, comm.size(), comm.rank());
    auto mine = pf.openDataset("/displacement").readRows<float>(b.begin, b.count());
    auto mineX = pf.openDataset("/group/x").readRows<double>(b.begin, b.count());
    ASSERT_EQ(mine.size(), b.count() * m);
    for (std::size_t i = 0; i < mine.size(); ++i) ASSERT_EQ(mine[i], serial[b.begin * m + i]) << i;
    for (std::size_t i = 0; i < mineX.size(); ++i) ASSERT_EQ(mineX[i], serialX[b.begin + i]) << i;
    // And the blocks gathered back form the whole file.
    auto all = comm.allgatherv(mine);
    EXPECT_EQ(all, serial);
}

TEST(Hdf5, CollectiveWriteThenSerialReadBack) {
    Comm comm;
    test::TempDir dir(comm);
    const std::string path = dir.file("written.h5");
    const std::uint64_t n = 501, m = 4;
    {
        h5::File f(path, h5::Access::kCreate, &comm);
        auto b = blockRange(n, comm.size(), comm.rank());
        std::vector<std::int32_t> rows(b.count() * m);
        for (std::size_t i = 0; i < b.count(); ++i)
            for (std::size_t t = 0; t < m; ++t) rows[i * m + t] = static_cast<std::int32_t>((b.begin + i) * 10 + t);
        auto ds = f.createDataset<std::int32_t>("/a/b", {n, m});
        ds.writeRows(b.begin, b.count(), rows.data());
        ds.writeAttribute("unit", std::string("mm"));
        f.writeAttribute("complete", static_cast<std::int32_t>(1));
        f.close();
    }
    comm.barrier();
    h5::File f(path, h5::Access::kReadOnly);
    auto v = f.openDataset("/a/b").readAll<std::int32_t>();
    ASSERT_EQ(v.size(), n * m);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < m; ++t) ASSERT_EQ(v[i * m + t], static_cast<std::int32_t>(i * 10 + t));
    EXPECT_EQ(f.openDataset("/a/b").readStringAttribute("unit"), "mm");
    EXPECT_EQ(f.readAttribute<std::int32_t>("complete"), 1);
}

TEST(Hdf5, ErrorsCarryHdf5Message) {
    Comm comm;
    test::TempDir dir(comm);
    try {
        h5::File f(dir.file("none.h5"), h5::Access::kReadOnly);
        FAIL() << "opened a missing file";
    } catch (const H5Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("none.h5"), std::string::npos) << what;
        EXPECT_NE(what.find("unable to open file"), std::string::npos) << what;
    }
}

TEST(Hdf5, StringRowsPartialSlabsAndGates) {
    // Fixed-length strings written in blocks by every rank, read back by row ranges (what
    // export does with /points/pid); a scalar and a zero-row read; the isHdf5 gate.
    Comm comm;
    test::TempDir dir(comm);
    const std::string path = dir.file("strings.h5");
    const std::uint64_t n = 37;
    auto name = [](std::uint64_t i) { return "pid-" + std::to_string(i * 7 % 101) + (i % 3 == 0 ? "xx" : ""); };
    {
        h5::File f(path, h5::Access::kCreate, &comm);
        auto b = blockRange(n, comm.size(), comm.rank());
        std::vector<std::string> mine;
        for (std::uint64_t i = b.begin; i < b.end; ++i) mine.push_back(name(i));
        f.writeStringRows("/pid", n, b.begin, mine, 12);
        f.writeSmall<double>("/one", {2.5});
        f.close();
    }
    comm.barrier();
    h5::File f(path, h5::Access::kReadOnly);
    const auto ds = f.openDataset("/pid");
    const auto middle = ds.readStringRows(5, 9);
    ASSERT_EQ(middle.size(), 9u);
    for (std::uint64_t i = 0; i < 9; ++i) EXPECT_EQ(middle[i], name(5 + i)) << i;
    EXPECT_TRUE(ds.readStringRows(n, 0).empty());
    EXPECT_THROW((void)ds.readStringRows(30, 8), H5Error);  // rows beyond the dataset
    const auto all = f.readStrings("/pid");
    ASSERT_EQ(all.size(), n);
    EXPECT_EQ(all.back(), name(n - 1));
    EXPECT_EQ(f.openDataset("/one").readAll<double>(), std::vector<double>{2.5});
    EXPECT_EQ(ds.typeClass(), h5::TypeClass::kString);
    EXPECT_EQ(f.openDataset("/one").typeClass(), h5::TypeClass::kFloat);
    EXPECT_TRUE(h5::isHdf5(path));
    EXPECT_FALSE(h5::isHdf5(dir.file("missing.h5")));
    EXPECT_FALSE(h5::isHdf5(dir.path()));  // a directory
}
