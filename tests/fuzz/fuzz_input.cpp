// libFuzzer harness 3: an input archive, as `hlstm info FILE` reads and validates it
// (src/cli/cmd_info.cpp: readNative with minValidFraction = 0, then the velocities).
// The input bytes are written to a temporary file and opened by the native reader over a
// one-rank Comm(MPI_COMM_WORLD) (MPI-IO HDF5, as in the program). Expected: success or an
// hlstm::Error (InputError for bad content, H5Error when HDF5 itself refuses the bytes); see
// fuzz_common.hpp. Also a finding: HDF5 objects left open after the read (a handle leak would
// keep the file open). Soft findings: a successful read that breaks readNative's documented
// result (shapes, sorted valid dates, no gaps left: "filled" by linear interpolation).
//
// Run it as one process (no mpirun): MPI_Init is called once in LLVMFuzzerInitialize.
// Environment: HLSTM_FUZZ_TMPDIR (default /tmp) holds the temporary file.
#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_common.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/io/hdf5.hpp"

// Open MPI (and the PMIx, hwloc and MCA component libraries it loads) keeps process-lifetime
// allocations it never frees; LeakSanitizer must not report those as findings. Its strings
// made by vasprintf are suppressed by that frame: libc has no frame pointers, so ASan's fast
// unwinder stops there and never sees the Open MPI caller (hlstm calls no vasprintf). HDF5
// 1.10 itself leaks on some corrupt files (e.g. an object header it fails to decode inside
// H5Fopen: H5C_protect -> H5FL_blk_malloc, still lost after H5Fopen returned its error), so
// allocations made inside libhdf5 are suppressed too; hlstm's part there, every HDF5 object it
// opens being closed again, is checked after each input instead (H5Fget_obj_count). Other
// leaks, hlstm's own, are still reported. HLSTM_FUZZ_NO_SUPPRESSIONS=1 shows them all.
extern "C" const char* __lsan_default_suppressions() {
    if (std::getenv("HLSTM_FUZZ_NO_SUPPRESSIONS") != nullptr) return "";
    return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libpmix.so\nleak:libhwloc.so\n"
           "leak:mca_\nleak:libucp.so\nleak:libucs.so\nleak:libfabric.so\nleak:__vasprintf_internal\n"
           "leak:libhdf5_openmpi.so\nleak:libhdf5_serial.so\nleak:libhdf5.so\n";
}

// HDF5 checks its mallocs: a corrupt header asking for an impossible size (0x6000000000138 bytes
// from H5C_protect) gets NULL from glibc and becomes an HDF5 error. ASan must return NULL there
// too instead of aborting. C++ `new` still aborts on such sizes (ASan reports it), and libFuzzer's
// -malloc_limit_mb / -rss_limit_mb still catch large allocations that succeed.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

namespace {

const hlstm::Comm* gComm = nullptr;
std::string gPath;

void removeTemporary() {
    if (!gPath.empty()) std::remove(gPath.c_str());
}

void writeBytes(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(gPath.c_str(), "wb");
    if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
        std::perror("fuzz_input: cannot write the temporary file");
        std::abort();
    }
}

// Reads a valid scene, an empty file and a cut one once before fuzzing: Open MPI sets up its
// collectives, MPI-IO and HDF5 their state lazily on first use, and allocations made then
// would otherwise be charged to the first fuzz inputs (LeakSanitizer: "leak" findings).
void warmUp(const hlstm::Comm& comm) {
    hlstm::SimulateOptions scene;
    scene.points = 8;
    scene.epochs = 6;
    hlstm::simulate(comm, scene, gPath);
    hlstm::ReadOptions options;
    options.minValidFraction = 0.0;
    (void)hlstm::readNative(comm, gPath, options);
    std::FILE* f = std::fopen(gPath.c_str(), "rb");
    std::string head(1024, '\0');
    head.resize(f != nullptr ? std::fread(head.data(), 1, head.size(), f) : 0);
    if (f != nullptr) std::fclose(f);
    for (std::size_t size : {head.size(), std::size_t{0}}) {
        writeBytes(reinterpret_cast<const std::uint8_t*>(head.data()), size);
        try {
            (void)hlstm::readNative(comm, gPath, options);
        } catch (const hlstm::Error&) {
        }
    }
}

