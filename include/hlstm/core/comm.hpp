/// The one wrapper around an MPI communicator: rank/size, typed collectives, and
/// Boost.Serialization send/recv/bcast/scatter of any serializable object.
#pragma once

#include <mpi.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hlstm/core/error.hpp"

namespace hlstm {

namespace mpi {
/// Throws MpiError with MPI's error string when `rc` is not MPI_SUCCESS.
void check(int rc, const char* what);

/// MPI datatype of a fundamental C++ type.
template <class T> MPI_Datatype datatype();
}  // namespace mpi

/// Reduction operators for Comm::allreduce.
enum class Reduce { kSum, kMin, kMax };

/// A non-owning view of an MPI communicator (MPI_COMM_WORLD by default). All methods named
/// like MPI collectives are *collective over the communicator*.
class Comm {
public:
    static constexpr int kRoot = 0;

    explicit Comm(MPI_Comm comm = MPI_COMM_WORLD);

    [[nodiscard]] int rank() const noexcept { return rank_; }
    [[nodiscard]] int size() const noexcept { return size_; }
    [[nodiscard]] bool isRoot() const noexcept { return rank_ == kRoot; }
    [[nodiscard]] MPI_Comm raw() const noexcept { return comm_; }

    void barrier() const;
    /// Any source, for iprobe().
    static constexpr int kAnySource = -1;
    /// The source rank of a message with `tag` waiting to be received from `source` (or from
    /// any rank with kAnySource), without receiving it; nullopt when none is waiting
    /// (MPI_Iprobe; rank-local, non-blocking).
    [[nodiscard]] std::optional<int> iprobe(int source, int tag) const;
    /// The ranks with `member` as a communicator of their own, ordered as here: returned on
    /// the members (the MPI communicator is freed with the last copy), nullptr on the others.
    /// Collective.
    [[nodiscard]] std::shared_ptr<const Comm> split(bool member) const;
    /// A barrier that sleeps while it waits (non-blocking barrier polled with a growing
    /// pause of 1..20 ms): a rank that finished its share early does not burn a core at
    /// 100 % in MPI's busy wait while the others still compute. `whileWaiting`, if given, is
    /// called at every poll (e.g. to answer requests of ranks still working). Collective.
    void idleBarrier(const std::function<void()>& whileWaiting = {}) const;

