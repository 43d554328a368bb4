#include "hlstm/io/output_file.hpp"

#include <unistd.h>

#include <optional>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::h5 {

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
    io::AtomicFile(path_).discard();
}

void AtomicOutput::write(const std::string& phase, const std::function<void(File&)>& fill) {
    // Root owns the temporary file; every rank writes into it (parallel HDF5).
    std::optional<io::AtomicFile> file;
    if (comm_.isRoot()) file.emplace(path_, tmp_);
    coordinated(comm_, phase, [&] {
        if (file) file->discard();  // a stale one from a killed run
    });
    coordinated(comm_, phase, [&] {
        File out(tmp_, Access::kCreate, &comm_);
        try {
            if (io::enospcInjected(path_)) throw RuntimeError("H5Dwrite " + tmp_ + ": injected ENOSPC");
            fill(out);
            out.close();
        } catch (const std::exception& e) {
            // A failed write (a full disk) must not be followed by a failing close: HDF5
            // 1.10 then crashes in MPI_Finalize (SIGSEGV, exit 139). The partial file's
            // space is given back first, so the one close at MPI_Finalize (metadata only)
            // has room; the file itself is removed by the AtomicFile below.
            const double free = io::freeBytes(path_);  // before the truncation gives space back
            if (comm_.isRoot()) (void)::truncate(tmp_.c_str(), 0);
            out.abandon();
            throw RuntimeError(path_ + ": writing the output failed" +
                               (free < 1e6 ? " (" + std::to_string(static_cast<long long>(free)) +
                                                 " bytes free on its file system: disk full)"
                                           : std::string()) +
                               "; nothing was written at " + path_ + " (" + e.what() + ")");
        }
    });
    coordinated(comm_, phase, [&] {
        if (file) file->commit();
    });
    committed_ = true;
}

}  // namespace hlstm::h5
