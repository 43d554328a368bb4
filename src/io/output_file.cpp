#include "hlstm/io/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::h5 {
namespace {

// Space held back while the output is written (a file of zeros next to it), and given back
// just before the close: HDF5's close flushes its metadata collectively, and a disk that
// fills up inside that flush leaves the ranks in different collectives (HDF5 1.10: one in a
// barrier, one in a broadcast, for ever) or crashes MPI_Finalize (SIGSEGV). With the
// reserve given back, the close has room even when the data filled the disk.
constexpr off_t kCloseReserveBytes = 8 << 20;
// Free space below which, with the reserve held, the output's writes are taken to have met a
// full disk (a write that failed with ENOSPC leaves less than a page; an output that fits
// exactly can leave one page, measured on tmpfs).
constexpr double kFullBytes = 4096;

// The reserve file; root only. Removing it gives the space back.
class Reserve {
public:
    explicit Reserve(std::string path) : path_(std::move(path)) {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw RuntimeError(path_ + ": cannot create: " + std::strerror(errno));
        int rc = ::posix_fallocate(fd, 0, kCloseReserveBytes);
        if (rc == EOPNOTSUPP || rc == EINVAL) {  // no fallocate here: write the zeros
            std::vector<char> zeros(1 << 20, 0);
            rc = 0;
            for (off_t done = 0; done < kCloseReserveBytes && rc == 0; done += static_cast<off_t>(zeros.size()))
                rc = ::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()) ? 0 : errno;
            if (rc == 0 && ::fsync(fd) != 0) rc = errno;
        }
        ::close(fd);
        if (rc != 0) {
            const std::string path = path_;
            release();
            throw RuntimeError(path + ": cannot reserve " + std::to_string(kCloseReserveBytes >> 20) +
                               " MB next to the output: " + std::strerror(rc) + " (disk full)");
        }
    }
    ~Reserve() { release(); }
    Reserve(const Reserve&) = delete;
    Reserve& operator=(const Reserve&) = delete;
    void release() noexcept {
        if (!path_.empty()) ::unlink(path_.c_str());
        path_.clear();
    }

private:
    std::string path_;
};

}  // namespace

AtomicOutput::AtomicOutput(const Comm& comm, std::string path, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& whats)
    : comm_(comm), path_(std::move(path)), tmp_(path_ + ".tmp") {
    coordinated(comm_, "output", [&] {
        if (!comm_.isRoot()) return;
        io::checkOutputPath(path_, inputs, whats);
        lock_ = std::make_unique<io::OutputLock>(path_);
    });
}

AtomicOutput::~AtomicOutput() {
    if (committed_ || !comm_.isRoot()) return;
    io::AtomicFile(path_, tmp_, {".reserve"}).discard();
}

void AtomicOutput::write(const std::string& phase, const std::function<void(File&)>& fill) {
    // Root owns the temporary file; every rank writes into it (parallel HDF5).
    std::optional<io::AtomicFile> file;
    if (comm_.isRoot()) file.emplace(path_, tmp_, std::vector<std::string>{".reserve"});
    coordinated(comm_, phase, [&] {
        if (file) file->discard();  // a stale one from a killed run
    });
    std::optional<Reserve> reserve;
    coordinated(comm_, phase, [&] {
        if (!comm_.isRoot()) return;
        try {
            reserve.emplace(tmp_ + ".reserve");
        } catch (const std::exception& e) {
            throw RuntimeError(path_ + ": writing the output failed: " + e.what() + "; nothing was written");
        }
    });
    coordinated(comm_, phase, [&] {
        File out(tmp_, Access::kCreate, &comm_);
        std::string failure;
        try {
            if (io::enospcInjected(path_)) throw RuntimeError("H5Dwrite " + tmp_ + ": injected ENOSPC");
            fill(out);
        } catch (const std::exception& e) {
            failure = e.what();
        }
        // Every rank closes (collective), with the reserve given back first, after a failed
        // fill too: a file left open in HDF5 crashes MPI_Finalize.
        const double free = comm_.isRoot() ? io::freeBytes(path_) : 0.0;  // before the reserve goes
        // A full disk can also pass unseen: Open MPI's collective writes (fcoll vulcan) print
        // "No space left on device" and return success, and only one rank's later MPI_File_sync
        // fails (alone, while the others wait in its barrier). With the reserve still held, a
        // file system with (almost) nothing left filled up while the rows were written.
        const bool full = comm_.isRoot() && free < kFullBytes;
        if (full && failure.empty())
            failure = "the file system filled up while the rows were written (" +
                      std::to_string(static_cast<long long>(free)) + " bytes left)";
        const bool failed = comm_.allreduce(failure.empty() ? 0 : 1, Reduce::kMax) != 0;
        if (reserve) reserve->release();
        comm_.barrier();
        try {
            out.close(failed ? File::Close::kAfterFailedWrite : File::Close::kFlush);
        } catch (const std::exception& e) {
            out.abandon();
            if (failure.empty()) failure = e.what();
        }
        if (failure.empty() && !failed) return;
        if (failure.empty()) failure = "another rank failed to write its rows";
        throw RuntimeError(path_ + ": writing the output failed" +
                           (comm_.isRoot() && free < 1e6 ? " (" + std::to_string(static_cast<long long>(free)) +
                                                               " bytes free on its file system: disk full)"
                                                         : std::string()) +
                           "; nothing was written at " + path_ + " (" + failure + ")");
    });
    coordinated(comm_, phase, [&] {
        if (file) file->commit();
    });
    committed_ = true;
}

}  // namespace hlstm::h5