std::string check(const hlstm::LocalBlock& b) {
    const auto& p = b.points;
    const std::size_t n = p.size(), m = p.nEpochs();
    if (b.keptTotal != n || b.keptOffset != 0) return "kept counts differ from the block (one rank)";
    if (b.stats.epochs != m) return "stats.epochs differs from the dates read";
    if (b.stats.fileRows != n + b.stats.dropped) return "file rows != kept + dropped";
    if (p.ids.size() != n || p.y.size() != n || p.rows.size() != n) return "ids/y/rows sizes differ from x";
    if (p.displacement.size() != n * m) return "displacement is not points x epochs";
    if (b.stats.hasTruth ? b.truth.size() != n * m : !b.truth.empty()) return "truth shape differs";
    if (b.stats.unit != "mm" && b.stats.unit != "m") return "unit is neither mm nor m";
    for (std::size_t t = 0; t < m; ++t) {
        if (!hlstm::dates::valid(p.dates[t])) return "an invalid date passed";
        if (t > 0 && p.dates[t] <= p.dates[t - 1]) return "dates not strictly increasing";
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(p.x[i]) || !std::isfinite(p.y[i])) return "non-finite coordinate passed";
    for (std::size_t k = 0; k < p.displacement.size(); ++k)
        if (!std::isfinite(p.displacement[k]))
            return "displacement value " + std::to_string(k) + " is not finite after reading (gaps are filled)";
    return {};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    // What MPI_Init and the warm-up allocate for the process lifetime is not a leak of any input
    // (LeakSanitizer would report it, unsymbolized, at the first leak check of an input).
    __lsan_disable();
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    static hlstm::Comm comm(MPI_COMM_WORLD);
    if (comm.size() != 1) {
        std::fprintf(stderr, "fuzz_input: run it as one process (without mpirun -n N)\n");
        std::exit(2);
    }
    gComm = &comm;
    const char* dir = std::getenv("HLSTM_FUZZ_TMPDIR");
    std::string pattern = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/hlstm-fuzz-input-XXXXXX.h5";
    const int fd = mkstemps(pattern.data(), 3);
    if (fd < 0) {
        std::perror("fuzz_input: mkstemps");
        std::exit(2);
    }
    close(fd);
    gPath = pattern;
    std::atexit(removeTemporary);
    warmUp(comm);
    __lsan_enable();
    hlstm::fuzz::installTally();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    writeBytes(data, size);
    hlstm::ReadOptions options;
    options.minValidFraction = 0.0;  // as `hlstm info`
    hlstm::LocalBlock block;
    const bool ok = hlstm::fuzz::expected("readNative", [&] { block = hlstm::readNative(*gComm, gPath, options); });

    const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
        std::fprintf(stderr, "\nhlstm-fuzz FINDING: %zd HDF5 object(s) left open after readNative (%s)\n",
                     static_cast<ssize_t>(open), ok ? "success" : "error");
        std::abort();
    }
    if (!ok) return 0;
    ++hlstm::fuzz::tally()["read"];

    // What `hlstm info` computes from the block.
    const auto& p = block.points;
    const auto years = hlstm::dates::yearsSinceFirst(p.dates);
    const auto v = hlstm::velocities(p, years);
    if (v.size() != p.size()) hlstm::fuzz::softFinding("result", data, size, "velocities: wrong length");

    const std::string problem = check(block);
    if (!problem.empty())
        hlstm::fuzz::softFinding(problem.find("finite after") != std::string::npos ? "nonfinite" : "result", data, size,
                                 problem);
    return 0;
}
