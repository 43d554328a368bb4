#include "hlstm/io/hdf5.hpp"

#include <algorithm>
#include <boost/serialization/string.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>

#include "hlstm/core/log.hpp"

namespace hlstm::h5 {
namespace {

herr_t collectMessage(unsigned n, const H5E_error2_t* err, void* data) {
    auto* out = static_cast<std::string*>(data);
    if (!out->empty()) out->append("; ");
    out->append(err->desc != nullptr && *err->desc ? err->desc : (err->func_name ? err->func_name : "?"));
    (void)n;
    return 0;
}

std::string errorStack() {
    std::string text;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collectMessage, &text);
    H5Eclear2(H5E_DEFAULT);
    return text.empty() ? std::string("no HDF5 error stack") : text;
}

// Chunk of whole rows, about 1 MiB, never larger than the dataset.
std::vector<hsize_t> rowChunk(const std::vector<hsize_t>& dims, std::size_t elemSize) {
    constexpr std::size_t kChunkBytes = 1u << 20;
    std::vector<hsize_t> chunk = dims;
    std::size_t rowBytes = elemSize;
    for (std::size_t i = 1; i < dims.size(); ++i) rowBytes *= dims[i];
    hsize_t rows = std::max<hsize_t>(1, kChunkBytes / std::max<std::size_t>(1, rowBytes));
    chunk[0] = std::min<hsize_t>(dims[0], rows);
    return chunk;
}

// The one transfer list: collective or independent MPI-IO on a parallel file, the default on
// a serial one.
Id transferList(bool parallel, Transfer transfer = Transfer::kCollective) {
    Id dxpl(check(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate(xfer)"));
    if (parallel)
        check(H5Pset_dxpl_mpio(dxpl.get(),
                               transfer == Transfer::kCollective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT),
              "H5Pset_dxpl_mpio");
    return dxpl;
}

Id stringType(std::size_t length) {
    Id type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
    check(H5Tset_size(type.get(), std::max<std::size_t>(1, length)), "H5Tset_size");
    check(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), "H5Tset_strpad");
    return type;
}

// Runs `call`, a collective call that writes into a parallel file over `comm` (nullptr: a
// serial file, no agreement), and agrees on its outcome: if any rank's part failed, every rank
// throws, the failing ranks their own error, the others an H5Error with the lowest failing
// rank's message. Without it a full disk, often met only by the rank whose MPI-IO wrote the
// bytes, sent that rank out of the writer while the others went on into the next collective
// call and waited there for ever.
template <class F> void agreed(const Comm* comm, F&& call) {
    std::exception_ptr failure;
    std::string message;
    try {
        std::forward<F>(call)();
    } catch (const std::exception& e) {
        failure = std::current_exception();
        message = e.what();
    } catch (...) {
        failure = std::current_exception();
        message = "unknown exception";
    }
    if (comm == nullptr) {
        if (failure) std::rethrow_exception(failure);
        return;
    }
    const int first = comm->allreduce(failure ? comm->rank() : comm->size(), Reduce::kMin);
    if (first == comm->size()) return;
    comm->bcast(message, first);
    if (failure) std::rethrow_exception(failure);
    throw H5Error(message + " (on rank " + std::to_string(first) + ")");
}

}  // namespace

hid_t check(hid_t status, const std::string& what) {
    if (status < 0) throw H5Error(what + ": " + errorStack());
    return status;
}

void silenceAutoPrint() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

Id& Id::operator=(Id&& other) noexcept {
    if (this != &other) {
        if (id_ >= 0) H5Idec_ref(id_);
        id_ = other.id_;
        other.id_ = H5I_INVALID_HID;
    }
    return *this;
}

Id::~Id() {
    if (id_ >= 0 && H5Iis_valid(id_) > 0) H5Idec_ref(id_);
}

template <> hid_t nativeType<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t nativeType<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t nativeType<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t nativeType<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t nativeType<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t nativeType<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t nativeType<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t nativeType<std::uint64_t>() { return H5T_NATIVE_UINT64; }

// ---------------------------------------------------------------- Dataset
Dataset::Dataset(Id id, std::string path, std::string file, bool parallel, const Comm* comm)
    : id_(std::move(id)), path_(std::move(path)), file_(std::move(file)), parallel_(parallel), comm_(comm) {}

std::vector<std::uint64_t> Dataset::dims() const {
    Id space(check(H5Dget_space(id_.get()), "H5Dget_space " + path_));
    int rank = static_cast<int>(check(H5Sget_simple_extent_ndims(space.get()), "H5Sget_simple_extent_ndims"));
    std::vector<hsize_t> d(static_cast<std::size_t>(rank));
    if (rank > 0) check(H5Sget_simple_extent_dims(space.get(), d.data(), nullptr), "H5Sget_simple_extent_dims");
    return {d.begin(), d.end()};
}

TypeClass Dataset::typeClass() const {
    Id type(check(H5Dget_type(id_.get()), "H5Dget_type " + path_));
    switch (H5Tget_class(type.get())) {
        case H5T_INTEGER: return TypeClass::kInteger;
        case H5T_FLOAT: return TypeClass::kFloat;
        case H5T_STRING: return TypeClass::kString;
        case H5T_ENUM: return TypeClass::kEnum;
        default: return TypeClass::kOther;
    }
}

bool Dataset::typeIsUnsigned() const {
    Id type(check(H5Dget_type(id_.get()), "H5Dget_type " + path_));
    return H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE;
}

std::size_t Dataset::typeSize() const {
    Id type(check(H5Dget_type(id_.get()), "H5Dget_type " + path_));
    return H5Tget_size(type.get());
}

std::uint64_t Dataset::rowLength() const {
    auto d = dims();
    std::uint64_t n = 1;
    for (std::size_t i = 1; i < d.size(); ++i) n *= d[i];
    return n;
}

void Dataset::transferRaw(bool write, hid_t memType, void* data, const std::vector<std::uint64_t>& start,
                          const std::vector<std::uint64_t>& count, Transfer transfer) const {
    Id fileSpace(check(H5Dget_space(id_.get()), "H5Dget_space " + path_));
    bool none = false;
    for (auto c : count) none = none || c == 0;
    std::vector<hsize_t> s(start.begin(), start.end()), c(count.begin(), count.end());
    if (c.empty()) c = {1};  // a scalar dataset: one element in memory
    std::vector<hsize_t> memCount = c;
    for (auto& n : memCount) n = std::max<hsize_t>(n, 1);  // a zero-size memory space is not allowed
    Id memSpace(
        check(H5Screate_simple(static_cast<int>(memCount.size()), memCount.data(), nullptr), "H5Screate_simple"));
    if (none) {
        check(H5Sselect_none(fileSpace.get()), "H5Sselect_none");
        check(H5Sselect_none(memSpace.get()), "H5Sselect_none");
    } else if (!start.empty()) {
        check(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, s.data(), nullptr, c.data(), nullptr),
              "H5Sselect_hyperslab " + path_);
    }
    Id dxpl = transferList(parallel_, transfer);
    if (write)
        agreed(parallel_ && transfer == Transfer::kCollective ? comm_ : nullptr, [&] {
            check(H5Dwrite(id_.get(), memType, memSpace.get(), fileSpace.get(), dxpl.get(), data),
                  "H5Dwrite " + file_ + ":" + path_);
        });
    else
        check(H5Dread(id_.get(), memType, memSpace.get(), fileSpace.get(), dxpl.get(), data),
              "H5Dread " + file_ + ":" + path_);
}