    /// Element-wise reduction of a value on every rank (collective).
    template <class T> [[nodiscard]] T allreduce(T value, Reduce op) const {
        static_assert(std::is_arithmetic_v<T>);
        T out{};
        mpi::check(MPI_Allreduce(&value, &out, 1, mpi::datatype<T>(), mpiOp(op), comm_), "MPI_Allreduce");
        return out;
    }
    /// Element-wise reduction of equally long vectors (collective).
    template <class T> void allreduceInPlace(std::vector<T>& values, Reduce op) const {
        static_assert(std::is_arithmetic_v<T>);
        mpi::check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), mpi::datatype<T>(),
                                 mpiOp(op), comm_),
                   "MPI_Allreduce");
    }
    /// Exclusive prefix sum (0 on rank 0) (collective).
    [[nodiscard]] std::uint64_t exscan(std::uint64_t value) const;

    /// Every rank's value, in rank order (collective).
    template <class T> [[nodiscard]] std::vector<T> allgather(const T& value) const {
        static_assert(std::is_trivially_copyable_v<T>);
        std::vector<T> out(static_cast<std::size_t>(size_));
        mpi::check(MPI_Allgather(&value, sizeof(T), MPI_BYTE, out.data(), sizeof(T), MPI_BYTE, comm_), "MPI_Allgather");
        return out;
    }

    /// Concatenation of every rank's vector at `root` (empty elsewhere) (collective).
    template <class T> [[nodiscard]] std::vector<T> gatherv(const std::vector<T>& local, int root = kRoot) const {
        static_assert(std::is_trivially_copyable_v<T>);
        std::vector<T> out;
        std::vector<std::size_t> counts = allgather<std::size_t>(local.size());
        auto bytes = gathervBytes(local.data(), local.size() * sizeof(T), counts, sizeof(T), root);
        if (rank_ == root) {
            out.resize(bytes.size() / sizeof(T));
            std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(out.data()));
        }
        return out;
    }
    /// Concatenation of every rank's vector on every rank (collective).
    template <class T> [[nodiscard]] std::vector<T> allgatherv(const std::vector<T>& local) const {
        auto all = gatherv(local, kRoot);
        bcastVector(all, kRoot);
        return all;
    }

    /// The same when every rank already knows every rank's count (`counts`, in elements): one
    /// MPI_Allgatherv instead of a count exchange, a gather and a broadcast (collective).
    template <class T>
    [[nodiscard]] std::vector<T> allgatherv(const std::vector<T>& local, const std::vector<std::size_t>& counts) const {
        static_assert(std::is_trivially_copyable_v<T>);
        std::size_t total = 0;
        for (auto c : counts) total += c;
        if (counts.size() != static_cast<std::size_t>(size_) || counts[static_cast<std::size_t>(rank_)] != local.size())
            throw std::logic_error("allgatherv: this rank's count differs from the agreed one");
        if (total * sizeof(T) > static_cast<std::size_t>(INT_MAX / 2)) return allgatherv(local);
        std::vector<int> recvCounts(counts.size()), displs(counts.size());
        int off = 0;
        for (std::size_t r = 0; r < counts.size(); ++r) {
            recvCounts[r] = static_cast<int>(counts[r] * sizeof(T));
            displs[r] = off;
            off += recvCounts[r];
        }
        std::vector<T> out(total);
        mpi::check(MPI_Allgatherv(local.data(), static_cast<int>(local.size() * sizeof(T)), MPI_BYTE, out.data(),
                                  recvCounts.data(), displs.data(), MPI_BYTE, comm_),
                   "MPI_Allgatherv");
        return out;
    }

    /// Sends sendCounts[r] consecutive elements of `send` to rank r and returns what every
    /// rank sent here, in rank order (MPI_Alltoallv, chunked past 2^31 bytes) (collective).
    template <class T>
    [[nodiscard]] std::vector<T> alltoallv(const std::vector<T>& send,
                                           const std::vector<std::size_t>& sendCounts) const {
        static_assert(std::is_trivially_copyable_v<T>);
        // Straight from `send` into the result when the element counts fit MPI's ints (the usual
        // case): no staging copies, so the exchange holds the data twice, not five times.
        std::vector<T> direct;
        if (alltoallvElements(send.data(), sizeof(T), sendCounts, [&direct](std::size_t n) {
                direct.resize(n);
                return static_cast<void*>(direct.data());
            }))
            return direct;
        std::vector<std::size_t> byteCounts(sendCounts.size());
        for (std::size_t i = 0; i < sendCounts.size(); ++i) byteCounts[i] = sendCounts[i] * sizeof(T);
        std::vector<char> bytes = alltoallvBytes(reinterpret_cast<const char*>(send.data()), byteCounts);
        std::vector<T> out(bytes.size() / sizeof(T));
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(out.data()));
        return out;
    }

    /// alltoallv into `out`, whose memory is kept from call to call: a loop of exchanges (rounds)
    /// does not map and fault in a fresh receive block each time (collective).
    template <class T>
    void alltoallvInto(const std::vector<T>& send, const std::vector<std::size_t>& sendCounts,
                       std::vector<T>& out) const {
        static_assert(std::is_trivially_copyable_v<T>);
        if (!alltoallvElements(send.data(), sizeof(T), sendCounts, [&out](std::size_t n) {
                out.resize(n);
                return static_cast<void*>(out.data());
            }))
            out = alltoallv(send, sendCounts);
    }

    /// alltoallv where every rank knows what it receives (recvCounts[r] elements from rank r):
    /// one MPI_Alltoallv, no exchange of the counts, for many small exchanges (a data-parallel
    /// minibatch's windows). Throws when a total does not fit an int (collective).
    template <class T>
    [[nodiscard]] std::vector<T> alltoallvKnown(const std::vector<T>& send, const std::vector<std::size_t>& sendCounts,
                                                const std::vector<std::size_t>& recvCounts) const {
        static_assert(std::is_trivially_copyable_v<T>);
        std::size_t total = 0;
        for (const std::size_t n : recvCounts) total += n;
        std::vector<T> out(total);
        alltoallvKnownElements(send.data(), sizeof(T), sendCounts, recvCounts, out.data());
        return out;
    }

    /// Broadcasts a vector of trivially copyable values from root (collective).
    template <class T> void bcastVector(std::vector<T>& values, int root = kRoot) const {
        static_assert(std::is_trivially_copyable_v<T>);
        std::uint64_t n = values.size();
        mpi::check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
        values.resize(n);
        bcastBytes(reinterpret_cast<char*>(values.data()), n * sizeof(T), root);
    }

    /// Broadcasts any Boost-serializable object from root (collective).
    template <class T> void bcast(T& object, int root = kRoot) const {
        std::string bytes;
        if (rank_ == root) bytes = serialize(object);
        bcastString(bytes, root);
        if (rank_ != root) deserialize(bytes, object);
    }
    /// Sends a Boost-serializable object to `dest` (point to point).
    template <class T> void send(const T& object, int dest, int tag = 0) const {
        sendString(serialize(object), dest, tag);
    }
    /// Receives a Boost-serializable object from `source` (point to point).
    template <class T> void recv(T& object, int source, int tag = 0) const {
        deserialize(recvString(source, tag), object);
    }
    /// Root holds one object per rank; every rank gets its own (collective).
    template <class T> [[nodiscard]] T scatter(const std::vector<T>& perRank, int root = kRoot) const {
        std::vector<std::string> parts;
        if (rank_ == root) {
            if (perRank.size() != static_cast<std::size_t>(size_))
                throw RuntimeError("Comm::scatter: root holds " + std::to_string(perRank.size()) + " objects for " +
                                   std::to_string(size_) + " ranks");
            for (const auto& p : perRank) parts.push_back(serialize(p));
        }
        T out;
        deserialize(scatterStrings(parts, root), out);
        return out;
    }

    template <class T> static std::string serialize(const T& object) {
        std::ostringstream os(std::ios::binary);
        {
            boost::archive::binary_oarchive archive(os, boost::archive::no_header);
            archive << object;
        }  // the archive must be destroyed before str()
        return os.str();
    }
    template <class T> static void deserialize(const std::string& bytes, T& object) {
        std::istringstream is(bytes, std::ios::binary);
        boost::archive::binary_iarchive archive(is, boost::archive::no_header);
        archive >> object;
    }

