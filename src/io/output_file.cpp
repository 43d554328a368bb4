#include "hlstm/io/output_file.hpp"

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
        fill(out);
        out.close();
    });
    coordinated(comm_, phase, [&] {
        if (file) file->commit();
    });
    committed_ = true;
}

}  // namespace hlstm::h5
