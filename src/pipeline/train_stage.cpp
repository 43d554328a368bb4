#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/model/network.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// Fits one candidate (alone, or as one of its data-parallel group `team` when `sharded`) and,
// on the rank that keeps it, records its result and model; restores it from its checkpoint
// records when they exist and writes them while it trains.
class CandidateFit {
public:
    CandidateFit(const RunContext& ctx, const Held& h, const CheckpointStore& store, WorkQueue& queue, int slowdownMs,
                 const Task& task, const Comm& team, const model::ShardedTraining* sharded, std::string position)
        : ctx_(ctx),
          h_(h),
          store_(store),
          queue_(queue),
          slowdownMs_(slowdownMs),
          task_(task),
          team_(team),
          sharded_(sharded),
          position_(std::move(position)),
          name_("task-" + std::to_string(task.index)),
          // Records the result and writes checkpoints: the rank training it alone, or the group's first.
          keeper_(sharded == nullptr || task.rank == ctx.comm.rank()) {}

    /// Restores or trains the candidate; adds its result and model to `out` where they are kept.
    void run(TrainOutcome& out) {
        const log::Context context("train subregion " + std::to_string(task_.subregion) +
                                   " L=" + std::to_string(task_.L) + " K=" + std::to_string(task_.K) +
                                   " S=" + std::to_string(task_.S));
        if (restore(out)) {
            if (keeper_) queue_.candidateDone(task_.cost);
            return;
        }
        model::Model fitted = fit();
        const auto& sm = fitted.summary;
        const RunConfig& rc = ctx_.rc;
        const auto scoreStart = std::chrono::steady_clock::now();
        // Every rank holds a data-parallel model: they score it and forecast its points together.
        // The forecasts at the cuts are kept for the position choice (position_choice.cpp).
        double score = std::numeric_limits<double>::quiet_NaN();
        CutScores cutScores = noCutScores();
        if (sm.ok() && (sharded_ != nullptr || keeper_)) {
            const Forecaster f = modelForecaster(fitted, rc.threads);
            // Sliced rows: the cut itself forecasts this rank's rows and gathers the group's.
            std::vector<float> rates =
                h_.cut->ratesAtCuts(sharded_ != nullptr && !h_.rows->sliced ? sharedAmong(team_, f) : f);
            score = h_.cut->scoreOfRates(rates);
            if (rc.incumbent >= 0) cutScores = h_.cut->cutScoresOfRates(rates);  // its paired test only
            out.cutRates[task_.index] = h_.cut->ownRows(std::move(rates));       // sliced: this rank's rows
        }
        releaseFreeMemory();  // the candidate's training buffers, before the next candidate's
        logMemory("train: candidate scored");
        log::debug() << "candidate " << position_ << ": selection score over " << h_.cut->points()
                     << " validation rows x " << h_.cut->cuts().size() << " cuts in "
                     << std::chrono::duration<double>(std::chrono::steady_clock::now() - scoreStart).count() << " s";
        if (!keeper_) {
            if (sharded_ != nullptr) out.models.emplace(task_.index, std::move(fitted));
            return;
        }
        TaskResult r;
        r.index = task_.index;
        r.status = static_cast<std::int32_t>(sm.status);
        r.rank = ctx_.comm.rank();
        r.epochs = sm.epochs;
        r.validationMae = sm.ok() ? sm.validationMae : std::numeric_limits<double>::quiet_NaN();
        r.score = score;
        r.cutScores = cutScores;
        r.seconds = sm.seconds;
        r.trainSamples = sm.trainSamples;
        r.validationSamples = sm.validationSamples;
        r.trainLoss = sm.trainLoss;
        r.bestEpoch = sm.bestEpoch;
        out.local.push_back(r);
        const auto curves = curvesOf(rc, sm);
        out.curves.insert(out.curves.end(), curves.begin(), curves.end());
        log::info() << "candidate " << position_ << ": " << model::toString(sm.status) << ", validation MAE "
                    << r.validationMae << " mm, selection score " << r.score << " mm, " << sm.epochs
                    << " epochs, train loss " << sm.trainLoss << ", " << sm.seconds << " s";
        store_.put(name_ + ".done", finishedRecord(r, fitted));
        store_.remove(name_ + ".state");
        out.models.emplace(task_.index, std::move(fitted));
        queue_.candidateDone(task_.cost);
    }

private:
    // Record `name` of the checkpoints: a data-parallel candidate's are read by its keeper and
    // sent to the group (collective over the group).
    std::optional<std::string> record(const std::string& name) const {
        std::optional<std::string> got = sharded_ == nullptr || keeper_ ? store_.get(name) : std::nullopt;
        if (sharded_ != nullptr) {
            std::string bytes = got ? *got : std::string();
            std::int32_t have = got ? 1 : 0;
            team_.bcast(have, Comm::kRoot);  // the keeper is the group's first rank
            team_.bcast(bytes, Comm::kRoot);
            got = have != 0 ? std::optional<std::string>(bytes) : std::nullopt;
        }
        return got;
    }

