// Resident memory as /proc reports it, and releaseFreeMemory giving freed heap pages back.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "hlstm/core/memory.hpp"

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
    EXPECT_GE(released.peakMiB, full.currentMiB);          // the high-water mark stays
    EXPECT_EQ(last[kBlock - 1], 7);
}