namespace {
// The block of rows [row0, row0 + rows) with all columns of a dataset of `dims`.
std::pair<std::vector<std::uint64_t>, std::vector<std::uint64_t>> rowBlock(const std::vector<std::uint64_t>& dims,
                                                                           std::uint64_t row0, std::uint64_t rows) {
    std::vector<std::uint64_t> start(dims.size(), 0), count = dims;
    if (!dims.empty()) {
        start[0] = row0;
        count[0] = rows;
    }
    return {start, count};
}
}  // namespace

void Dataset::readRowsRaw(hid_t memType, void* data, std::uint64_t row0, std::uint64_t rows) const {
    const auto d = dims();
    if (!d.empty() && row0 + rows > d[0])
        throw H5Error(file_ + ":" + path_ + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0 + rows) +
                      ") outside " + std::to_string(d[0]) + " rows");
    const auto [start, count] = rowBlock(d, row0, rows);
    transferRaw(false, memType, data, start, count, Transfer::kCollective);
}

void Dataset::checkSlab(const std::vector<std::uint64_t>& start, const std::vector<std::uint64_t>& count,
                        bool emptyAllowed) const {
    const auto d = dims();
    if (start.size() != d.size() || count.size() != d.size())
        throw H5Error(file_ + ":" + path_ + ": a " + std::to_string(start.size()) + "-D slab of a " +
                      std::to_string(d.size()) + "-D dataset");
    for (std::size_t k = 0; k < d.size(); ++k)
        if (start[k] + count[k] > d[k] || (count[k] == 0 && !emptyAllowed))
            throw H5Error(file_ + ":" + path_ + ": slab outside the dataset (dimension " + std::to_string(k) + ")");
}