    // A finished candidate's record: its result and model, without training.
    bool restore(TrainOutcome& out) const {
        const auto done = record(name_ + ".done");
        if (!done || done->size() <= sizeof(TaskResult)) return false;
        TaskResult r;
        model::Model restored = finishedFrom(*done, r);
        if (keeper_) {
            r.rank = ctx_.comm.rank();
            out.local.push_back(r);
            const auto curves = curvesOf(ctx_.rc, restored.summary);
            out.curves.insert(out.curves.end(), curves.begin(), curves.end());
            log::info() << "candidate " << position_ << ": restored from its checkpoint (selection score " << r.score
                        << " mm)";
        }
        if (keeper_ || sharded_ != nullptr) out.models.emplace(task_.index, std::move(restored));
        return true;
    }

    // Trains the candidate, from its training state's record if there is one. Checkpoints
    // inside the candidate: every run.checkpoint_minutes and at a stop signal, at a minibatch
    // boundary (a data-parallel group agrees on it at every boundary).
    model::Model fit() {
        const RunConfig& rc = ctx_.rc;
        std::optional<model::TrainState> resumeState;
        if (const auto st = record(name_ + ".state")) {
            resumeState = stateFromRecord(*st, store_.dir() + "/" + name_ + ".state");
            log::info() << "candidate " << position_ << ": continuing from its checkpoint at epoch "
                        << resumeState->epoch << ", sample " << resumeState->next << "/" << resumeState->order.size();
        }
        lastSave_ = std::chrono::steady_clock::now();
        model::Interruption interruption;
        interruption.resume = resumeState ? &*resumeState : nullptr;
        interruption.poll = [this] { return poll(); };
        interruption.save = [this](const model::TrainState& state) { save(state); };
        model::TrainConfig tc = rc.train;
        tc.threads = rc.threads;
        const std::uint64_t seed =
            mixKey({rc.seed, static_cast<std::uint64_t>(task_.subregion), static_cast<std::uint64_t>(task_.L),
                    static_cast<std::uint64_t>(task_.K), static_cast<std::uint64_t>(task_.S)});
        try {
            return model::fit(h_.visible(ctx_.axis, rc.trainEpochs(ctx_.visibleEpochs)), h_.split, rc.shapeOf(task_),
                              tc, seed, sharded_, &interruption);
        } catch (const StopRequested& e) {
            throw StopRequested(stopReason() + ": candidate " + position_ + " (subregion " +
                                std::to_string(task_.subregion) + " L=" + std::to_string(task_.L) +
                                " K=" + std::to_string(task_.K) + " S=" + std::to_string(task_.S) + ") " + e.what() +
                                " in " + store_.dir() + "; rerun the same command with --resume to continue");
        }
    }

    // Between two minibatches: answer ranks asking for work, then go on, save or stop.
    model::Interruption::Action poll() {
        queue_.serve();
        if (slowdownMs_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slowdownMs_));
        if (!store_.enabled()) return model::Interruption::Action::kGoOn;
        const double sinceSave = std::chrono::duration<double>(std::chrono::steady_clock::now() - lastSave_).count();
        int want = stopSignal() != 0                                                         ? 2
                   : ctx_.rc.checkpointSeconds > 0 && sinceSave >= ctx_.rc.checkpointSeconds ? 1
                                                                                             : 0;
        if (sharded_ != nullptr) want = team_.allreduce(want, Reduce::kMax);
        return want == 2   ? model::Interruption::Action::kStop
               : want == 1 ? model::Interruption::Action::kSave
                           : model::Interruption::Action::kGoOn;
    }

    void save(const model::TrainState& state) {
        lastSave_ = std::chrono::steady_clock::now();
        if (!keeper_) return;
        store_.put(name_ + ".state", stateRecord(state));
        log::info() << "checkpoint: candidate " << position_ << " at epoch " << state.epoch << ", sample " << state.next
                    << "/" << state.order.size();
    }

    const RunContext& ctx_;
    const Held& h_;
    const CheckpointStore& store_;
    WorkQueue& queue_;
    int slowdownMs_;
    const Task& task_;
    const Comm& team_;
    const model::ShardedTraining* sharded_;
    std::string position_, name_;
    bool keeper_;
    std::chrono::steady_clock::time_point lastSave_;
};

