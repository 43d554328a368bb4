#include "exchange.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"

namespace hlstm::pipeline {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A row travelling to a trainer: global row and subregion; the series follows separately.
struct RowHeader {
    std::uint64_t row = 0;
    std::int32_t subregion = 0;
    std::int32_t pad = 0;
};

// Gives the whole pages inside [data, data + bytes) back to the system (their contents are not
// read again; the allocation itself stays valid and is freed as usual). Peak memory, not speed.
void releasePages(const void* data, std::size_t bytes) {
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t first = (begin + page - 1) / page * page, last = (begin + bytes) / page * page;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

// The bytes of series a rank sends per round: 8 MiB, or HLSTM_REDISTRIBUTE_ROUND_BYTES (a test's
// many rounds on a small scene).
std::size_t roundBytes() {
    if (const char* v = std::getenv("HLSTM_REDISTRIBUTE_ROUND_BYTES")) {
        char* end = nullptr;
        const unsigned long long bytes = std::strtoull(v, &end, 10);
        if (end != v && *end == '\0' && bytes > 0) return static_cast<std::size_t>(bytes);
    }
    return std::size_t{8} << 20;
}

}  // namespace

SubregionMap redistribute(const Comm& comm, PointSet& points, const std::vector<std::int32_t>& subregion,
                          const Plan& plan, const std::vector<std::int32_t>& pseudo,
                          const std::set<std::int32_t>& sliced) {
    // Every subregion's first rank also computes its baselines: it always gets the rows.
    const std::size_t m = points.nEpochs();
    const auto ranks = static_cast<std::size_t>(comm.size());
    // A sliced subregion's row goes to one rank of its group: the global position of the row
    // among the subregion's (owners in rank order, each one's rows ascending) decides which.
    const std::vector<std::int32_t> slicedList(sliced.begin(), sliced.end());
    const std::size_t S = slicedList.size();
    std::vector<std::uint64_t> before(S, 0), total(S, 0), seen(S, 0);
    if (S > 0) {
        std::vector<std::uint64_t> mineCount(S, 0);
        for (std::size_t i = 0; i < points.size(); ++i) {
            const auto at = std::lower_bound(slicedList.begin(), slicedList.end(), subregion[i]);
            if (at != slicedList.end() && *at == subregion[i])
                ++mineCount[static_cast<std::size_t>(at - slicedList.begin())];
        }
        const std::vector<std::uint64_t> counts = comm.allgatherv(mineCount);  // ranks x S
        for (std::size_t r = 0; r < ranks; ++r)
            for (std::size_t k = 0; k < S; ++k) {
                if (r < static_cast<std::size_t>(comm.rank())) before[k] += counts[r * S + k];
                total[k] += counts[r * S + k];
            }
    }
    auto sliceHolder = [&](std::size_t k, std::uint64_t p) {  // the group rank holding row p
        const auto [first, size] = plan.groupOf(slicedList[k]);
        std::size_t g = 0;
        while (g + 1 < static_cast<std::size_t>(size) &&
               shareOf(total[k], g + 1, static_cast<std::size_t>(size)).first <= p)
            ++g;
        return static_cast<std::size_t>(first) + g;
    };
    // (row, subregion) pairs per destination: a point also goes to the trainers of every
    // pseudo subregion (learned baselines of all points).
    std::vector<std::vector<std::pair<std::size_t, std::int32_t>>> toRank(ranks);
    std::vector<std::vector<std::int32_t>> pseudoRanks;
    for (auto p : pseudo) pseudoRanks.push_back(plan.ranksOf(p));
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto at = std::lower_bound(slicedList.begin(), slicedList.end(), subregion[i]);
        if (at != slicedList.end() && *at == subregion[i]) {
            const auto k = static_cast<std::size_t>(at - slicedList.begin());
            toRank[sliceHolder(k, before[k] + seen[k]++)].emplace_back(i, subregion[i]);
        } else {
            for (auto r : plan.ranksOf(subregion[i])) toRank[static_cast<std::size_t>(r)].emplace_back(i, subregion[i]);
        }
        for (std::size_t k = 0; k < pseudo.size(); ++k)
            for (auto r : pseudoRanks[k]) toRank[static_cast<std::size_t>(r)].emplace_back(i, pseudo[k]);
    }
    std::vector<RowHeader> sendHead;
    std::vector<std::size_t> headCounts(ranks, 0);
    for (std::size_t r = 0; r < ranks; ++r) {
        for (const auto& [i, s] : toRank[r]) sendHead.push_back({points.rows[i], s, 0});
        headCounts[r] = toRank[r].size();
    }
    const std::vector<RowHeader> recvHead = comm.alltoallv(sendHead, headCounts);
    sendHead = {};
    // Subregion-major order, stable (rank order, each rank's rows ascending): received row k
    // goes to row dest[k] of the one buffer of this rank's subregions.
    const std::size_t nRecv = recvHead.size();
    std::map<std::int32_t, std::size_t> start;
    for (const auto& h : recvHead) ++start[h.subregion];
    std::size_t at = 0;
    for (auto& [s, count] : start) std::swap(count, at), at += count;  // counts -> first positions
    std::map<std::int32_t, std::size_t> next = start;
    std::vector<std::size_t> dest(nRecv);
    for (std::size_t k = 0; k < nRecv; ++k) dest[k] = next[recvHead[k].subregion]++;
    // Not value-initialised: a page of it is resident only once rows are written into it.
    std::shared_ptr<float> buffer(new float[std::max<std::size_t>(nRecv * m, 1)], std::default_delete<float[]>());
    // The series travel in rounds: in round j every rank sends the rows of the j-th of R equal
    // slices of its block, then releases their pages; the receivers place them at once. So a
    // rank holds its unsent rows, what it received so far and one round in flight: about its
    // share, not its share twice. A received row's round follows from its owner's slices.
    const std::size_t roundSize = roundBytes();
    const std::vector<std::uint64_t> offsets = ownerOffsets(comm, points.size());
    const std::size_t rounds = std::max<std::size_t>(
        1,
        comm.allreduce<std::uint64_t>((points.size() * m * sizeof(float) + roundSize - 1) / roundSize, Reduce::kMax));
    auto sliceEnd = [rounds](std::size_t n, std::size_t j) { return n * (j + 1) / rounds; };
    // The headers came in owner order, each owner's rows ascending, so each owner's received
    // rows are a run of k whose rounds never decrease: a cursor per owner finds a round's rows
    // (in k order, as they lie in the round's message) without scanning every row per round.
    std::vector<std::size_t> roundOf(nRecv), receiveAt(ranks, 0), ownerEnd(ranks, 0);  // owner q: k in [at, end)
    for (std::size_t k = 0, last = 0; k < nRecv; ++k) {
        const std::uint64_t row = recvHead[k].row;
        const auto q =
            static_cast<std::size_t>(std::upper_bound(offsets.begin(), offsets.end(), row) - offsets.begin() - 1);
        const std::size_t n = offsets[q + 1] - offsets[q], i = row - offsets[q];
        std::size_t j = i * rounds / std::max<std::size_t>(n, 1);  // then the exact slice of i
        while (j > 0 && i < n * j / rounds) --j;
        while (i >= sliceEnd(n, j)) ++j;
        roundOf[k] = j;
        if (k > 0 && (q < last || (q == last && j < roundOf[k - 1])))
            throw std::logic_error("redistribute: the headers are not in owner and round order");
        if (k == 0 || q != last) receiveAt[q] = k;
        ownerEnd[q] = k + 1;
        last = q;
    }
    logMemory("redistribute: headers exchanged, " + std::to_string(nRecv) + " rows to receive");
    log::debug() << "redistribute: " << nRecv << " rows to receive in " << rounds << " round(s) of up to " << roundSize
                 << " bytes sent per rank";
    std::vector<std::size_t> cursor(ranks, 0);  // next entry of toRank[r] to send
    std::vector<float> sendSeries, got;         // reused: not a fresh mapping to fault in per round
    std::size_t received = 0;
    for (std::size_t j = 0; j < rounds; ++j) {
        const std::size_t lo = points.size() * j / rounds, hi = sliceEnd(points.size(), j);
        sendSeries.clear();
        std::vector<std::size_t> seriesCounts(ranks, 0);
        for (std::size_t r = 0; r < ranks; ++r) {
            std::size_t& c = cursor[r];
            const std::size_t from = c;
            for (; c < toRank[r].size() && toRank[r][c].first < hi; ++c)
                sendSeries.insert(sendSeries.end(), points.series(toRank[r][c].first),
                                  points.series(toRank[r][c].first) + m);
            seriesCounts[r] = (c - from) * m;
        }
        if (hi > lo) releasePages(points.series(lo), (hi - lo) * m * sizeof(float));  // sent: never read again
        comm.alltoallvInto(sendSeries, seriesCounts, got);
        std::size_t g = 0;
        for (std::size_t q = 0; q < ranks; ++q) {
            for (std::size_t& k = receiveAt[q]; k < ownerEnd[q] && roundOf[k] == j; ++k, ++g) {
                if (g * m + m > got.size())
                    throw std::logic_error("redistribute: a round brought fewer rows than expected");
                std::copy_n(got.data() + g * m, m, buffer.get() + dest[k] * m);
            }
        }
        if (g * m != got.size()) throw std::logic_error("redistribute: a round brought more rows than expected");
        received += g;
    }
    if (received != nRecv) throw std::logic_error("redistribute: rows received in rounds do not match the headers");
    logMemory("redistribute: rows received");
    toRank.clear();
    std::vector<float>().swap(points.displacement);
    std::map<std::int32_t, SubregionRows> mine;
    for (const auto& [s, first] : start) {
        auto& sr = mine[s];
        sr.buffer = buffer;
        sr.full = buffer.get() + first * m;
        sr.epochs = m;
    }
    for (const auto& h : recvHead) mine[h.subregion].rows.push_back(h.row);
    for (std::size_t k = 0; k < S; ++k) {  // every rank of a sliced subregion's group holds an entry
        const auto [first, size] = plan.groupOf(slicedList[k]);
        const int g = comm.rank() - first;
        if (g < 0 || g >= size) continue;
        SubregionRows& sr = mine[slicedList[k]];
        const auto [from, to] = shareOf(total[k], static_cast<std::size_t>(g), static_cast<std::size_t>(size));
        if (sr.rows.size() != to - from) throw std::logic_error("redistribute: a sliced subregion's slice is short");
        if (!sr.buffer) sr.buffer = buffer, sr.full = buffer.get(), sr.epochs = m;
        sr.sliced = true;
        sr.first = from;
        sr.total = total[k];
    }
    std::uint64_t heldRows = 0;
    std::size_t slicedHere = 0;
    for (const auto& [s, sr] : mine) heldRows += sr.rows.size(), slicedHere += sr.sliced ? 1 : 0;
    log::debug() << "holds " << heldRows << " rows of " << mine.size() << " subregion(s) for training"
                 << (slicedHere > 0 ? ", " + std::to_string(slicedHere) + " of them sliced over their group"
                                    : std::string());
    return mine;
}

