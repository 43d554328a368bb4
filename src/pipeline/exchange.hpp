// Private to src/pipeline: all row traffic between the ranks of one run - the subregions'
// rows from their owners to the trainers, forecasts back to the owners, blocks shared among a
// group, the winners' models and intervals gathered everywhere, and the work-stealing
// messages. MPI only through Comm.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/pipeline/evaluate.hpp"
#include "hlstm/pipeline/plan.hpp"
#include "hlstm/pipeline/progress.hpp"

namespace hlstm::pipeline {

/// Rows of one subregion held by a trainer, in ascending global row order. The series of all
/// subregions a rank holds are one received buffer (subregion-major), so they are held once.
struct SubregionRows {
    std::vector<std::uint64_t> rows;
    std::shared_ptr<const void> buffer;  // owns the received rows of every subregion
    const float* full = nullptr;         // this subregion's rows x epochs (all epochs) inside `buffer`; the
                                         // visible part is its first visible epochs (a strided view)
    std::size_t epochs = 0;
    /// Sliced (a data-parallel subregion all of whose candidates its group trains, run.refit
    /// none): the group's ranks hold consecutive slices of its rows in rank order, this rank the
    /// rows [first, first + rows.size()) of `total`; every stage then works on its slice and
    /// the group gathers (ValidationCut with a group, model::ShardedTraining::slicedRows).
    bool sliced = false;
    std::size_t first = 0, total = 0;
};
using SubregionMap = std::map<std::int32_t, SubregionRows>;

// Block owners send each subregion's rows to the ranks that train it (two Alltoallv: row
// headers, then series). Rows arrive in rank order, each rank's ascending, so every
// subregion's rows are in global row order whatever the rank count (collective).
/// Releases the owners' series (points.displacement) as they are sent, a slice of rows per round,
/// so that a rank holds little more than its share of the archive during the exchange.
/// The subregions in `sliced` (slicedSubregions) go to their group sliced: row p of n to the
/// group rank whose shareOf(n, ., group size) holds p; every rank of the group gets an entry.
SubregionMap redistribute(const Comm& comm, PointSet& points, const std::vector<std::int32_t>& subregion,
                          const Plan& plan, const std::vector<std::int32_t>& pseudo,
                          const std::set<std::int32_t>& sliced = {});

/// Global row of every rank's first kept point, and the total last (size ranks + 1; collective).
std::vector<std::uint64_t> ownerOffsets(const Comm& comm, std::size_t localPoints);

/// Sends `width` floats per global row to the rows' owners; returns nLocal x width, NaN where
/// nothing arrived (collective).
std::vector<float> toOwners(const Comm& comm, const std::vector<std::uint64_t>& offsets, const LocalBlock& block,
                            const std::vector<std::uint64_t>& rows, const std::vector<float>& values,
                            std::size_t width);

/// The rows [first, last) of n that this rank takes when all ranks share n rows.
std::pair<std::size_t, std::size_t> sliceOf(const Comm& comm, std::size_t n);

/// `f` with its rows shared among all ranks: each forecasts a contiguous slice and the slices
/// are all-gathered in rank order. Rows are forecast independently (fixed batch shapes), so
/// every rank gets exactly what `f` gives for the whole block (collective).
Forecaster sharedAmong(const Comm& comm, Forecaster f);
/// The same for a CutForecaster (every cut of a row stays with the row's slice; collective).
CutForecaster sharedCutsAmong(const Comm& comm, CutForecaster f);

/// Serialized models (each subregion's best candidate), gathered on every rank in subregion order.
struct GatheredModels {
    std::vector<std::int32_t> subregion;
    std::vector<std::uint64_t> offset, size;
    std::vector<std::uint8_t> bytes;
};
/// Every rank's (subregion, model bytes) pairs, ordered by subregion id whatever rank won
/// what, so every rank writes the same bytes (collective).
GatheredModels gatherModels(const Comm& comm, const std::vector<std::int32_t>& subregions,
                            const std::vector<std::string>& bytes);

/// Interval half-widths per subregion (Y each, NaN where no rank had any), from every rank's
/// (subregion, half-widths) pairs (collective).
std::vector<std::vector<float>> gatherHalfWidths(const Comm& comm,
                                                 const std::vector<std::pair<std::int32_t, std::vector<float>>>& local,
                                                 std::int32_t nSub, std::size_t Y);

// ---------------------------------------------------------------- work stealing
// The candidates a rank trains alone start where the plan put them, largest first. A rank
// whose queue is empty asks the others in turn for one of theirs; the asked rank answers
// between two minibatches (or while it waits) with its smallest queued candidate and, when
// the asking rank does not hold that subregion, its rows. A candidate's seed and split are its
// own, so the results do not depend on who trains it: the schedule follows the real speeds,
// not the cost model. Learned baselines (a model of all points) are never handed over.
// ---------------------------------------------------------------- progress
// Rank 0 tells the person watching the log how far training is (pipeline/progress.hpp): every
// rank reports each candidate it finished (one small message to rank 0, cost in flops); rank 0
// counts them whenever it serves the work queue (between two minibatches, while it waits) and
// prints at most once per interval. finish() collects every report, however late.
class ProgressChannel {
public:
    ProgressChannel(const Comm& comm, const Plan& plan, double intervalSeconds);
    /// This rank finished (or restored) a candidate of planned cost `cost`.
    void done(double cost);
    /// Rank 0: counts the reports waiting and prints when the interval has passed (non-blocking).
    void poll();
    /// Collective: rank 0 receives every report still on its way and prints the last line.
    void finish();

private:
    static constexpr int kDone = 31003;
    const Comm& comm_;
    std::unique_ptr<TrainProgress> progress_;  // rank 0 only
    std::chrono::steady_clock::time_point start_;
    std::size_t done_ = 0;  // rank 0: candidates done over all ranks
    double costDone_ = 0;
    std::uint64_t sent_ = 0, received_ = 0;
    void count(double cost);
};

class WorkQueue {
public:
    WorkQueue(const Comm& comm, const Plan& plan, std::int32_t nSub, SubregionMap& rows);

    /// How many candidates the plan gave this rank to train alone.
    [[nodiscard]] std::size_t planned() const noexcept { return planned_; }

    /// Answers every pending request of another rank (non-blocking; call often).
    void serve();

    /// The next candidate this rank trains: its own, else one taken from another rank (whose
    /// rows are then added to `rows` if they were not there); nullopt when none is left
    /// anywhere. `from` is set to the rank it came from.
    std::optional<Task> next(int& from);

    /// Stops handing out and taking candidates (this rank is stopping).
    void close() { closed_ = true; }
    /// Progress reports travel with the queue's traffic: serve() lets rank 0 count them.
    void attach(ProgressChannel* progress) { progress_ = progress; }
    /// This rank finished a candidate (for the progress line).
    void candidateDone(double cost) {
        if (progress_ != nullptr) progress_->done(cost);
    }

    /// Waits for every rank, asleep, answering requests meanwhile (collective).
    void finish() {
        comm_.idleBarrier([this] { serve(); });
    }

private:
    static constexpr int kAsk = 31001, kGive = 31002;
    const Comm& comm_;
    const Plan& plan_;
    std::int32_t nSub_;
    SubregionMap& rows_;
    std::deque<Task> queue_;
    std::deque<int> victims_;
    std::size_t planned_ = 0;
    bool closed_ = false;
    ProgressChannel* progress_ = nullptr;
};

}  // namespace hlstm::pipeline
