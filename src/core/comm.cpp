#include "hlstm/core/comm.hpp"
#include "hlstm/core/memory.hpp"

#include "hlstm/core/mpi_transport.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>

namespace hlstm {

namespace mpi {
void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw MpiError(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
}

template <> MPI_Datatype datatype<double>() { return MPI_DOUBLE; }
template <> MPI_Datatype datatype<float>() { return MPI_FLOAT; }
template <> MPI_Datatype datatype<int>() { return MPI_INT; }
template <> MPI_Datatype datatype<long>() { return MPI_LONG; }
template <> MPI_Datatype datatype<long long>() { return MPI_LONG_LONG; }
template <> MPI_Datatype datatype<unsigned long>() { return MPI_UNSIGNED_LONG; }
template <> MPI_Datatype datatype<unsigned long long>() { return MPI_UNSIGNED_LONG_LONG; }
template <> MPI_Datatype datatype<unsigned>() { return MPI_UNSIGNED; }
template <> MPI_Datatype datatype<char>() { return MPI_CHAR; }
template <> MPI_Datatype datatype<signed char>() { return MPI_SIGNED_CHAR; }
template <> MPI_Datatype datatype<unsigned char>() { return MPI_UNSIGNED_CHAR; }
}  // namespace mpi

namespace {
// MPI counts are int: larger payloads travel in chunks of this many bytes.
constexpr std::size_t kMaxChunk = static_cast<std::size_t>(INT_MAX / 2);
}  // namespace

Comm::Comm(MPI_Comm comm) : comm_(comm) {
    mpi::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    mpi::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

std::shared_ptr<const Comm> Comm::split(bool member) const {
    MPI_Comm sub = MPI_COMM_NULL;
    mpi::check(MPI_Comm_split(comm_, member ? 0 : MPI_UNDEFINED, rank_, &sub), "MPI_Comm_split");
    if (sub == MPI_COMM_NULL) return nullptr;
    return {new Comm(sub), [](const Comm* c) {
                MPI_Comm raw = c->raw();
                delete c;
                MPI_Comm_free(&raw);
            }};
}

void Comm::barrier() const { mpi::check(MPI_Barrier(comm_), "MPI_Barrier"); }

std::optional<int> Comm::iprobe(int source, int tag) const {
    int flag = 0;
    MPI_Status status;
    mpi::check(MPI_Iprobe(source == kAnySource ? MPI_ANY_SOURCE : source, tag, comm_, &flag, &status), "MPI_Iprobe");
    if (flag == 0) return std::nullopt;
    return status.MPI_SOURCE;
}

void Comm::idleBarrier(const std::function<void()>& whileWaiting) const {
    MPI_Request request = MPI_REQUEST_NULL;
    mpi::check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
    int done = 0;
    auto pause = std::chrono::milliseconds(1);
    constexpr auto kLongestPause = std::chrono::milliseconds(20);
    while (true) {
        mpi::check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (done != 0) break;
        if (whileWaiting) whileWaiting();
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, kLongestPause);
    }
}

MPI_Op Comm::mpiOp(Reduce op) {
    switch (op) {
        case Reduce::kSum: return MPI_SUM;
        case Reduce::kMin: return MPI_MIN;
        case Reduce::kMax: return MPI_MAX;
    }
    return MPI_SUM;
}

std::uint64_t Comm::exscan(std::uint64_t value) const {
    std::uint64_t out = 0;
    mpi::check(MPI_Exscan(&value, &out, 1, MPI_UINT64_T, MPI_SUM, comm_), "MPI_Exscan");
    return rank_ == 0 ? 0 : out;
}

void Comm::bcastBytes(char* data, std::size_t bytes, int root) const {
    for (std::size_t off = 0; off < bytes; off += kMaxChunk) {
        int n = static_cast<int>(std::min(kMaxChunk, bytes - off));
        mpi::check(MPI_Bcast(data + off, n, MPI_BYTE, root, comm_), "MPI_Bcast");
    }
}

void Comm::bcastString(std::string& bytes, int root) const {
    std::uint64_t n = bytes.size();
    mpi::check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
    bytes.resize(n);
    bcastBytes(bytes.data(), n, root);
}

void Comm::sendString(const std::string& bytes, int dest, int tag) const {
    std::uint64_t n = bytes.size();
    mpi::check(MPI_Send(&n, 1, MPI_UINT64_T, dest, tag, comm_), "MPI_Send");
    for (std::size_t off = 0; off < n; off += kMaxChunk) {
        int c = static_cast<int>(std::min(kMaxChunk, n - off));
        mpi::check(MPI_Send(bytes.data() + off, c, MPI_BYTE, dest, tag, comm_), "MPI_Send");
    }
}

std::string Comm::recvString(int source, int tag) const {
    std::uint64_t n = 0;
    mpi::check(MPI_Recv(&n, 1, MPI_UINT64_T, source, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    std::string bytes(n, '\0');
    for (std::size_t off = 0; off < n; off += kMaxChunk) {
        int c = static_cast<int>(std::min(kMaxChunk, n - off));
        mpi::check(MPI_Recv(bytes.data() + off, c, MPI_BYTE, source, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    }
    return bytes;
}

std::string Comm::scatterStrings(const std::vector<std::string>& parts, int root) const {
    // Root keeps its own part and sends the others point to point (sizes are unbounded).
    if (rank_ == root) {
        for (int r = 0; r < size_; ++r)
            if (r != root) sendString(parts[static_cast<std::size_t>(r)], r, 7001);
        return parts[static_cast<std::size_t>(root)];
    }
    return recvString(root, 7001);
}

std::vector<char> Comm::gathervBytes(const void* data, std::size_t bytes, const std::vector<std::size_t>& counts,
                                     std::size_t elemSize, int root) const {
    std::size_t total = 0;
    for (auto c : counts) total += c * elemSize;
    std::vector<char> out;
    if (total <= kMaxChunk) {
        std::vector<int> recvCounts(counts.size()), displs(counts.size());
        int off = 0;
        for (std::size_t r = 0; r < counts.size(); ++r) {
            recvCounts[r] = static_cast<int>(counts[r] * elemSize);
            displs[r] = off;
            off += recvCounts[r];
        }
        if (rank_ == root) out.resize(total);
        mpi::check(MPI_Gatherv(data, static_cast<int>(bytes), MPI_BYTE, out.data(), recvCounts.data(), displs.data(),
                               MPI_BYTE, root, comm_),
                   "MPI_Gatherv");
        return out;
    }
    // Large gathers: point to point, chunked.
    if (rank_ == root) {
        out.resize(total);
        std::size_t off = 0;
        for (int r = 0; r < size_; ++r) {
            std::size_t n = counts[static_cast<std::size_t>(r)] * elemSize;
            if (r == root) {
                std::copy_n(static_cast<const char*>(data), n, out.data() + off);
            } else {
                std::string part = recvString(r, 7002);
                std::copy(part.begin(), part.end(), out.data() + off);
            }
            off += n;
        }
    } else {
        sendString(std::string(static_cast<const char*>(data), bytes), root, 7002);
    }
    return out;
}

std::vector<char> Comm::alltoallvBytes(const char* data, const std::vector<std::size_t>& byteCounts) const {
    if (byteCounts.size() != static_cast<std::size_t>(size_))
        throw RuntimeError("Comm::alltoallv: counts for " + std::to_string(byteCounts.size()) +
                           " ranks on a communicator of " + std::to_string(size_));
    std::vector<std::size_t> recvCounts(byteCounts.size());
    mpi::check(MPI_Alltoall(byteCounts.data(), 1, MPI_UINT64_T, recvCounts.data(), 1, MPI_UINT64_T, comm_),
               "MPI_Alltoall");
    std::vector<std::size_t> sdispl(size_ + 1, 0), rdispl(size_ + 1, 0);
    for (int r = 0; r < size_; ++r) {
        sdispl[r + 1] = sdispl[r] + byteCounts[r];
        rdispl[r + 1] = rdispl[r] + recvCounts[r];
    }
    std::vector<char> out(rdispl[size_]);
    // Rounds of at most kMaxChunk bytes per peer keep every count and displacement an int.
    std::size_t maxPeer = 0;
    for (int r = 0; r < size_; ++r) maxPeer = std::max({maxPeer, byteCounts[r], recvCounts[r]});
    std::size_t perRound = std::max<std::size_t>(1, kMaxChunk / std::max(1, size_));
    std::size_t rounds = (maxPeer + perRound - 1) / perRound;
    if (rounds == 0) rounds = 1;
    std::vector<int> sc(size_), sd(size_), rc(size_), rd(size_);
    std::vector<char> sbuf, rbuf;
    for (std::size_t k = 0; k < rounds; ++k) {
        std::size_t lo = k * perRound;
        int so = 0, ro = 0;
        for (int r = 0; r < size_; ++r) {
            sc[r] = static_cast<int>(byteCounts[r] > lo ? std::min(perRound, byteCounts[r] - lo) : 0);
            rc[r] = static_cast<int>(recvCounts[r] > lo ? std::min(perRound, recvCounts[r] - lo) : 0);
            sd[r] = so;
            so += sc[r];
            rd[r] = ro;
            ro += rc[r];
        }
        sbuf.resize(static_cast<std::size_t>(so));
        rbuf.resize(static_cast<std::size_t>(ro));
        for (int r = 0; r < size_; ++r) std::copy_n(data + sdispl[r] + lo, sc[r], sbuf.data() + sd[r]);
        mpi::check(MPI_Alltoallv(sbuf.data(), sc.data(), sd.data(), MPI_BYTE, rbuf.data(), rc.data(), rd.data(),
                                 MPI_BYTE, comm_),
                   "MPI_Alltoallv");
        for (int r = 0; r < size_; ++r) std::copy_n(rbuf.data() + rd[r], rc[r], out.data() + rdispl[r] + lo);
    }
    return out;
}

void Comm::alltoallvKnownElements(const void* send, std::size_t elemBytes, const std::vector<std::size_t>& sendCounts,
                                  const std::vector<std::size_t>& recvCounts, void* recv) const {
    if (sendCounts.size() != static_cast<std::size_t>(size_) || recvCounts.size() != sendCounts.size())
        throw RuntimeError("Comm::alltoallvKnown: counts for " + std::to_string(sendCounts.size()) + " and " +
                           std::to_string(recvCounts.size()) + " ranks on a communicator of " + std::to_string(size_));
    std::size_t sendTotal = 0, recvTotal = 0;
    for (int r = 0; r < size_; ++r) sendTotal += sendCounts[r], recvTotal += recvCounts[r];
    const auto limit = static_cast<std::size_t>(INT_MAX);
    if (sendTotal > limit || recvTotal > limit || elemBytes > limit)
        throw RuntimeError("Comm::alltoallvKnown: more elements than an int counts");
    std::vector<int> sc(size_), sd(size_), rc(size_), rd(size_);
    for (int r = 0, so = 0, ro = 0; r < size_; ++r) {
        sc[r] = static_cast<int>(sendCounts[r]), sd[r] = so, so += sc[r];
        rc[r] = static_cast<int>(recvCounts[r]), rd[r] = ro, ro += rc[r];
    }
    MPI_Datatype element;
    mpi::check(MPI_Type_contiguous(static_cast<int>(elemBytes), MPI_BYTE, &element), "MPI_Type_contiguous");
    mpi::check(MPI_Type_commit(&element), "MPI_Type_commit");
    const int status = MPI_Alltoallv(send, sc.data(), sd.data(), element, recv, rc.data(), rd.data(), element, comm_);
    MPI_Type_free(&element);
    mpi::check(status, "MPI_Alltoallv");
}

bool Comm::alltoallvElements(const void* send, std::size_t elemBytes, const std::vector<std::size_t>& sendCounts,
                             const std::function<void*(std::size_t)>& allocate) const {
    if (sendCounts.size() != static_cast<std::size_t>(size_))
        throw RuntimeError("Comm::alltoallv: counts for " + std::to_string(sendCounts.size()) +
                           " ranks on a communicator of " + std::to_string(size_));
    std::vector<std::size_t> recvCounts(sendCounts.size());
    mpi::check(MPI_Alltoall(sendCounts.data(), 1, MPI_UINT64_T, recvCounts.data(), 1, MPI_UINT64_T, comm_),
               "MPI_Alltoall");
    std::size_t sendTotal = 0, recvTotal = 0;
    for (int r = 0; r < size_; ++r) sendTotal += sendCounts[r], recvTotal += recvCounts[r];
    const auto limit = static_cast<std::size_t>(INT_MAX);
    const int fits = sendTotal <= limit && recvTotal <= limit && elemBytes <= limit ? 1 : 0;
    if (allreduce(fits, Reduce::kMin) == 0) return false;
    alltoallvKnownElements(send, elemBytes, sendCounts, recvCounts, allocate(recvTotal));
    return true;
}

BlockRange blockRange(std::size_t n, int size, int rank) {
    std::size_t s = static_cast<std::size_t>(size), r = static_cast<std::size_t>(rank);
    std::size_t base = n / s, extra = n % s;
    BlockRange b;
    b.begin = r * base + std::min(r, extra);
    b.end = b.begin + base + (r < extra ? 1 : 0);
    return b;
}

// ---------------------------------------------------------------- MpiSession
MpiSession::MpiSession(int& argc, char**& argv) : transport_(mpi::applyTransportChoice()) {
    mapLargeBlocks();  // freed tables and plans go back to the system (memory.hpp)
    int provided = 0;
    mpi::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        finalized_ = true;
        throw MpiError("MPI_Init_thread: the MPI library provides thread level " + std::to_string(provided) +
                       ", hlstm needs MPI_THREAD_FUNNELED (" + std::to_string(MPI_THREAD_FUNNELED) + ")");
    }
    mpi::check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi::check(MPI_Comm_dup(MPI_COMM_WORLD, &errorComm_), "MPI_Comm_dup");
    world_ = std::make_unique<Comm>(MPI_COMM_WORLD);
}

MpiSession::~MpiSession() { finalize(); }

bool MpiSession::allReachWithin(double seconds) const noexcept {
    MPI_Request request = MPI_REQUEST_NULL;
    if (errorComm_ == MPI_COMM_NULL || MPI_Ibarrier(errorComm_, &request) != MPI_SUCCESS) return false;
    const double start = MPI_Wtime();
    int done = 0;
    while (done == 0 && MPI_Wtime() - start < seconds) {
        if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
        if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done != 0;
}

void MpiSession::finalize() noexcept {
    if (finalized_) return;
    finalized_ = true;
    MPI_Finalize();
}

void MpiSession::abort(int code) const noexcept {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::abort();  // MPI_Abort does not return; if it did, the job still ends
}

}  // namespace hlstm