std::vector<std::uint64_t> ownerOffsets(const Comm& comm, std::size_t localPoints) {
    std::vector<std::uint64_t> offsets(static_cast<std::size_t>(comm.size()) + 1, 0);
    const auto counts = comm.allgather<std::uint64_t>(localPoints);
    for (std::size_t r = 0; r < counts.size(); ++r) offsets[r + 1] = offsets[r] + counts[r];
    return offsets;
}

std::vector<float> toOwners(const Comm& comm, const std::vector<std::uint64_t>& offsets, const LocalBlock& block,
                            const std::vector<std::uint64_t>& rows, const std::vector<float>& values,
                            std::size_t width) {
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<std::vector<std::size_t>> byOwner(ranks);
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const auto owner =
            static_cast<std::size_t>(std::upper_bound(offsets.begin(), offsets.end(), rows[k]) - offsets.begin() - 1);
        byOwner[owner].push_back(k);
    }
    // The send buffers are sized once and freed before the owners' table is allocated (peak
    // memory: a national block's values are held at most three times, here and the caller's).
    std::vector<std::uint64_t> gotRows;
    std::vector<float> gotVals;
    {
        std::vector<std::uint64_t> sendRows;
        std::vector<float> sendVals;
        sendRows.reserve(rows.size());
        sendVals.reserve(rows.size() * width);
        std::vector<std::size_t> rowCounts(ranks), valCounts(ranks);
        for (std::size_t r = 0; r < ranks; ++r) {
            for (std::size_t k : byOwner[r]) {
                sendRows.push_back(rows[k]);
                sendVals.insert(sendVals.end(), values.begin() + static_cast<std::ptrdiff_t>(k * width),
                                values.begin() + static_cast<std::ptrdiff_t>((k + 1) * width));
            }
            rowCounts[r] = byOwner[r].size();
            valCounts[r] = byOwner[r].size() * width;
        }
        std::vector<std::vector<std::size_t>>().swap(byOwner);
        gotRows = comm.alltoallv(sendRows, rowCounts);
        gotVals = comm.alltoallv(sendVals, valCounts);
    }
    std::vector<float> out(block.points.size() * width, kNaN);
    for (std::size_t k = 0; k < gotRows.size(); ++k)
        std::copy_n(gotVals.data() + k * width, width, out.data() + (gotRows[k] - block.keptOffset) * width);
    return out;
}

