#pragma once

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

/// Logs "memory at <where>: N MiB resident, peak N MiB" at debug level (nothing is read
/// unless debug logging is on): where a phase's memory goes, not only its high-water mark.
void logMemory(const std::string& where);

}  // namespace hlstm
