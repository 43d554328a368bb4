// Resident memory as /proc reports it, releaseFreeMemory and mapLargeBlocks giving freed heap
// pages back, and ScratchSpill moving vectors out of memory and back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hlstm/core/error.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/core/scratch_spill.hpp"

using namespace hlstm;

TEST(Memory, FreedHeapPagesLeaveAfterRelease) {
    const ResidentMemory start = residentMemory();
    ASSERT_GT(start.currentMiB, 0);
    ASSERT_GE(start.peakMiB, start.currentMiB);
    // 96 MiB in 64 KiB blocks (below malloc's mmap threshold: they come from the heap), every
    // page written; one block allocated after them stays alive, so the heap's top cannot shrink
    // on free and the freed blocks stay resident until released.
    constexpr std::size_t kBlock = 64 << 10, kBlocks = 96 * 16;
    std::vector<std::unique_ptr<char[]>> blocks;
    for (std::size_t b = 0; b < kBlocks; ++b) {
        blocks.emplace_back(new char[kBlock]);
        std::memset(blocks.back().get(), static_cast<int>(b % 251) + 1, kBlock);
    }
    std::unique_ptr<char[]> last(new char[kBlock]);
    std::memset(last.get(), 7, kBlock);
    const ResidentMemory full = residentMemory();
    EXPECT_GE(full.currentMiB - start.currentMiB, 90);
    EXPECT_GE(full.peakMiB, full.currentMiB);
    blocks.clear();
    releaseFreeMemory();
    const ResidentMemory released = residentMemory();
    EXPECT_LE(released.currentMiB, full.currentMiB - 80);  // the 96 MiB left, up to their block edges
    // The high-water mark stays: within 2 MiB of the resident size before the release, since the
    // kernel's resident counters are per-CPU sums read approximately (a CI run read 99 vs 100).
    EXPECT_GE(released.peakMiB, full.currentMiB - 2);
    EXPECT_EQ(last[kBlock - 1], 7);
}

// mapLargeBlocks: blocks of 2 MiB freed go back to the system at once, even after a 16 MiB
// block was freed (which raises glibc's default threshold to 16 MiB: then they came from the
// heap and stayed resident under a live block above them until released; checked by hand
// without the call: 130 -> 130 MiB, with it 130 -> 2 MiB).
TEST(Memory, LargeBlocksLeaveWhenFreed) {
    mapLargeBlocks();
    {
        std::unique_ptr<char[]> big(new char[16 << 20]);
        std::memset(big.get(), 1, 16 << 20);
    }
    constexpr std::size_t kBlock = 2 << 20, kBlocks = 64;
    std::vector<std::unique_ptr<char[]>> blocks;
    for (std::size_t b = 0; b < kBlocks; ++b) {
        blocks.emplace_back(new char[kBlock]);
        std::memset(blocks.back().get(), static_cast<int>(b % 251) + 1, kBlock);
    }
    std::unique_ptr<char[]> last(new char[4096]);
    std::memset(last.get(), 7, 4096);
    const ResidentMemory full = residentMemory();
    blocks.clear();
    const ResidentMemory freed = residentMemory();  // no releaseFreeMemory
    EXPECT_LE(freed.currentMiB, full.currentMiB - 120) << full.currentMiB << " -> " << freed.currentMiB;
    EXPECT_EQ(last[4095], 7);
}

// reuseLargeBlocks (hlstm update): blocks below the size stay in the heap when freed and the
// next ones of their size take their pages (resident memory does not move); larger ones still go
// back to the system when freed.
TEST(Memory, BlocksBelowTheReuseSizeStayForTheNextOnes) {
    reuseLargeBlocks(kReusedBlockBytes);
    releaseFreeMemory();  // no free heap block large enough for the next one
    constexpr std::size_t kLarge = kReusedBlockBytes + (16 << 20);
    const ResidentMemory before = residentMemory();
    {
        std::unique_ptr<char[]> large(new char[kLarge]);
        std::memset(large.get(), 3, kLarge);
        EXPECT_GE(residentMemory().currentMiB, before.currentMiB + 40);
    }
    EXPECT_LE(residentMemory().currentMiB, before.currentMiB + 8);
    // 32 MiB in 2 MiB blocks: below the trim threshold (twice the size), even at the heap's top.
    constexpr std::size_t kBlock = 2 << 20, kBlocks = 16;
    std::vector<std::unique_ptr<char[]>> blocks;
    const auto fill = [&blocks] {
        for (std::size_t b = 0; b < kBlocks; ++b) {
            blocks.emplace_back(new char[kBlock]);
            std::memset(blocks.back().get(), static_cast<int>(b % 251) + 1, kBlock);
        }
    };
    fill();
    const ResidentMemory full = residentMemory();
    blocks.clear();
    const ResidentMemory freed = residentMemory();
    EXPECT_GE(freed.currentMiB, full.currentMiB - 4) << full.currentMiB << " -> " << freed.currentMiB;
    fill();
    const ResidentMemory again = residentMemory();
    EXPECT_LE(again.currentMiB, full.currentMiB + 4) << full.currentMiB << " -> " << again.currentMiB;
    EXPECT_EQ(blocks.back()[kBlock - 1], static_cast<char>((kBlocks - 1) % 251 + 1));
    blocks.clear();
    mapLargeBlocks();  // as at start-up, for the tests after this one
}