std::pair<std::size_t, std::size_t> sliceOf(const Comm& comm, std::size_t n) {
    return shareOf(n, static_cast<std::size_t>(comm.rank()), static_cast<std::size_t>(comm.size()));
}

Forecaster sharedAmong(const Comm& comm, Forecaster f) {
    return [&comm, f = std::move(f)](const model::SeriesView& v) {
        const auto [first, last] = sliceOf(comm, v.points);
        model::SeriesView slice = v;
        slice.cumulative = v.row(first);
        slice.points = last - first;
        slice.stride = v.stride != 0 ? v.stride : v.epochs;
        return comm.allgatherv(slice.points > 0 ? f(slice) : std::vector<float>{});
    };
}

CutForecaster sharedCutsAmong(const Comm& comm, CutForecaster f) {
    return [&comm, f = std::move(f)](const model::SeriesView& v, const std::vector<std::size_t>& cuts) {
        const auto [first, last] = sliceOf(comm, v.points);
        model::SeriesView slice = v;
        slice.cumulative = v.row(first);
        slice.points = last - first;
        slice.stride = v.stride != 0 ? v.stride : v.epochs;
        return comm.allgatherv(slice.points > 0 ? f(slice, cuts) : std::vector<float>{});
    };
}

GatheredModels gatherModels(const Comm& comm, const std::vector<std::int32_t>& subregions,
                            const std::vector<std::string>& bytes) {
    GatheredModels out;
    const std::vector<std::int32_t> modelSub = comm.allgatherv(subregions);
    std::vector<std::uint64_t> localSizes;
    std::vector<char> localBytes;
    for (const auto& b : bytes) {
        localSizes.push_back(b.size());
        localBytes.insert(localBytes.end(), b.begin(), b.end());
    }
    const std::vector<std::uint64_t> sizes = comm.allgatherv(localSizes);
    const std::vector<char> all = comm.allgatherv(localBytes);
    std::vector<std::size_t> order(modelSub.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return modelSub[a] < modelSub[b]; });
    std::vector<std::uint64_t> src(modelSub.size() + 1, 0);
    for (std::size_t i = 0; i < modelSub.size(); ++i) src[i + 1] = src[i] + sizes[i];
    for (std::size_t i : order) {
        out.subregion.push_back(modelSub[i]);
        out.offset.push_back(out.bytes.size());
        out.size.push_back(sizes[i]);
        out.bytes.insert(out.bytes.end(), all.begin() + static_cast<std::ptrdiff_t>(src[i]),
                         all.begin() + static_cast<std::ptrdiff_t>(src[i + 1]));
    }
    return out;
}

