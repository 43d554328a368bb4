/// RAII wrappers for HDF5 (serial or MPI-IO): every id owned, every call checked and turned
/// into an H5Error that carries HDF5's own error stack. No raw hid_t outside this module.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm::h5 {

/// Throws H5Error("<what>: <HDF5 error stack>") when `status` < 0; returns it otherwise.
hid_t check(hid_t status, const std::string& what);
/// Silences HDF5's automatic stack printing (errors are reported through exceptions).
void silenceAutoPrint();

/// An owned HDF5 identifier; the destructor releases it and never throws.
class Id {
public:
    Id() = default;
    explicit Id(hid_t id) : id_(id) {}
    Id(const Id&) = delete;
    Id& operator=(const Id&) = delete;
    Id(Id&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
    Id& operator=(Id&& other) noexcept;
    ~Id();
    [[nodiscard]] hid_t get() const noexcept { return id_; }
    [[nodiscard]] bool valid() const noexcept { return id_ >= 0; }
    /// Gives up ownership (the caller closes the id).
    [[nodiscard]] hid_t release() noexcept {
        const hid_t id = id_;
        id_ = H5I_INVALID_HID;
        return id;
    }

private:
    hid_t id_ = H5I_INVALID_HID;
};

/// Native HDF5 memory type of a C++ type.
template <class T> hid_t nativeType();

/// How transfers are done on a parallel file.
enum class Transfer { kCollective, kIndependent };

/// The class of a dataset's element type.
enum class TypeClass { kInteger, kFloat, kString, kEnum, kOther };

/// Whether `path` is a readable HDF5 file (false when it does not exist or is something else).
bool isHdf5(const std::string& path);

/// A dataset: shape queries and row-block (hyperslab over the first dimension) I/O.
class Dataset {
public:
    /// `comm`: the communicator of a parallel file (its collective writes agree on failure).
    Dataset(Id id, std::string path, std::string file, bool parallel, const Comm* comm = nullptr);

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::vector<std::uint64_t> dims() const;
    /// Class of the element type and its size in bytes; whether an integer type is unsigned.
    [[nodiscard]] TypeClass typeClass() const;
    [[nodiscard]] std::size_t typeSize() const;
    [[nodiscard]] bool typeIsUnsigned() const;

    /// Reads rows [row0, row0+rows) of a 1-D or 2-D dataset (all columns), converting to T.
    /// Collective on a parallel file: every rank calls it, `rows` may be 0.
    template <class T> std::vector<T> readRows(std::uint64_t row0, std::uint64_t rows) const {
        std::vector<T> out(rows * rowLength());
        readRowsRaw(nativeType<T>(), out.data(), row0, rows);
        return out;
    }
    template <class T> std::vector<T> readAll() const { return readRows<T>(0, dims().empty() ? 1 : dims()[0]); }
    /// Reads the hyperslab [start, start + count) of an n-D dataset, converting to T, in the
    /// dataset's row-major order. Independent I/O: each rank reads its own slabs, any number.
    template <class T>
    std::vector<T> readSlab(const std::vector<std::uint64_t>& start, const std::vector<std::uint64_t>& count) const {
        std::uint64_t n = 1;
        for (auto c : count) n *= c;
        std::vector<T> out(n);
        readSlabRaw(nativeType<T>(), out.data(), start, count);
        return out;
    }
    /// readSlab of a one-byte enum (h5py's bool) as its integer values; H5Error when the
    /// enum is wider than a byte.
    [[nodiscard]] std::vector<std::int8_t> readEnum8Slab(const std::vector<std::uint64_t>& start,
                                                         const std::vector<std::uint64_t>& count) const;
    /// Rows [row0, row0 + rows) of a 1-D string dataset, fixed or variable length (trailing
    /// spaces of space-padded strings dropped). Collective on a parallel file.
    [[nodiscard]] std::vector<std::string> readStringRows(std::uint64_t row0, std::uint64_t rows) const;
    /// Writes rows [row0, row0+rows) (collective on a parallel file; `rows` may be 0).
    template <class T> void writeRows(std::uint64_t row0, std::uint64_t rows, const T* data) const {
        writeRowsRaw(nativeType<T>(), data, row0, rows);
    }