// Data-parallel training by `team`: shard k of each minibatch is computed by group rank
// k % size, the shard records are all-gathered and summed in shard order. `worldRank` names
// this rank for HLSTM_FAIL_INJECT=train:data-parallel@<rank> (a failure inside the exchange).
model::ShardedTraining shardedOver(const Comm& team, int shards, int worldRank, bool slicedRows) {
    const int ranks = team.size();
    model::ShardedTraining sharded;
    sharded.shards = shards;
    // A sliced subregion (SubregionRows::sliced): each group rank holds its slice of the rows.
    sharded.slicedRows = slicedRows;
    sharded.gatherDoubles = [&team](const std::vector<double>& mine) { return team.allgatherv(mine); };
    sharded.alltoall = [&team](const std::vector<float>& send, const std::vector<std::size_t>& counts,
                               const std::vector<std::size_t>& received) {
        return team.alltoallvKnown(send, counts, received);  // each side knows both: one collective
    };
    sharded.mine = [&team, ranks](int k) { return k % ranks == team.rank(); };
    sharded.part = team.rank();
    sharded.parts = ranks;
    sharded.gather = [&team](const std::vector<float>& mine) { return team.allgatherv(mine); };
    sharded.exchange = [&team, ranks, shards, worldRank](const std::vector<float>& mine, std::size_t R,
                                                         std::vector<float>& all) {
        maybeInjectFailure("train:data-parallel", worldRank);
        // Rank r holds shards r, r + ranks, ...: every rank knows every rank's count.
        const std::size_t P = static_cast<std::size_t>(shards);
        std::vector<std::size_t> counts(static_cast<std::size_t>(ranks));
        for (std::size_t r = 0; r < counts.size(); ++r) counts[r] = (P + counts.size() - 1 - r) / counts.size() * R;
        const std::vector<float> gathered = team.allgatherv(mine, counts);
        // Rank order -> shard order.
        all.assign(gathered.size(), 0.0f);
        std::size_t at = 0;
        for (int r = 0; r < ranks; ++r)
            for (std::size_t k = static_cast<std::size_t>(r); k < P; k += static_cast<std::size_t>(ranks), at += R)
                std::copy_n(gathered.data() + at, R, all.data() + k * R);
    };
    return sharded;
}

std::string stopMessage(const CheckpointStore& store, std::size_t done, std::size_t of) {
    return stopReason() + ": stopped before candidate " + std::to_string(done + 1) + "/" + std::to_string(of) +
           " of this rank; the finished candidates are in " + store.dir() +
           ": rerun the same command with --resume to continue";
}

}  // namespace

std::size_t curveWidth(const RunConfig& rc) { return 2 * static_cast<std::size_t>(rc.train.epochs); }

std::vector<double> curvesOf(const RunConfig& rc, const model::FitSummary& summary) {
    const std::size_t epochs = static_cast<std::size_t>(rc.train.epochs);
    std::vector<double> row(curveWidth(rc), std::numeric_limits<double>::quiet_NaN());
    std::copy_n(summary.lossCurve.begin(), std::min(epochs, summary.lossCurve.size()), row.begin());
    std::copy_n(summary.maeCurve.begin(), std::min(epochs, summary.maeCurve.size()), row.begin() + epochs);
    return row;
}