std::vector<std::vector<float>> gatherHalfWidths(const Comm& comm,
                                                 const std::vector<std::pair<std::int32_t, std::vector<float>>>& local,
                                                 std::int32_t nSub, std::size_t Y) {
    std::vector<std::vector<float>> halfWidths(static_cast<std::size_t>(nSub), std::vector<float>(Y, kNaN));
    std::vector<float> flat;
    for (const auto& [s, hw] : local) {
        flat.push_back(static_cast<float>(s));
        flat.insert(flat.end(), hw.begin(), hw.end());
    }
    const auto all = comm.allgatherv(flat);
    for (std::size_t o = 0; o + Y + 1 <= all.size(); o += Y + 1)
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(o + 1), Y,
                    halfWidths[static_cast<std::size_t>(all[o])].begin());
    return halfWidths;
}

// ---------------------------------------------------------------- progress
ProgressChannel::ProgressChannel(const Comm& comm, const Plan& plan, double intervalSeconds)
    : comm_(comm), start_(std::chrono::steady_clock::now()) {
    if (!comm.isRoot()) return;
    ProgressTotals totals;
    totals.candidates = plan.tasks.size();
    for (const auto& t : plan.tasks) totals.cost += t.cost;
    totals.expectedSeconds = plan.expectedSeconds;
    // A terminal gets one redrawn line; a file (a Slurm log) gets appended lines. With an
    // interval of 0 only the first and the last line are printed.
    const bool terminal = ::isatty(::fileno(stderr)) != 0;
    progress_ =
        std::make_unique<TrainProgress>(totals, stderr, terminal, intervalSeconds > 0 ? intervalSeconds : 1e300);
    progress_->update("train", 0, 0, 0);
}

void ProgressChannel::count(double cost) {
    ++done_;
    costDone_ += cost;
}

void ProgressChannel::done(double cost) {
    if (comm_.isRoot()) {
        count(cost);
        poll();
        return;
    }
    comm_.send(cost, Comm::kRoot, kDone);
    ++sent_;
}

