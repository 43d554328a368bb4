#pragma once
/// Vectors moved to a scratch file while a phase needs the memory they hold, read back in parts
/// while they are away and whole at the end (peak memory per rank: hlstm run's partition root
/// spills its block, every rank its baseline tables while it trains, origin.cpp).

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace hlstm {

class ScratchSpill {
public:
    explicit ScratchSpill(std::string path) : path_(std::move(path)) {}
    /// Removes the file; the vectors stay empty unless restore() ran.
    ~ScratchSpill();
    ScratchSpill(const ScratchSpill&) = delete;
    ScratchSpill& operator=(const ScratchSpill&) = delete;

    /// Adds a vector to move out (it must outlive the spill); call write() after the last.
    template <class T> void add(std::vector<T>& v) {
        const std::size_t n = v.size();
        parts_.push_back({[&v, n] { return static_cast<void*>((v.resize(n), v.data())); },
                          [&v] { std::vector<T>().swap(v); }, v.data(), n * sizeof(T), 0});
    }
    /// Writes `v` at the end of the file now (created at the first call) and frees it: a table
    /// moved out as soon as it is made (a spill either appends or write()s). Returns its part
    /// number for read() and restoreInto().
    template <class T> std::size_t append(std::vector<T>& v) {
        const std::size_t part = appendBytes(v.data(), v.size() * sizeof(T));
        std::vector<T>().swap(v);
        return part;
    }
    /// Part `part`'s values into `v` (resized to them); throws RuntimeError naming the file if
    /// the read fails.
    template <class T> void restoreInto(std::size_t part, std::vector<T>& v) {
        v.resize(parts_.at(part).bytes / sizeof(T));
        if (!v.empty()) read(part, 0, v.size() * sizeof(T), v.data());
        check();
    }
    /// Writes the vectors to the file (created or replaced), one after another, and frees them.
    /// Throws RuntimeError naming the file when it cannot be written (the vectors then stay).
    void write();
    /// Reads `bytes` bytes of vector `part` from byte `offset` on into `out`. A failed read
    /// fills `out` with 0xff bytes (NaN floats) and makes check() throw (call it where every
    /// rank agrees, not inside a loop).
    void read(std::size_t part, std::size_t offset, std::size_t bytes, void* out);
    /// Throws RuntimeError naming the file if a read failed.
    void check() const;
    /// Every vector back with the same values; removes the file.
    void restore();

private:
    std::size_t appendBytes(const void* data, std::size_t bytes);
    struct Part {
        std::function<void*()> resize;  // back to its size; where its values go (none: appended)
        std::function<void()> release;
        const void* data;
        std::size_t bytes, offset;  // offset: its first byte in the file
    };
    std::vector<Part> parts_;
    std::string path_;
    std::FILE* file_ = nullptr;
    std::string error_;
};

}  // namespace hlstm