// ScratchSpill: vectors of several types leave memory, parts read back while away, every value
// back after restore(), and the file removed.
TEST(ScratchSpillTest, VectorsComeBackWithTheSameValues) {
    const std::string path = ::testing::TempDir() + "hlstm-scratch-spill-test.tmp";
    std::vector<float> f(300000);
    std::vector<double> d(1000);
    std::vector<std::int64_t> ids(7);
    for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(i) * 0.25f - 3.0f;
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = 1e6 + static_cast<double>(i) / 3.0;
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = -static_cast<std::int64_t>(i) * 1000000007LL;
    const auto f0 = f;
    const auto d0 = d;
    const auto ids0 = ids;
    ScratchSpill spill(path);
    spill.add(f);
    spill.add(d);
    spill.add(ids);
    spill.write();
    EXPECT_TRUE(f.empty());
    EXPECT_TRUE(d.empty());
    EXPECT_TRUE(ids.empty());
    EXPECT_TRUE(std::filesystem::exists(path));
    double part[3];
    spill.read(1, 500 * sizeof(double), sizeof part, part);
    EXPECT_EQ(part[0], d0[500]);
    EXPECT_EQ(part[2], d0[502]);
    spill.check();
    spill.restore();
    EXPECT_EQ(f, f0);
    EXPECT_EQ(d, d0);
    EXPECT_EQ(ids, ids0);
    EXPECT_FALSE(std::filesystem::exists(path));
}

namespace {

// A spill to `path` that `move` cannot write: a RuntimeError naming the path, the vector kept.
void expectUnwritableNamed(const std::string& path, void (*move)(ScratchSpill&, std::vector<float>&)) {
    std::vector<float> f(10, 1.5f);
    ScratchSpill spill(path);
    try {
        move(spill, f);
        ADD_FAILURE() << "no exception";
    } catch (const RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_EQ(f, std::vector<float>(10, 1.5f));  // still in memory
}

}  // namespace

TEST(ScratchSpillTest, UnwritablePathIsAnErrorNamingIt) {
    expectUnwritableNamed("/nonexistent-hlstm-dir/scratch.tmp", [](ScratchSpill& spill, std::vector<float>& f) {
        spill.add(f);
        spill.write();
    });
}

// A read beyond a part is an error at check(), not a crash, and gives NaN floats.
TEST(ScratchSpillTest, ReadPastAPartFailsAtCheck) {
    const std::string path = ::testing::TempDir() + "hlstm-scratch-spill-past.tmp";
    std::vector<float> f(4, 2.0f);
    ScratchSpill spill(path);
    spill.add(f);
    spill.write();
    float out[8];
    spill.read(0, 0, sizeof out, out);
    EXPECT_TRUE(std::isnan(out[0]));
    EXPECT_THROW(spill.check(), RuntimeError);
}

// Tables appended one at a time as they are made (origin.cpp: the baselines' rates at the cuts)
// leave memory at once and come back one by one, in any order, as often as asked; the file is
// removed with the spill.
TEST(ScratchSpillTest, AppendedTablesComeBackOneByOne) {
    const std::string path = ::testing::TempDir() + "hlstm-scratch-spill-append.tmp";
    std::vector<std::vector<float>> tables(3);
    for (std::size_t t = 0; t < tables.size(); ++t) {
        tables[t].resize(1000 * (t + 1) + t);
        for (std::size_t i = 0; i < tables[t].size(); ++i)
            tables[t][i] = static_cast<float>(t) * 1e4f + static_cast<float>(i) * 0.5f;
    }
    const auto copies = tables;
    {
        ScratchSpill spill(path);
        std::vector<std::size_t> parts;
        for (auto& t : tables) {
            parts.push_back(spill.append(t));
            EXPECT_TRUE(t.empty());
        }
        EXPECT_EQ(parts, (std::vector<std::size_t>{0, 1, 2}));
        EXPECT_EQ(std::filesystem::file_size(path), (1000 + 2001 + 3002) * sizeof(float));
        spill.restoreInto(2, tables[2]);
        spill.restoreInto(0, tables[0]);
        EXPECT_EQ(tables[2], copies[2]);
        EXPECT_EQ(tables[0], copies[0]);
        EXPECT_TRUE(tables[1].empty());
        std::vector<float>().swap(tables[0]);
        spill.restoreInto(0, tables[0]);  // again, after it was freed
        spill.restoreInto(1, tables[1]);
        EXPECT_EQ(tables, copies);
        spill.restore();  // the appended parts are restoreInto's only: nothing else changes
        EXPECT_EQ(tables, copies);
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ScratchSpillTest, AppendToAnUnwritablePathIsAnErrorNamingIt) {
    expectUnwritableNamed("/nonexistent-hlstm-dir/append.tmp",
                          [](ScratchSpill& spill, std::vector<float>& f) { (void)spill.append(f); });
}
