#include "hlstm/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <system_error>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm::io {
namespace {

namespace fs = std::filesystem;

// The normalised absolute form of a path (symbolic links resolved as far as they exist).
fs::path normal(const std::string& p) {
    std::error_code ec;
    fs::path n = fs::weakly_canonical(fs::absolute(p), ec);
    return ec ? fs::absolute(p).lexically_normal() : n;
}

// Whether two paths name the same file: the same inode when both exist, else the same
// normalised absolute path.
bool sameFile(const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
    return normal(a) == normal(b);
}

// Whether `inner` is `dir` or lies below it (by normalised path).
bool within(const std::string& inner, const std::string& dir) {
    const fs::path i = normal(inner), d = normal(dir);
    auto di = d.begin();
    auto ii = i.begin();
    for (; di != d.end(); ++di, ++ii)
        if (ii == i.end() || *ii != *di) return false;
    return true;
}

}  // namespace

void syncPath(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags);
    if (fd < 0) throw RuntimeError(path + ": cannot open to fsync: " + std::strerror(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw RuntimeError(path + ": fsync failed: " + std::strerror(err));
}

std::vector<std::string> outputSidePaths(const std::string& path) {
    return {path + ".tmp", path + ".ckpt", path + ".lock"};
}

void checkOutputPath(const std::string& path, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& whats) {
    if (path.empty()) throw ConfigError("no output path given (-o)");
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory; give a file path for the output");
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const std::string& input = inputs[k];
        if (input.empty()) continue;
        // "the input m.h5 (the mask, input.mask)": existing tools grep "would replace the input".
        const std::string what =
            "input " + input + (k < whats.size() && !whats[k].empty() ? " (" + whats[k] + ")" : std::string());
        if (sameFile(path, input))
            throw InputError(path + ": the output would replace the " + what + "; choose another -o");
        for (const auto& side : outputSidePaths(path))
            if (sameFile(side, input) || (side == path + ".ckpt" && within(input, side)))
                throw InputError(path + ": the output's " + side.substr(path.size()) + " (" + side +
                                 ", written or removed by the command) would replace the " + what +
                                 "; choose another -o");
    }
    const fs::path parent = fs::absolute(path).parent_path();
    if (!fs::is_directory(parent, ec)) throw InputError(path + ": directory " + parent.string() + " does not exist");
    // An existing file is replaced only by a complete new one (AtomicFile::commit), but not
    // without a word: a rerun with the same -o is the usual way to lose last week's results.
    if (fs::is_regular_file(path, ec)) {
        struct stat st {};
        std::string when;
        if (::stat(path.c_str(), &st) == 0) {
            char text[32];
            std::tm tm{};
            if (::localtime_r(&st.st_mtime, &tm) != nullptr &&
                std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &tm) > 0)
                when = std::string(", modified ") + text;
        }
        char size[32];
        std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(fs::file_size(path, ec)) / 1e6);
        log::warn() << path << " exists (" << size << when
                    << "): it is replaced when this command completes, and left as it is if the command fails or "
                       "stops";
    }
}

double freeBytes(const std::string& path) {
    if (enospcInjected(path)) return 0;
    struct statvfs st {};
    const std::string dir = fs::absolute(path).parent_path().string();
    if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<double>::infinity();
    return static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
}

bool enospcInjected(const std::string& path) {
    const char* spec = std::getenv("HLSTM_ENOSPC_INJECT");
    if (spec == nullptr || *spec == '\0') return false;
    const std::string s(spec);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
}

AtomicFile::AtomicFile(std::string path, std::string tmp, std::vector<std::string> sideSuffixes)
    : path_(std::move(path)), tmp_(tmp.empty() ? path_ + ".tmp" : std::move(tmp)), sides_(std::move(sideSuffixes)) {}

AtomicFile::~AtomicFile() {
    if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
    std::error_code ec;
    if (fs::remove(tmp_, ec) && !ec) log::debug() << "removed " << tmp_;
    for (const auto& suffix : sides_) fs::remove(tmp_ + suffix, ec);
}

void AtomicFile::commit() {
    try {
        if (enospcInjected(path_))
            throw RuntimeError(path_ + ": cannot write: " + std::strerror(ENOSPC) + " (HLSTM_ENOSPC_INJECT)");
        syncPath(tmp_, O_RDONLY);
        std::error_code ec;
        fs::rename(tmp_, path_, ec);
        if (ec) throw RuntimeError(path_ + ": cannot rename " + tmp_ + " into place: " + ec.message());
        committed_ = true;
        syncPath(fs::absolute(path_).parent_path().string(), O_RDONLY | O_DIRECTORY);
    } catch (...) {
        if (!committed_) discard();
        throw;
    }
}

OutputLock::OutputLock(const std::string& output) : path_(output + ".lock") {
    // Retried when the file we locked was unlinked by a holder that just finished (then a
    // third process may create a new one): the lock counts only on the file at path_.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw InputError(output + ": cannot create " + path_ + " (" + std::strerror(errno) +
                             "): the output directory is not writable");
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (::fcntl(fd, F_SETLK, &fl) != 0) {
            const int err = errno;
            char holder[256] = {};
            const ssize_t got = ::pread(fd, holder, sizeof holder - 1, 0);
            ::close(fd);
            std::string who = got > 0 ? std::string(holder, static_cast<std::size_t>(got)) : std::string("unknown");
            while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
            if (err == EACCES || err == EAGAIN)
                throw InputError(output + ": another hlstm command is writing this output (" + path_ +
                                 " is locked by " + who + "); wait for it to finish or choose another -o");
            throw InputError(output + ": cannot lock " + path_ + ": " + std::strerror(err));
        }
        struct stat mine {
        }, there{};
        if (::fstat(fd, &mine) == 0 && ::stat(path_.c_str(), &there) == 0 && mine.st_ino == there.st_ino &&
            mine.st_dev == there.st_dev) {
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            const std::string text = "pid " + std::to_string(::getpid()) + " on host " + host + "\n";
            if (::ftruncate(fd, 0) != 0 ||
                ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
                ::close(fd);
                throw InputError(output + ": cannot write " + path_ + " (" + std::strerror(errno) +
                                 "): the output directory is not writable or full");
            }
            fd_ = fd;
            return;
        }
        ::close(fd);
    }
    throw InputError(output + ": cannot lock " + path_ + " (it keeps being replaced)");
}

OutputLock::~OutputLock() {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());  // before the close: no one can lock the old file after we let go
    ::close(fd_);
}

}  // namespace hlstm::io
