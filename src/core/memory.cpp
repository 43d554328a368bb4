#include "hlstm/core/memory.hpp"

#include <malloc.h>

#include <cstdio>

#include "hlstm/core/log.hpp"

namespace hlstm {

ResidentMemory residentMemory() {
    ResidentMemory m;
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return m;
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        long kib = 0;
        if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) m.currentMiB = kib / 1024;
        if (std::sscanf(line, "VmHWM: %ld", &kib) == 1) m.peakMiB = kib / 1024;
    }
    std::fclose(f);
    return m;
}

void releaseFreeMemory() { malloc_trim(0); }

void mapLargeBlocks() { mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargeBlockBytes)); }

void reuseLargeBlocks(std::size_t bytes) {
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes));
    mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * bytes));
}

void logMemory(const std::string& where) {
    if (!log::enabled(log::Level::kDebug)) return;
    const ResidentMemory m = residentMemory();
    log::debug() << "memory at " << where << ": " << m.currentMiB << " MiB resident, peak " << m.peakMiB << " MiB";
}

}  // namespace hlstm