    /// Writes the hyperslab `count` at `start` from contiguous `data` (collective on a parallel
    /// file; a rank with nothing to write passes a zero count).
    template <class T>
    void writeSlab(const std::vector<std::uint64_t>& start, const std::vector<std::uint64_t>& count,
                   const T* data) const {
        writeSlabRaw(nativeType<T>(), data, start, count);
    }
    template <class T> void writeAttribute(const std::string& name, const T& value) const;
    void writeAttribute(const std::string& name, const std::string& value) const;
    [[nodiscard]] bool hasAttribute(const std::string& name) const;
    [[nodiscard]] std::string readStringAttribute(const std::string& name) const;
    /// A numeric attribute of the dataset, converted to T.
    template <class T> [[nodiscard]] T readAttribute(const std::string& name) const;

    [[nodiscard]] hid_t raw() const noexcept { return id_.get(); }

private:
    friend class File;  // writeStrings writes a string type through writeRowsRaw
    [[nodiscard]] std::uint64_t rowLength() const;
    // Every transfer: the block [start, start + count) of the file (none when a count is 0),
    // the same shape in memory, with the transfer list of `transfer` on a parallel file.
    void transferRaw(bool write, hid_t memType, void* data, const std::vector<std::uint64_t>& start,
                     const std::vector<std::uint64_t>& count, Transfer transfer) const;
    void readRowsRaw(hid_t memType, void* data, std::uint64_t row0, std::uint64_t rows) const;
    void writeRowsRaw(hid_t memType, const void* data, std::uint64_t row0, std::uint64_t rows) const;
    /// H5Error naming the dataset when start/count is not a slab inside it (empty only when allowed).
    void checkSlab(const std::vector<std::uint64_t>& start, const std::vector<std::uint64_t>& count,
                   bool emptyAllowed) const;
    void writeSlabRaw(hid_t memType, const void* data, const std::vector<std::uint64_t>& start,
                      const std::vector<std::uint64_t>& count) const;
    void readSlabRaw(hid_t memType, void* data, const std::vector<std::uint64_t>& start,
                     const std::vector<std::uint64_t>& count) const;
    // An attribute of the dataset (collective on a parallel file, failures agreed).
    void attributeRaw(const std::string& name, hid_t type, const void* value) const;

    Id id_;
    std::string path_;
    std::string file_;
    bool parallel_;
    const Comm* comm_ = nullptr;  // a parallel file's communicator
};

/// How to open a file.
enum class Access { kReadOnly, kReadWrite, kCreate };

/// An HDF5 file; parallel (MPI-IO, every open/create/close collective) when given a Comm.
/// On a parallel file every collective call that writes (dataset and group creation, dataset
/// and attribute writes) agrees on its outcome over the communicator: when any rank's part
/// fails (a full disk is often met by the one rank whose MPI-IO wrote the bytes), every rank
/// throws an H5Error with the lowest failing rank's message, so none goes on into the next
/// collective call alone.
class File {
public:
    /// Opens or creates `path`. With `comm`, the file uses MPI-IO over that communicator.
    File(const std::string& path, Access access, const Comm* comm = nullptr);
    /// Closes the file if close() was not called; a failure is logged, never thrown.
    ~File();
    File(File&&) noexcept = default;
    File& operator=(File&&) noexcept = default;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] bool parallel() const noexcept { return parallel_; }
    /// Whether an object (dataset or group) exists at an absolute path like "/a/b".
    [[nodiscard]] bool exists(const std::string& objectPath) const;
    [[nodiscard]] Dataset openDataset(const std::string& objectPath) const;
    /// Creates intermediate groups as needed (collective on a parallel file).
    void createGroup(const std::string& objectPath) const;
    /// Creates a 1-D or 2-D dataset of T, chunked by rows (collective on a parallel file).
    template <class T>
    Dataset createDataset(const std::string& objectPath, const std::vector<std::uint64_t>& dims) const {
        return createDatasetRaw(objectPath, nativeType<T>(), dims);
    }
    /// Writes a small dataset whose content every rank holds identically (collective).
    template <class T> void writeSmall(const std::string& objectPath, const std::vector<T>& values) const {
        auto ds = createDataset<T>(objectPath, {values.size()});
        if (values.empty()) return;  // nothing to write (a write to no storage fails: "addr overflow")
        bool writer = !parallel_ || rankOfComm_ == 0;
        if (writer)
            ds.writeRows(0, values.size(), values.data());
        else
            ds.writeRows(0, 0, values.data());
    }