void Dataset::readSlabRaw(hid_t memType, void* data, const std::vector<std::uint64_t>& start,
                          const std::vector<std::uint64_t>& count) const {
    checkSlab(start, count, false);
    transferRaw(false, memType, data, start, count, Transfer::kIndependent);
}

void Dataset::writeSlabRaw(hid_t memType, const void* data, const std::vector<std::uint64_t>& start,
                           const std::vector<std::uint64_t>& count) const {
    checkSlab(start, count, true);
    transferRaw(true, memType, const_cast<void*>(data), start, count, Transfer::kCollective);
}

void Dataset::writeRowsRaw(hid_t memType, const void* data, std::uint64_t row0, std::uint64_t rows) const {
    const auto d = dims();
    if (d.empty() || row0 + rows > d[0]) throw H5Error(file_ + ":" + path_ + ": write rows beyond the dataset");
    const auto [start, count] = rowBlock(d, row0, rows);
    transferRaw(true, memType, const_cast<void*>(data), start, count, Transfer::kCollective);
}

std::vector<std::int8_t> Dataset::readEnum8Slab(const std::vector<std::uint64_t>& start,
                                                const std::vector<std::uint64_t>& count) const {
    Id type(check(H5Dget_type(id_.get()), "H5Dget_type " + path_));
    Id native(check(H5Tget_native_type(type.get(), H5T_DIR_ASCEND), "H5Tget_native_type " + path_));
    if (H5Tget_size(native.get()) != 1) throw H5Error(file_ + ":" + path_ + ": an enum wider than a byte");
    std::uint64_t n = 1;
    for (auto c : count) n *= c;
    std::vector<std::int8_t> out(n);
    readSlabRaw(native.get(), out.data(), start, count);
    return out;
}

