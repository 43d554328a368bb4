#pragma once

#include <cstddef>
#include <string>

namespace hlstm {

/// Resident memory of this process now and its high-water mark, in MiB, from /proc/self/status
/// (0 where it cannot be read).
struct ResidentMemory {
    long currentMiB = 0;
    long peakMiB = 0;
};
ResidentMemory residentMemory();

/// Gives the heap's free pages back to the system (glibc malloc_trim): memory freed in a phase
/// otherwise stays resident in the allocator's arenas (the triangulation thread's among them)
/// and adds to every later phase's peak. Frees nothing that is in use.
void releaseFreeMemory();

/// Blocks of at least this many bytes get their own mapping from the system (mapLargeBlocks).
constexpr std::size_t kLargeBlockBytes = std::size_t{256} << 10;
/// Every heap block of kLargeBlockBytes or more gets its own mapping (glibc M_MMAP_THRESHOLD),
/// so freeing it gives its pages back at once. glibc's default threshold grows with each large
/// block freed, up to 32 MiB; past that the training plans and tables of one phase stayed in
/// the heap and added to later peaks (1,000,000 x 200, 2 ranks, the same build with and
/// without it: peak 612 / 619 -> 583 / 597 MiB; rank 1's train 595 -> 583, forecast 619 -> 597).
/// Called once at start-up (MpiSession).
void mapLargeBlocks();

/// Blocks below `bytes` stay in the heap when freed and are reused (glibc M_MMAP_THRESHOLD, and
/// M_TRIM_THRESHOLD at twice it): mapLargeBlocks undone below that size. Where the same large
/// blocks are allocated and freed again and again (a fine-tuning's training primitives, built
/// again every epoch: src/model/model.cpp releases them between epochs), a mapped block costs a
/// page fault per page each time. `hlstm update` calls it with kReusedBlockBytes.
void reuseLargeBlocks(std::size_t bytes);
/// glibc's own ceiling for its growing threshold.
constexpr std::size_t kReusedBlockBytes = std::size_t{32} << 20;

/// Logs "memory at <where>: N MiB resident, peak N MiB" at debug level (nothing is read
/// unless debug logging is on): where a phase's memory goes, not only its high-water mark.
void logMemory(const std::string& where);

}  // namespace hlstm