    /// Writes a small 1-D dataset of fixed-length ASCII strings that every rank holds
    /// identically (collective); h5py reads it as bytes.
    void writeStrings(const std::string& objectPath, const std::vector<std::string>& values) const;
    /// Creates a 1-D dataset of `total` fixed-length strings of `width` bytes and writes this
    /// rank's `local` strings at row `offset` (collective; every rank passes the same total
    /// and width, e.g. the allreduce'd longest).
    void writeStringRows(const std::string& objectPath, std::uint64_t total, std::uint64_t offset,
                         const std::vector<std::string>& local, std::size_t width) const;
    /// The same with a second block of this rank's strings at row `offset2` (two collective
    /// writes: every rank passes both blocks, either may be empty).
    void writeStringRows(const std::string& objectPath, std::uint64_t total, std::uint64_t offset,
                         const std::vector<std::string>& local, std::uint64_t offset2,
                         const std::vector<std::string>& local2, std::size_t width) const;
    /// A string attribute on the object at `objectPath` (every rank the same value; collective).
    void writeObjectStringAttribute(const std::string& objectPath, const std::string& name,
                                    const std::string& value) const;
    /// Reads a 1-D string dataset (fixed- or variable-length) written by writeStrings or h5py.
    [[nodiscard]] std::vector<std::string> readStrings(const std::string& objectPath) const;

    /// Root-group attributes (on a parallel file: every rank writes the same value).
    template <class T> void writeAttribute(const std::string& name, const T& value) const;
    void writeAttribute(const std::string& name, const std::string& value) const;
    [[nodiscard]] bool hasAttribute(const std::string& name) const;
    [[nodiscard]] std::string readStringAttribute(const std::string& name) const;
    template <class T> [[nodiscard]] T readAttribute(const std::string& name) const;
    /// Attribute on a group or dataset at `objectPath` (created as a group if missing);
    /// on a parallel file every rank writes the same value (collective).
    template <class T>
    void writeObjectAttribute(const std::string& objectPath, const std::string& name, const T& value) const {
        writeObjectAttributeRaw(objectPath, name, nativeType<T>(), &value);
    }
    template <class T>
    [[nodiscard]] T readObjectAttribute(const std::string& objectPath, const std::string& name) const {
        T value{};
        readObjectAttributeRaw(objectPath, name, nativeType<T>(), &value);
        return value;
    }

    /// How close() ends the file.
    enum class Close { kFlush, kAfterFailedWrite };
    /// Flushes and closes now (collective on a parallel file); H5Error naming the file when
    /// either fails (e.g. a full disk). The destructor closes otherwise. kAfterFailedWrite
    /// (every rank, after a write that failed on any rank): closes without the explicit flush
    /// and its MPI_File_sync, which a rank whose write failed leaves early.
    void close(Close how = Close::kFlush);
    /// After a failed write (a full disk): drops the file without flushing or closing it, so no
    /// second failing close runs here; HDF5 closes it once at MPI_Finalize.
    void abandon() noexcept;

private:
    void writeObjectAttributeRaw(const std::string& objectPath, const std::string& name, hid_t type,
                                 const void* value) const;
    void readObjectAttributeRaw(const std::string& objectPath, const std::string& name, hid_t type, void* value) const;
    Dataset createDatasetRaw(const std::string& objectPath, hid_t type, const std::vector<std::uint64_t>& dims) const;
    // A root-group attribute (collective on a parallel file, failures agreed).
    void attributeRaw(const std::string& name, hid_t type, const void* value) const;

    Id id_;
    std::string path_;
    bool parallel_ = false;
    int rankOfComm_ = 0;
    const Comm* comm_ = nullptr;  // a parallel file's communicator
};

/// Attribute helpers on any object id.
void writeAttributeRaw(hid_t object, const std::string& name, hid_t type, const void* value, const std::string& where);
void writeStringAttributeRaw(hid_t object, const std::string& name, const std::string& value, const std::string& where);
std::string readStringAttributeRaw(hid_t object, const std::string& name, const std::string& where);
void readAttributeRaw(hid_t object, const std::string& name, hid_t type, void* value, const std::string& where);

template <class T> void Dataset::writeAttribute(const std::string& name, const T& value) const {
    attributeRaw(name, nativeType<T>(), &value);
}
template <class T> void File::writeAttribute(const std::string& name, const T& value) const {
    attributeRaw(name, nativeType<T>(), &value);
}
template <class T> T Dataset::readAttribute(const std::string& name) const {
    T value{};
    readAttributeRaw(id_.get(), name, nativeType<T>(), &value, file_ + ":" + path_);
    return value;
}
template <class T> T File::readAttribute(const std::string& name) const {
    T value{};
    readAttributeRaw(id_.get(), name, nativeType<T>(), &value, path_);
    return value;
}

}  // namespace hlstm::h5