TrainOutcome trainStage(const RunContext& ctx, SubregionMap& rows, HeldMap& held, const CheckpointStore& store) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    TrainOutcome out;
    WorkQueue queue(comm, ctx.plan, ctx.nSub, rows);
    ProgressChannel progress(comm, ctx.plan, rc.progressSeconds);
    queue.attach(&progress);
    const int slowdownMs = injectedSlowdownMs(comm.rank());
    auto trainOne = [&](const Task& task, const Comm& team, const model::ShardedTraining* sharded,
                        const std::string& position) {
        CandidateFit(ctx, held.at(task.subregion), store, queue, slowdownMs, task, team, sharded, position).run(out);
    };

    // Data-parallel candidates first, each by its group. Every rank takes its groups'
    // candidates in plan order (so the groups' collectives never wait on each other in a
    // cycle), then the candidates it trains alone.
    const auto groupTasks = ctx.plan.groupTasksOf(comm.rank());
    const std::size_t planned = groupTasks.size() + queue.planned();
    // Before each data-parallel candidate its group agrees: 0 go, 1 stop (a signal), 2 a member
    // failed. A rank that stopped or failed still joins this agreement of each of its later
    // groups, so that no group waits for it.
    enum Verdict : int { kGo = 0, kStop = 1, kFailed = 2 };
    std::size_t visited = 0;  // group tasks whose agreement this rank has joined
    bool inGroupTask = false, abandoned = false;
    int groupSize = 0;  // of the data-parallel candidate in training
    coordinated(
        comm, "train",
        [&] {
            std::size_t done = 0;
            std::exception_ptr stopped;
            for (; visited < groupTasks.size(); ++visited) {
                const Task& task = groupTasks[visited];
                const Comm& team = *ctx.groups.at(task.subregion);
                const model::ShardedTraining sharded =
                    shardedOver(team, rc.shards, comm.rank(), held.at(task.subregion).rows->sliced);
                const int verdict = team.allreduce(static_cast<int>(abandoned                      ? kFailed
                                                                    : stopped || stopSignal() != 0 ? kStop
                                                                                                   : kGo),
                                                   Reduce::kMax);
                if (verdict == kFailed) abandoned = true;  // the run fails: this rank trains nothing more
                if (verdict == kStop && !stopped)
                    stopped = std::make_exception_ptr(StopRequested(stopMessage(store, done, planned)));
                if (verdict != kGo) continue;
                ++done;
                inGroupTask = true;
                groupSize = team.size();
                try {
                    trainOne(task, team, &sharded,
                             std::to_string(done) + "/" + std::to_string(planned) +
                                 " on this rank (data-parallel on ranks " + std::to_string(task.rank) + ".." +
                                 std::to_string(task.rank + task.groupSize - 1) + ")");
                } catch (const StopRequested&) {
                    stopped = std::current_exception();  // the whole group stopped at the same minibatch
                }
                inGroupTask = false;
            }
            if (abandoned) {
                queue.close();  // another rank's failure is reported for all at the end of the phase
                return;
            }
            if (stopped) std::rethrow_exception(stopped);
            // Then the candidates trained alone: this rank's, then others' (work stealing).
            int from = comm.rank();
            while (true) {
                // Slurm's warning (USR1) or TERM: stop at this task boundary, before the output
                // exists, so that the job can be requeued (exit code 3).
                if (stopSignal() != 0) throw StopRequested(stopMessage(store, done, planned));
                std::optional<Task> task = queue.next(from);
                if (!task) break;
                if (held.count(task->subregion) == 0)  // its rows arrived with it
                    held.emplace(task->subregion, holdSubregion(task->subregion, rows.at(task->subregion), rc, ctx.axis,
                                                                ctx.visibleEpochs));
                ++done;
                trainOne(*task, comm, nullptr,
                         from == comm.rank()
                             ? std::to_string(done) + "/" + std::to_string(planned) + " on this rank"
                             : std::to_string(done) + " on this rank (taken from rank " + std::to_string(from) + ", " +
                                   std::to_string(planned) + " planned here)");
            }
        },
        [&](bool failed) {
            // A failure inside a data-parallel candidate leaves the rest of its group in that
            // candidate's collectives, which can never complete: no agreement can reach them, so
            // the job ends from here (main reports this rank's message once and aborts MPI).
            if (failed && inGroupTask && groupSize > 1) throw AgreementImpossible{};
            if (failed) {
                queue.close();  // hands out nothing more
                // Tell this rank's later groups.
                for (std::size_t k = visited + (inGroupTask ? 1 : 0); k < groupTasks.size(); ++k)
                    (void)ctx.groups.at(groupTasks[k].subregion)->allreduce(static_cast<int>(kFailed), Reduce::kMax);
            }
            queue.finish();     // ranks done early (or failed) sleep here, answering those still working
            progress.finish();  // collective: every report reaches rank 0, which prints the last line
        });
    return out;
}

}  // namespace hlstm::pipeline
