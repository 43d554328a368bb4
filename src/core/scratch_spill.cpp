#include "hlstm/core/scratch_spill.hpp"

#include <cerrno>
#include <cstring>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"

namespace hlstm {
namespace {

std::string reason() { return errno != 0 ? std::strerror(errno) : "short read or write"; }

}  // namespace

ScratchSpill::~ScratchSpill() {
    if (file_ == nullptr) return;
    std::fclose(file_);
    if (std::remove(path_.c_str()) != 0) log::warn() << path_ << ": the scratch file was not removed";
}

void ScratchSpill::write() {
    errno = 0;
    file_ = std::fopen(path_.c_str(), "w+b");
    if (file_ == nullptr) throw RuntimeError(path_ + ": cannot create the scratch file: " + reason());
    std::size_t offset = 0;
    for (Part& p : parts_) {
        p.offset = offset;
        offset += p.bytes;
        if (p.bytes > 0 && std::fwrite(p.data, 1, p.bytes, file_) != p.bytes) break;
    }
    if (std::ferror(file_) != 0 || std::fflush(file_) != 0) {
        const std::string why = reason();
        std::fclose(file_);
        file_ = nullptr;
        std::remove(path_.c_str());
        throw RuntimeError(path_ + ": cannot write the scratch file: " + why);
    }
    for (Part& p : parts_) p.release();  // a large vector is its own mapping: back to the system now
}

std::size_t ScratchSpill::appendBytes(const void* data, std::size_t bytes) {
    errno = 0;
    if (file_ == nullptr && (file_ = std::fopen(path_.c_str(), "w+b")) == nullptr)
        throw RuntimeError(path_ + ": cannot create the scratch file: " + reason());
    const std::size_t offset = parts_.empty() ? 0 : parts_.back().offset + parts_.back().bytes;
    if (std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0 ||
        (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes) || std::fflush(file_) != 0)
        throw RuntimeError(path_ + ": cannot write the scratch file: " + reason());
    parts_.push_back({nullptr, nullptr, nullptr, bytes, offset});
    return parts_.size() - 1;
}

void ScratchSpill::read(std::size_t part, std::size_t offset, std::size_t bytes, void* out) {
    errno = 0;
    const Part& p = parts_.at(part);
    if (file_ == nullptr || offset + bytes > p.bytes ||
        std::fseek(file_, static_cast<long>(p.offset + offset), SEEK_SET) != 0 ||
        std::fread(out, 1, bytes, file_) != bytes) {
        if (error_.empty()) error_ = reason();
        std::memset(out, 0xff, bytes);
    }
}

void ScratchSpill::check() const {
    if (!error_.empty()) throw RuntimeError(path_ + ": cannot read the scratch file: " + error_);
}

void ScratchSpill::restore() {
    check();
    for (std::size_t k = 0; k < parts_.size(); ++k) {
        if (!parts_[k].resize) continue;  // appended: restoreInto() brings it back
        void* to = parts_[k].resize();
        if (parts_[k].bytes > 0) read(k, 0, parts_[k].bytes, to);
    }
    check();
    std::fclose(file_);
    file_ = nullptr;
    if (std::remove(path_.c_str()) != 0) log::warn() << path_ << ": the scratch file was not removed";
}

}  // namespace hlstm
