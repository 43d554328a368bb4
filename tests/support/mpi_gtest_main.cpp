// GoogleTest main for MPI tests: only rank 0 prints; after each test the ranks agree on
// the result and rank 0 names every rank on which it failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <string>
#include <vector>

#include "hlstm/core/mpi_transport.hpp"

namespace {

class RankAgreement : public testing::EmptyTestEventListener {
public:
    explicit RankAgreement(int rank, int size) : rank_(rank), size_(size) {}
    // Non-root ranks have no printer: show their failed assertions, prefixed with the rank.
    void OnTestPartResult(const testing::TestPartResult& result) override {
        if (rank_ != 0 && result.failed())
            std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, result.file_name() ? result.file_name() : "?",
                         result.line_number(), result.message());
    }
    void OnTestEnd(const testing::TestInfo& info) override {
        int failed = info.result()->Failed() ? 1 : 0;
        std::vector<int> all(static_cast<std::size_t>(size_));
        MPI_Allgather(&failed, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
        if (rank_ != 0) {
            if (failed) std::fprintf(stderr, "[rank %d] %s.%s FAILED\n", rank_, info.test_suite_name(), info.name());
            return;
        }
        std::string ranks;
        for (int r = 0; r < size_; ++r)
            if (all[static_cast<std::size_t>(r)]) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
        if (!ranks.empty())
            std::fprintf(stderr, "[mpi] %s.%s failed on rank(s) %s of %d\n", info.test_suite_name(), info.name(),
                         ranks.c_str(), size_);
        anyFailed_ = anyFailed_ || !ranks.empty();
    }
    bool anyFailed() const { return anyFailed_; }

private:
    int rank_, size_;
    bool anyFailed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    hlstm::mpi::applyTransportChoice();  // as hlstm's MpiSession: no network probe on one node
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    testing::InitGoogleTest(&argc, argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    if (rank != 0) delete listeners.Release(listeners.default_result_printer());
    auto* agreement = new RankAgreement(rank, size);
    listeners.Append(agreement);
    int local = RUN_ALL_TESTS();
    int global = 0;
    MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return global;
}