private:
    static MPI_Op mpiOp(Reduce op);
    std::vector<char> gathervBytes(const void* data, std::size_t bytes, const std::vector<std::size_t>& counts,
                                   std::size_t elemSize, int root) const;
    std::vector<char> alltoallvBytes(const char* data, const std::vector<std::size_t>& byteCounts) const;
    /// One MPI_Alltoallv of `elemBytes`-byte elements from `send` into the memory `allocate(n)`
    /// returns for the n received elements; false (nothing exchanged) when some rank's element
    /// counts or displacements do not fit an int (the ranks agree; collective).
    bool alltoallvElements(const void* send, std::size_t elemBytes, const std::vector<std::size_t>& sendCounts,
                           const std::function<void*(std::size_t)>& allocate) const;
    void alltoallvKnownElements(const void* send, std::size_t elemBytes, const std::vector<std::size_t>& sendCounts,
                                const std::vector<std::size_t>& recvCounts, void* recv) const;
    void bcastBytes(char* data, std::size_t bytes, int root) const;
    void bcastString(std::string& bytes, int root) const;
    void sendString(const std::string& bytes, int dest, int tag) const;
    std::string recvString(int source, int tag) const;
    std::string scatterStrings(const std::vector<std::string>& parts, int root) const;

    MPI_Comm comm_;
    int rank_ = 0;
    int size_ = 1;
};

/// Rows [n r / ranks, n (r + 1) / ranks) of n: rank r's slice of a block of rows that several
/// ranks share (forecasts, scores), in rank order; the slices of every rank, gathered in rank
/// order, are the block's rows in order.
[[nodiscard]] inline std::pair<std::size_t, std::size_t> shareOf(std::size_t n, std::size_t r, std::size_t ranks) {
    return {n * r / ranks, n * (r + 1) / ranks};
}

/// Contiguous block [begin, end) of `n` items owned by `rank` of `size` (first n % size
/// ranks get one more). The same split everywhere in hlstm.
struct BlockRange {
    std::size_t begin = 0;
    std::size_t end = 0;
    [[nodiscard]] std::size_t count() const noexcept { return end - begin; }
};
[[nodiscard]] BlockRange blockRange(std::size_t n, int size, int rank);

/// The MPI library's lifetime for one program (only `main` makes one): MPI_Init_thread with
/// MPI_THREAD_FUNNELED (only the main thread calls MPI; oneDNN's OpenMP threads never do),
/// checked against the level the library provides; MPI_ERRORS_RETURN on MPI_COMM_WORLD (and
/// the communicators made from it), so a failing call becomes an MpiError naming the call
/// instead of an abort without a word; a communicator of its own for the error path. Before
/// MPI_Init, Open MPI's transport for a job on one node (mpi::applyTransportChoice).
class MpiSession {
public:
    /// Throws MpiError when MPI cannot start or does not provide MPI_THREAD_FUNNELED.
    MpiSession(int& argc, char**& argv);
    /// Finalizes MPI unless finalize() or abort() already ended it (never throws).
    ~MpiSession();
    MpiSession(const MpiSession&) = delete;
    MpiSession& operator=(const MpiSession&) = delete;

    [[nodiscard]] const Comm& world() const noexcept { return *world_; }
    /// Why the transport is what it is (mpi::applyTransportChoice), for the debug log.
    [[nodiscard]] const std::string& transport() const noexcept { return transport_; }
    /// Whether every rank reaches this call within `seconds` (a non-blocking barrier on the
    /// error path's own communicator, polled; never throws). Collective in intent: ranks
    /// that never call it make the others wait the full time and return false.
    [[nodiscard]] bool allReachWithin(double seconds) const noexcept;
    /// Ends MPI normally.
    void finalize() noexcept;
    /// Ends every rank of the job with `code` (MPI_Abort).
    [[noreturn]] void abort(int code) const noexcept;

private:
    std::string transport_;
    std::unique_ptr<Comm> world_;
    MPI_Comm errorComm_ = MPI_COMM_NULL;
    bool finalized_ = false;
};

}  // namespace hlstm