std::vector<std::string> Dataset::readStringRows(std::uint64_t row0, std::uint64_t rows) const {
    const auto d = dims();
    Id fileType(check(H5Dget_type(id_.get()), "H5Dget_type " + path_));
    if (d.size() != 1 || H5Tget_class(fileType.get()) != H5T_STRING)
        throw H5Error(file_ + ":" + path_ + ": not a 1-D string dataset");
    if (row0 + rows > d[0])
        throw H5Error(file_ + ":" + path_ + ": rows [" + std::to_string(row0) + ", " + std::to_string(row0 + rows) +
                      ") outside " + std::to_string(d[0]) + " rows");
    std::vector<std::string> out(rows);
    const H5T_cset_t cset = H5Tget_cset(fileType.get());
    Id memType(check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
    check(H5Tset_cset(memType.get(), cset), "H5Tset_cset");
    if (H5Tis_variable_str(fileType.get()) > 0) {
        check(H5Tset_size(memType.get(), H5T_VARIABLE), "H5Tset_size");
        std::vector<char*> ptrs(std::max<std::uint64_t>(rows, 1), nullptr);
        transferRaw(false, memType.get(), ptrs.data(), {row0}, {rows}, Transfer::kCollective);
        for (std::size_t i = 0; i < rows; ++i) {
            out[i] = ptrs[i] != nullptr ? ptrs[i] : "";
            H5free_memory(ptrs[i]);
        }
        return out;
    }
    const std::size_t width = H5Tget_size(fileType.get());
    const bool spacePadded = H5Tget_strpad(fileType.get()) == H5T_STR_SPACEPAD;
    check(H5Tset_size(memType.get(), width), "H5Tset_size");
    check(H5Tset_strpad(memType.get(), H5T_STR_NULLPAD), "H5Tset_strpad");  // all `width` bytes are text
    std::vector<char> packed(std::max<std::uint64_t>(rows, 1) * width, '\0');
    transferRaw(false, memType.get(), packed.data(), {row0}, {rows}, Transfer::kCollective);
    for (std::size_t i = 0; i < rows; ++i) {
        const char* p = packed.data() + i * width;
        std::size_t len = strnlen(p, width);
        while (spacePadded && len > 0 && p[len - 1] == ' ') --len;
        out[i].assign(p, len);
    }
    return out;
}

void Dataset::writeAttribute(const std::string& name, const std::string& value) const {
    agreed(comm_, [&] { writeStringAttributeRaw(id_.get(), name, value, file_ + ":" + path_); });
}
void Dataset::attributeRaw(const std::string& name, hid_t type, const void* value) const {
    agreed(comm_, [&] { writeAttributeRaw(id_.get(), name, type, value, file_ + ":" + path_); });
}
bool Dataset::hasAttribute(const std::string& name) const {
    return check(H5Aexists(id_.get(), name.c_str()), "H5Aexists " + name) > 0;
}
std::string Dataset::readStringAttribute(const std::string& name) const {
    return readStringAttributeRaw(id_.get(), name, file_ + ":" + path_);
}

// ---------------------------------------------------------------- File
File::File(const std::string& path, Access access, const Comm* comm)
    : path_(path), parallel_(comm != nullptr), rankOfComm_(comm ? comm->rank() : 0), comm_(comm) {
    silenceAutoPrint();
    Id fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate(fapl)"));
    if (comm != nullptr) check(H5Pset_fapl_mpio(fapl.get(), comm->raw(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
    hid_t id = H5I_INVALID_HID;
    switch (access) {
        case Access::kCreate: id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()); break;
        case Access::kReadOnly: id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()); break;
        case Access::kReadWrite: id = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()); break;
    }
    id_ = Id(check(id, (access == Access::kCreate ? "cannot create HDF5 file " : "cannot open HDF5 file ") + path));
}

bool File::exists(const std::string& objectPath) const {
    // Check each component so that a missing group does not raise an error.
    std::string partial;
    std::size_t pos = 1;
    while (pos <= objectPath.size()) {
        std::size_t next = objectPath.find('/', pos);
        if (next == std::string::npos) next = objectPath.size();
        partial = objectPath.substr(0, next);
        if (check(H5Lexists(id_.get(), partial.c_str(), H5P_DEFAULT), "H5Lexists " + partial) <= 0) return false;
        pos = next + 1;
    }
    return true;
}

Dataset File::openDataset(const std::string& objectPath) const {
    Id id(check(H5Dopen2(id_.get(), objectPath.c_str(), H5P_DEFAULT), path_ + ": cannot open dataset " + objectPath));
    // A compression filter this HDF5 build lacks (h5py's LZF, id 32000, is the usual one)
    // fails only at the first read, with a raw stack: say what it is and how to recompress.
    Id dcpl(check(H5Dget_create_plist(id.get()), "H5Dget_create_plist " + objectPath));
    const int filters = check(H5Pget_nfilters(dcpl.get()), "H5Pget_nfilters " + objectPath);
    for (int k = 0; k < filters; ++k) {
        unsigned flags = 0, config = 0;
        std::size_t nValues = 0;
        char name[64] = {0};
        const H5Z_filter_t filter =
            H5Pget_filter2(dcpl.get(), static_cast<unsigned>(k), &flags, &nValues, nullptr, sizeof name, name, &config);
        if (filter < 0 || H5Zfilter_avail(filter) > 0) continue;
        throw InputError(path_ + ":" + objectPath + " is compressed with filter " + std::to_string(filter) +
                         (filter == 32000 ? " (LZF, h5py/MintPy's option)" : std::string(" (") + name + ")") +
                         ", which this HDF5 library cannot read; recompress it, e.g. h5repack -f GZIP=4 " + path_ +
                         " recompressed.h5");
    }
    return Dataset(std::move(id), objectPath, path_, parallel_, comm_);
}

void File::createGroup(const std::string& objectPath) const {
    if (exists(objectPath)) return;
    Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(lcpl)"));
    check(H5Pset_create_intermediate_group(lcpl.get(), 1), "H5Pset_create_intermediate_group");
    agreed(comm_, [&] {
        Id g(check(H5Gcreate2(id_.get(), objectPath.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                   path_ + ": cannot create group " + objectPath));
    });
}

Dataset File::createDatasetRaw(const std::string& objectPath, hid_t type,
                               const std::vector<std::uint64_t>& dims) const {
    std::vector<hsize_t> d(dims.begin(), dims.end());
    Id space(check(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "H5Screate_simple"));
    Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(lcpl)"));
    check(H5Pset_create_intermediate_group(lcpl.get(), 1), "H5Pset_create_intermediate_group");
    Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate(dcpl)"));
    if (!d.empty() && d[0] > 0) {
        bool nonEmpty = true;
        for (auto v : d) nonEmpty = nonEmpty && v > 0;
        if (nonEmpty) {
            auto chunk = rowChunk(d, H5Tget_size(type));
            check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk");
        }
    }
    check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
    Id id;
    agreed(comm_, [&] {
        id = Id(check(H5Dcreate2(id_.get(), objectPath.c_str(), type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                      path_ + ": cannot create dataset " + objectPath));
    });
    return Dataset(std::move(id), objectPath, path_, parallel_, comm_);
}

void File::writeAttribute(const std::string& name, const std::string& value) const {
    agreed(comm_, [&] { writeStringAttributeRaw(id_.get(), name, value, path_); });
}
void File::attributeRaw(const std::string& name, hid_t type, const void* value) const {
    agreed(comm_, [&] { writeAttributeRaw(id_.get(), name, type, value, path_); });
}

void File::writeStrings(const std::string& objectPath, const std::vector<std::string>& values) const {
    std::size_t width = 1;
    for (const auto& v : values) width = std::max(width, v.size());
    Id type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
    check(H5Tset_size(type.get(), width), "H5Tset_size");
    check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad");
    std::vector<char> packed(values.size() * width, '\0');
    for (std::size_t i = 0; i < values.size(); ++i)
        std::copy(values[i].begin(), values[i].end(), packed.data() + i * width);
    Dataset ds = createDatasetRaw(objectPath, type.get(), {values.size()});
    if (values.empty()) return;
    const bool writer = !parallel_ || rankOfComm_ == 0;
    ds.writeRowsRaw(type.get(), packed.data(), 0, writer ? values.size() : 0);
}

void File::writeStringRows(const std::string& objectPath, std::uint64_t total, std::uint64_t offset,
                           const std::vector<std::string>& local, std::size_t width) const {
    writeStringRows(objectPath, total, offset, local, offset, {}, width);
}

void File::writeStringRows(const std::string& objectPath, std::uint64_t total, std::uint64_t offset,
                           const std::vector<std::string>& local, std::uint64_t offset2,
                           const std::vector<std::string>& local2, std::size_t width) const {
    width = std::max<std::size_t>(1, width);
    Id type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
    check(H5Tset_size(type.get(), width), "H5Tset_size");
    check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad");
    auto pack = [&](const std::vector<std::string>& strings) {
        std::vector<char> packed(std::max<std::size_t>(1, strings.size()) * width, '\0');
        for (std::size_t i = 0; i < strings.size(); ++i) {
            if (strings[i].size() > width) throw H5Error(path_ + ":" + objectPath + ": a string longer than the width");
            std::copy(strings[i].begin(), strings[i].end(), packed.data() + i * width);
        }
        return packed;
    };
    Dataset ds = createDatasetRaw(objectPath, type.get(), {total});
    if (total == 0) return;
    ds.writeRowsRaw(type.get(), pack(local).data(), offset, local.size());
    ds.writeRowsRaw(type.get(), pack(local2).data(), offset2, local2.size());
}

void File::writeObjectStringAttribute(const std::string& objectPath, const std::string& name,
                                      const std::string& value) const {
    Id object(check(H5Oopen(id_.get(), objectPath.c_str(), H5P_DEFAULT), path_ + ": cannot open " + objectPath));
    agreed(comm_, [&] { writeStringAttributeRaw(object.get(), name, value, path_ + ":" + objectPath); });
}

std::vector<std::string> File::readStrings(const std::string& objectPath) const {
    const Dataset ds = openDataset(objectPath);
    const auto d = ds.dims();
    return ds.readStringRows(0, d.empty() ? 0 : d[0]);
}
bool File::hasAttribute(const std::string& name) const {
    return check(H5Aexists(id_.get(), name.c_str()), "H5Aexists " + name) > 0;
}
std::string File::readStringAttribute(const std::string& name) const {
    return readStringAttributeRaw(id_.get(), name, path_);
}

void File::writeObjectAttributeRaw(const std::string& objectPath, const std::string& name, hid_t type,
                                   const void* value) const {
    if (!exists(objectPath)) createGroup(objectPath);
    Id object(check(H5Oopen(id_.get(), objectPath.c_str(), H5P_DEFAULT), path_ + ": cannot open " + objectPath));
    agreed(comm_, [&] { writeAttributeRaw(object.get(), name, type, value, path_ + ":" + objectPath); });
}

void File::readObjectAttributeRaw(const std::string& objectPath, const std::string& name, hid_t type,
                                  void* value) const {
    Id object(check(H5Oopen(id_.get(), objectPath.c_str(), H5P_DEFAULT), path_ + ": cannot open " + objectPath));
    readAttributeRaw(object.get(), name, type, value, path_ + ":" + objectPath);
}

void File::abandon() noexcept { (void)id_.release(); }

void File::close(Close how) {
    if (!id_.valid()) return;
    const hid_t id = id_.release();
    // After a failed write, no explicit flush: its MPI_File_sync fails on a rank whose write
    // failed before that rank joins the sync's barrier, and the others wait there for ever
    // (Open MPI 4.1). H5Fclose flushes the cached metadata without that sync.
    const herr_t flushed = how == Close::kAfterFailedWrite ? herr_t{0} : H5Fflush(id, H5F_SCOPE_GLOBAL);
    const std::string flushError = flushed < 0 ? errorStack() : std::string();
    // A parallel file closes only when nothing in it is open (H5F_CLOSE_SEMI): with datasets
    // still held by the caller, the close happens with the last of them (after this checked
    // flush); otherwise it is checked here. Closed even when the flush failed.
    const ssize_t open =
        H5Fget_obj_count(id, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL);
    if (open > 0)
        H5Idec_ref(id);
    else
        check(H5Fclose(id), "cannot close HDF5 file " + path_);
    if (flushed < 0) throw H5Error("cannot flush HDF5 file " + path_ + ": " + flushError);
}

File::~File() {
    if (!id_.valid()) return;
    const hid_t id = id_.release();
    const ssize_t open =
        H5Fget_obj_count(id, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL);
    if (open > 0)
        H5Idec_ref(id);  // closes with the last object still open in it
    else if (H5Fclose(id) < 0)
        log::warn() << path_ << ": closing the HDF5 file failed: " << errorStack();
}

bool isHdf5(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    silenceAutoPrint();
    const htri_t is = H5Fis_hdf5(path.c_str());
    H5Eclear2(H5E_DEFAULT);
    return is > 0;
}

// ---------------------------------------------------------------- attributes
void writeAttributeRaw(hid_t object, const std::string& name, hid_t type, const void* value, const std::string& where) {
    if (check(H5Aexists(object, name.c_str()), "H5Aexists " + name) > 0)
        check(H5Adelete(object, name.c_str()), "H5Adelete " + name);
    Id space(check(H5Screate(H5S_SCALAR), "H5Screate"));
    Id attr(check(H5Acreate2(object, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                  where + ": cannot create attribute " + name));
    check(H5Awrite(attr.get(), type, value), where + ": cannot write attribute " + name);
}

void writeStringAttributeRaw(hid_t object, const std::string& name, const std::string& value,
                             const std::string& where) {
    Id type = stringType(value.size() + 1);
    std::string padded = value;
    padded.push_back('\0');
    writeAttributeRaw(object, name, type.get(), padded.data(), where);
}

void readAttributeRaw(hid_t object, const std::string& name, hid_t type, void* value, const std::string& where) {
    Id attr(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), where + ": cannot open attribute " + name));
    check(H5Aread(attr.get(), type, value), where + ": cannot read attribute " + name);
}

std::string readStringAttributeRaw(hid_t object, const std::string& name, const std::string& where) {
    Id attr(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), where + ": cannot open attribute " + name));
    Id fileType(check(H5Aget_type(attr.get()), "H5Aget_type " + name));
    if (H5Tget_class(fileType.get()) != H5T_STRING) throw H5Error(where + ": attribute " + name + " is not a string");
    // One string: H5Aread writes every element, into room for one (found by fuzzing).
    {
        Id space(check(H5Aget_space(attr.get()), "H5Aget_space " + name));
        const hssize_t count = H5Sget_simple_extent_npoints(space.get());
        if (count != 1)
            throw InputError(where + ": attribute " + name + " holds " + std::to_string(count) +
                             " values; expected one string");
    }
    // The memory type takes the file's character set: h5py writes UTF-8 strings, and HDF5
    // does not convert between ASCII and UTF-8.
    const H5T_cset_t cset = H5Tget_cset(fileType.get());
    if (H5Tis_variable_str(fileType.get()) > 0) {
        Id memType(check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
        check(H5Tset_size(memType.get(), H5T_VARIABLE), "H5Tset_size");
        check(H5Tset_cset(memType.get(), cset), "H5Tset_cset");
        char* text = nullptr;
        check(H5Aread(attr.get(), memType.get(), &text), where + ": cannot read attribute " + name);
        std::string out = text ? text : "";
        H5free_memory(text);
        return out;
    }
    std::size_t size = H5Tget_size(fileType.get());
    Id memType = stringType(size + 1);
    check(H5Tset_cset(memType.get(), cset), "H5Tset_cset");
    std::string buffer(size + 1, '\0');
    check(H5Aread(attr.get(), memType.get(), buffer.data()), where + ": cannot read attribute " + name);
    return std::string(buffer.c_str());
}

}  // namespace hlstm::h5
