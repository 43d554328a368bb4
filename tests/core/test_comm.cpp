#include <gtest/gtest.h>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <utility>

#include <unistd.h>

#include "hlstm/core/comm.hpp"
#include "hlstm/core/hash.hpp"
#include "hlstm/core/mpi_transport.hpp"

using hlstm::Comm;
using hlstm::Reduce;

TEST(Comm, ReductionsAndPrefix) {
    Comm comm;
    const int n = comm.size();
    EXPECT_EQ(comm.allreduce(comm.rank(), Reduce::kSum), n * (n - 1) / 2);
    EXPECT_EQ(comm.allreduce(comm.rank(), Reduce::kMax), n - 1);
    EXPECT_DOUBLE_EQ(comm.allreduce(1.5 * comm.rank(), Reduce::kMin), 0.0);
    EXPECT_EQ(comm.exscan(static_cast<std::uint64_t>(comm.rank() + 1)),
              static_cast<std::uint64_t>(comm.rank() * (comm.rank() + 1) / 2));
}

TEST(Comm, GathervConcatenatesInRankOrder) {
    Comm comm;
    std::vector<int> local(static_cast<std::size_t>(comm.rank() + 1), comm.rank());
    auto all = comm.allgatherv(local);
    std::vector<int> expected;
    for (int r = 0; r < comm.size(); ++r) expected.insert(expected.end(), static_cast<std::size_t>(r + 1), r);
    EXPECT_EQ(all, expected);
}

TEST(Comm, AlltoallvDeliversEachPeersSlice) {
    Comm comm;
    // Rank r sends (d + 1) values r*1000 + d*10 + j to rank d.
    std::vector<std::size_t> counts;
    std::vector<long> send;
    for (int d = 0; d < comm.size(); ++d) {
        counts.push_back(static_cast<std::size_t>(d + 1));
        for (int j = 0; j <= d; ++j) send.push_back(comm.rank() * 1000L + d * 10L + j);
    }
    auto got = comm.alltoallv(send, counts);
    std::vector<long> expected;
    for (int s = 0; s < comm.size(); ++s)
        for (int j = 0; j <= comm.rank(); ++j) expected.push_back(s * 1000L + comm.rank() * 10L + j);
    EXPECT_EQ(got, expected);
}

// The same exchange when every rank knows what it receives (rank s sends rank r r + 1 values):
// one MPI_Alltoallv without the counts' exchange.
TEST(Comm, AlltoallvWithKnownCountsDeliversEachPeersSlice) {
    Comm comm;
    std::vector<std::size_t> counts, received;
    std::vector<float> send;
    for (int d = 0; d < comm.size(); ++d) {
        counts.push_back(static_cast<std::size_t>(d + 1));
        received.push_back(static_cast<std::size_t>(comm.rank() + 1));
        for (int j = 0; j <= d; ++j) send.push_back(static_cast<float>(comm.rank() * 1000 + d * 10 + j));
    }
    const std::vector<float> got = comm.alltoallvKnown(send, counts, received);
    std::vector<float> expected;
    for (int s = 0; s < comm.size(); ++s)
        for (int j = 0; j <= comm.rank(); ++j) expected.push_back(static_cast<float>(s * 1000 + comm.rank() * 10 + j));
    EXPECT_EQ(got, expected);
    // Counts for another number of ranks are refused before any exchange.
    EXPECT_THROW((void)comm.alltoallvKnown(send, counts, std::vector<std::size_t>(counts.size() + 1, 0)),
                 std::exception);
}

TEST(Comm, SerializedObjectsTravel) {
    Comm comm;
    std::map<std::string, std::vector<double>> obj;
    if (comm.isRoot()) obj = {{"a", {1.0, 2.5}}, {"bb", {}}};
    comm.bcast(obj);
    ASSERT_EQ(obj.size(), 2u);
    EXPECT_EQ(obj["a"], (std::vector<double>{1.0, 2.5}));

    std::vector<std::string> parts;
    if (comm.isRoot())
        for (int r = 0; r < comm.size(); ++r) parts.push_back(std::string(static_cast<std::size_t>(r + 2), 'x'));
    auto mine = comm.scatter(parts);
    EXPECT_EQ(mine, std::string(static_cast<std::size_t>(comm.rank() + 2), 'x'));

    if (comm.size() > 1) {
        if (comm.rank() == 1) comm.send(std::string("hello"), 0, 5);
        if (comm.isRoot()) {
            std::string s;
            comm.recv(s, 1, 5);
            EXPECT_EQ(s, "hello");
        }
    }
}

TEST(BlockRange, CoversEveryItemOnce) {
    for (std::size_t n : {0u, 1u, 7u, 100u})
        for (int size = 1; size <= 5; ++size) {
            std::size_t next = 0;
            for (int r = 0; r < size; ++r) {
                auto b = hlstm::blockRange(n, size, r);
                EXPECT_EQ(b.begin, next);
                EXPECT_LE(b.count(), n / static_cast<std::size_t>(size) + 1);
                next = b.end;
            }
            EXPECT_EQ(next, n);
        }
}