void ProgressChannel::poll() {
    if (!progress_) return;
    while (comm_.size() > 1) {
        const std::optional<int> from = comm_.iprobe(Comm::kAnySource, kDone);
        if (!from) break;
        double cost = 0;
        comm_.recv(cost, *from, kDone);
        ++received_;
        count(cost);
    }
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    progress_->update("train", done_, costDone_, now);
}

void ProgressChannel::finish() {
    // Every report sent is received before the last line: rank 0 learns how many there were.
    const std::vector<std::uint64_t> sent = comm_.allgatherv(std::vector<std::uint64_t>{sent_});
    if (!progress_) return;
    std::uint64_t total = 0;
    for (std::size_t r = 1; r < sent.size(); ++r) total += sent[r];
    while (received_ < total) {
        double cost = 0;
        comm_.recv(cost, Comm::kAnySource, kDone);
        ++received_;
        count(cost);
    }
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    progress_->update("train", done_, costDone_, now);
    progress_->finish(now);
}

// ---------------------------------------------------------------- work stealing
WorkQueue::WorkQueue(const Comm& comm, const Plan& plan, std::int32_t nSub, SubregionMap& rows)
    : comm_(comm), plan_(plan), nSub_(nSub), rows_(rows) {
    for (const auto& t : plan.tasksOf(comm.rank())) queue_.push_back(t);
    std::stable_sort(queue_.begin(), queue_.end(), [](const Task& a, const Task& b) { return a.cost > b.cost; });
    for (int k = 1; k < comm.size(); ++k) victims_.push_back((comm.rank() + k) % comm.size());
    planned_ = queue_.size();
}

void WorkQueue::serve() {
    if (progress_ != nullptr) progress_->poll();
    while (comm_.size() > 1) {
        const std::optional<int> asking = comm_.iprobe(Comm::kAnySource, kAsk);
        if (!asking) return;
        const int thief = *asking;
        std::vector<std::int32_t> holds;  // the subregions the asking rank holds already
        comm_.recv(holds, thief, kAsk);
        auto it = std::find_if(queue_.rbegin(), queue_.rend(), [this](const Task& t) { return t.subregion < nSub_; });
        std::int32_t given = -1;
        if (it != queue_.rend() && !closed_) {
            given = it->index;
            queue_.erase(std::next(it).base());
        }
        comm_.send(given, thief, kGive);
        if (given < 0) continue;
        const Task& t = plan_.tasks[static_cast<std::size_t>(given)];
        const bool ship = std::find(holds.begin(), holds.end(), t.subregion) == holds.end();
        if (ship) {
            const SubregionRows& sr = rows_.at(t.subregion);
            comm_.send(sr.rows, thief, kGive);
            comm_.send(std::vector<float>(sr.full, sr.full + sr.rows.size() * sr.epochs), thief, kGive);
        }
        log::info() << "handed candidate (subregion " << t.subregion << " L=" << t.L << " K=" << t.K << " S=" << t.S
                    << ") to rank " << thief
                    << (ship ? " with its " + std::to_string(rows_.at(t.subregion).rows.size()) + " rows" : "");
    }
}

std::optional<Task> WorkQueue::next(int& from) {
    serve();
    from = comm_.rank();
    if (!queue_.empty() && !closed_) {
        Task t = queue_.front();
        queue_.pop_front();
        return t;
    }
    while (!victims_.empty() && !closed_) {
        const int victim = victims_.front();
        std::vector<std::int32_t> holds;
        for (const auto& [s, sr] : rows_) holds.push_back(s);
        comm_.send(holds, victim, kAsk);
        // Sleep while waiting (the victim answers between two of its minibatches), and
        // answer the others meanwhile: two ranks may ask each other at once.
        auto pause = std::chrono::microseconds(200);
        while (!comm_.iprobe(victim, kGive)) {
            serve();
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::microseconds(20000));
        }
        std::int32_t given = -1;
        comm_.recv(given, victim, kGive);
        if (given < 0) {  // its queue is empty for good: nobody adds to a queue
            victims_.pop_front();
            continue;
        }
        const Task& t = plan_.tasks[static_cast<std::size_t>(given)];
        if (rows_.count(t.subregion) == 0) {
            SubregionRows sr;
            comm_.recv(sr.rows, victim, kGive);
            auto series = std::make_shared<std::vector<float>>();
            comm_.recv(*series, victim, kGive);
            sr.epochs = sr.rows.empty() ? 0 : series->size() / sr.rows.size();
            sr.full = series->data();
            sr.buffer = std::move(series);
            rows_.emplace(t.subregion, std::move(sr));
        }
        from = victim;
        return t;
    }
    return std::nullopt;
}

}  // namespace hlstm::pipeline
