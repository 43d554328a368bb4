#include "hlstm/io/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::h5 {
namespace {

namespace fs = std::filesystem;

// Whether two paths name the same file: the same inode when both exist, else the same
// normalised absolute path.
bool sameFile(const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
    return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
}

}  // namespace

void syncPath(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags);
    if (fd < 0) throw RuntimeError(path + ": cannot open to fsync");
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw RuntimeError(path + ": fsync failed");
}

AtomicOutput::AtomicOutput(const Comm& comm, std::string path, const std::vector<std::string>& inputs)
    : comm_(comm), path_(std::move(path)), tmp_(path_ + ".tmp") {
    coordinated(comm_, "output", [&] {
        if (!comm_.isRoot()) return;
        if (path_.empty()) throw ConfigError("no output path given (-o)");
        std::error_code ec;
        if (fs::is_directory(path_, ec)) throw InputError(path_ + ": is a directory; give a file path for the output");
        for (const auto& input : inputs) {
            if (input.empty()) continue;
            if (sameFile(path_, input))
                throw InputError(path_ + ": the output would replace the input " + input + "; choose another -o");
            if (sameFile(tmp_, input))
                throw InputError(tmp_ + ": the temporary output would replace the input " + input);
        }
        const fs::path parent = fs::absolute(path_).parent_path();
        if (!fs::is_directory(parent, ec)) throw InputError(path_ + ": directory " + parent.string() + " does not exist");
    });
}

AtomicOutput::~AtomicOutput() {
    if (committed_ || !comm_.isRoot()) return;
    std::error_code ec;
    if (fs::remove(tmp_, ec) && !ec) log::debug() << "removed " << tmp_;
}

void AtomicOutput::write(const std::string& phase, const std::function<void(File&)>& fill) {
    coordinated(comm_, phase, [&] {
        std::error_code ec;
        if (comm_.isRoot()) fs::remove(tmp_, ec);  // a stale one from a killed run
    });
    coordinated(comm_, phase, [&] {
        File file(tmp_, Access::kCreate, &comm_);
        fill(file);
        file.close();
    });
    coordinated(comm_, phase, [&] {
        if (!comm_.isRoot()) return;
        syncPath(tmp_, O_RDONLY);
        fs::rename(tmp_, path_);
        syncPath(fs::absolute(path_).parent_path().string(), O_RDONLY | O_DIRECTORY);
    });
    committed_ = true;
}

}  // namespace hlstm::h5