TEST(Comm, IdleBarrierSleepsInsteadOfSpinning) {
    // Rank 0 works for 1.5 s; the others wait in idleBarrier. A plain MPI_Barrier busy-waits
    // (CPU time ~ wall time); the waiting ranks here must use a small fraction of it.
    Comm comm;
    const auto cpuSeconds = [] {
        timespec t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
    };
    comm.barrier();
    const double cpu0 = cpuSeconds();
    const auto wall0 = std::chrono::steady_clock::now();
    if (comm.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    comm.idleBarrier();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    const double cpu = cpuSeconds() - cpu0;
    EXPECT_GE(wall, 1.4);  // everyone waited for rank 0
    if (comm.rank() != 0) EXPECT_LT(cpu, 0.25 * wall) << "cpu " << cpu << " s of " << wall << " s";
}

TEST(Comm, IprobeSeesAWaitingMessageWithoutReceivingIt) {
    // Rank 1 sends rank 0 a message with tag 77; rank 0 polls until iprobe names rank 1 as
    // its source, checks that another tag shows nothing, then receives it.
    Comm comm;
    if (comm.size() < 2) {
        EXPECT_FALSE(comm.iprobe(Comm::kAnySource, 77).has_value());
        return;
    }
    if (comm.rank() == 1) comm.send(std::int32_t{4242}, 0, 77);
    if (comm.rank() == 0) {
        std::optional<int> from;
        const auto start = std::chrono::steady_clock::now();
        while (!(from = comm.iprobe(Comm::kAnySource, 77)) &&
               std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_TRUE(from.has_value());
        EXPECT_EQ(*from, 1);
        EXPECT_EQ(comm.iprobe(1, 78), std::nullopt);
        EXPECT_EQ(comm.iprobe(1, 77), std::optional<int>(1));  // still there: not received
        std::int32_t got = 0;
        comm.recv(got, 1, 77);
        EXPECT_EQ(got, 4242);
        EXPECT_EQ(comm.iprobe(1, 77), std::nullopt);
    }
    comm.barrier();
}

// mpi::chooseTransport: ob1 only when every rank is on one node and the user chose no PML.
TEST(Transport, SingleNodeOnlyAndTheUsersChoiceWins) {
    using Env = std::map<std::string, std::string>;
    const auto choose = [](const Env& env) {
        return hlstm::mpi::chooseTransport([&env](const char* name) -> const char* {
            const auto it = env.find(name);
            return it == env.end() ? nullptr : it->second.c_str();
        });
    };
    using Set = std::vector<std::pair<std::string, std::string>>;
    const Set ob1{{"OMPI_MCA_pml", "ob1"}, {"OMPI_MCA_btl", "self,vader,tcp"}};
    EXPECT_EQ(choose({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}}).set, ob1);
    EXPECT_EQ(choose({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}).set, Set{});
    EXPECT_EQ(choose({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_NODES", "1"}}).set, ob1);
    EXPECT_EQ(choose({{"SLURM_PROCID", "3"}, {"SLURM_STEP_NUM_NODES", "2"}}).set, Set{});
    EXPECT_EQ(choose({}).set, ob1);  // a process started alone
    EXPECT_EQ(choose({{"PMIX_RANK", "0"}}).set, Set{});
    // mpirun inside a one-node Slurm step: mpirun's own count decides.
    EXPECT_EQ(choose({{"OMPI_COMM_WORLD_SIZE", "8"},
                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
                      {"SLURM_PROCID", "0"},
                      {"SLURM_STEP_NUM_NODES", "1"}})
                  .set,
              Set{});
    // The user's PML (even empty: Open MPI's own selection) and BTL are kept.
    EXPECT_EQ(choose({{"OMPI_MCA_pml", ""}}).set, Set{});
    EXPECT_EQ(choose({{"OMPI_MCA_pml", "ucx"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}).set,
              Set{});
    EXPECT_EQ(choose({{"OMPI_MCA_btl", "self,vader"}}).set, (Set{{"OMPI_MCA_pml", "ob1"}}));
}

TEST(Comm, FileChecksumSharedByTheRanksIsTheOneRanksChecksum) {
    // 5 blocks and 3 bytes: with 2-4 ranks some hash one block, some two, the last rank the short one.
    Comm comm;
    const std::string path =
        (std::filesystem::temp_directory_path() / ("hlstm-test-comm-checksum." + std::to_string(::getpid()))).string();
    std::string pathOnRoot = path;
    comm.bcast(pathOnRoot);  // one file for every rank
    if (comm.isRoot()) {
        std::string bytes(5 * hlstm::kChecksumBlock + 3, '\0');
        for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) % 251);
        std::FILE* f = std::fopen(pathOnRoot.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
        std::fclose(f);
    }
    comm.barrier();
    const std::string shared = hlstm::fileChecksum(comm, pathOnRoot);
    EXPECT_EQ(shared, hlstm::fileChecksum(pathOnRoot));
    EXPECT_EQ(shared.rfind("xxh64b:", 0), 0u) << shared;
    std::string rootValue = shared;
    comm.bcast(rootValue);
    EXPECT_EQ(shared, rootValue);
    comm.barrier();
    if (comm.isRoot()) std::filesystem::remove(pathOnRoot);
    comm.barrier();
    EXPECT_EQ(hlstm::fileChecksum(comm, pathOnRoot), "");  // gone: empty on every rank
}
