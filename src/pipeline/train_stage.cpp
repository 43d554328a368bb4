#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/random.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/model/network.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {

TrainOutcome trainStage(const RunContext& ctx, SubregionMap& rows, HeldMap& held, const CheckpointStore& store) {
    const Comm& comm = ctx.comm;
    const RunConfig& rc = ctx.rc;
    const Plan& plan = ctx.plan;
    const Groups& groups = ctx.groups;
    const model::TimeAxis& axis = ctx.axis;
    const std::size_t visibleEpochs = ctx.visibleEpochs;
    TrainOutcome out;
    WorkQueue queue(comm, plan, ctx.nSub, rows);
    const int slowdownMs = injectedSlowdownMs(comm.rank());
    // Fits one candidate (alone, or as one of its data-parallel group `team` when `sharded`)
    // and, on the rank that keeps it, records its result and model.
    auto trainOne = [&](const Task& task, const Comm& team, const model::ShardedTraining* sharded,
                        const std::string& position) {
        const Held& h = held.at(task.subregion);
        const log::Context context("train subregion " + std::to_string(task.subregion) + " L=" +
                                   std::to_string(task.L) + " K=" + std::to_string(task.K) +
                                   " S=" + std::to_string(task.S));
        model::TrainConfig tc = rc.train;
        tc.threads = rc.threads;
        const std::uint64_t seed = mixKey({rc.seed, static_cast<std::uint64_t>(task.subregion),
                                           static_cast<std::uint64_t>(task.L), static_cast<std::uint64_t>(task.K),
                                           static_cast<std::uint64_t>(task.S)});
        // Records the result and writes checkpoints: the rank training it alone, or the group's first.
        const bool keeper = sharded == nullptr || task.rank == comm.rank();
        // A data-parallel candidate's records are read by its keeper and sent to all.
        auto record = [&](const std::string& name) {
            std::optional<std::string> got = sharded == nullptr || keeper ? store.get(name) : std::nullopt;
            if (sharded != nullptr) {
                std::string bytes = got ? *got : std::string();
                std::int32_t have = got ? 1 : 0;
                team.bcast(have, Comm::kRoot);  // the keeper is the group's first rank
                team.bcast(bytes, Comm::kRoot);
                got = have != 0 ? std::optional<std::string>(bytes) : std::nullopt;
            }
            return got;
        };
        const std::string name = "task-" + std::to_string(task.index);
        if (const auto done = record(name + ".done"); done && done->size() > sizeof(TaskResult)) {
            TaskResult r;
            model::Model restored = finishedFrom(*done, r);
            if (keeper) {
                r.rank = comm.rank();
                out.local.push_back(r);
                log::info() << "candidate " << position << ": restored from its checkpoint (selection score "
                            << r.score << " mm)";
            }
            if (keeper || sharded != nullptr) out.models.emplace(task.index, std::move(restored));
            return;
        }
        std::optional<model::TrainState> resumeState;
        if (const auto st = record(name + ".state")) {
            resumeState = stateFromRecord(*st, store.dir() + "/" + name + ".state");
            log::info() << "candidate " << position << ": continuing from its checkpoint at epoch " << resumeState->epoch
                        << ", sample " << resumeState->next << "/" << resumeState->order.size();
        }
        // Checkpoints inside the candidate: every run.checkpoint_minutes and at a stop signal,
        // at a minibatch boundary (a data-parallel group agrees on it at every boundary).
        auto lastSave = std::chrono::steady_clock::now();
        model::Interruption interruption;
        interruption.resume = resumeState ? &*resumeState : nullptr;
        interruption.poll = [&] {
            queue.serve();  // other ranks asking for work are answered between two minibatches
            if (slowdownMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slowdownMs));
            if (!store.enabled()) return model::Interruption::Action::kGoOn;
            int want = stopSignal() != 0 ? 2
                       : rc.checkpointSeconds > 0 &&
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - lastSave).count() >=
                                   rc.checkpointSeconds
                           ? 1
                           : 0;
            if (sharded != nullptr) want = team.allreduce(want, Reduce::kMax);
            return want == 2 ? model::Interruption::Action::kStop
                   : want == 1 ? model::Interruption::Action::kSave
                               : model::Interruption::Action::kGoOn;
        };
        interruption.save = [&](const model::TrainState& state) {
            lastSave = std::chrono::steady_clock::now();
            if (!keeper) return;
            store.put(name + ".state", stateRecord(state));
            log::info() << "checkpoint: candidate " << position << " at epoch " << state.epoch << ", sample "
                        << state.next << "/" << state.order.size();
        };
        model::Model fitted;
        try {
            fitted = model::fit(h.visible(axis, visibleEpochs), h.split, rc.shapeOf(task), tc, seed, sharded,
                                &interruption);
        } catch (const StopRequested& e) {
            throw StopRequested("signal " + std::to_string(stopSignal()) + " received: candidate " + position +
                                " (subregion " + std::to_string(task.subregion) + " L=" + std::to_string(task.L) +
                                " K=" + std::to_string(task.K) + " S=" + std::to_string(task.S) + ") " + e.what() +
                                " in " + store.dir() + "; rerun the same command with --resume to continue");
        }
        const auto& sm = fitted.summary;
        // Every rank holds a data-parallel model: they score it and forecast its points together.
        const double score = !sm.ok() ? std::numeric_limits<double>::quiet_NaN()
                             : sharded != nullptr
                                 ? h.cut->score(sharedAmong(team, modelForecaster(fitted, rc.threads)))
                             : keeper ? h.cut->score(modelForecaster(fitted, rc.threads))
                                      : std::numeric_limits<double>::quiet_NaN();
        if (!keeper) {
            if (sharded != nullptr) out.models.emplace(task.index, std::move(fitted));
            return;
        }
        TaskResult r;
        r.index = task.index;
        r.status = static_cast<std::int32_t>(sm.status);
        r.rank = comm.rank();
        r.epochs = sm.epochs;
        r.validationMae = sm.ok() ? sm.validationMae : std::numeric_limits<double>::quiet_NaN();
        r.score = score;
        r.seconds = sm.seconds;
        r.trainSamples = sm.trainSamples;
        r.validationSamples = sm.validationSamples;
        out.local.push_back(r);
        log::info() << "candidate " << position << ": " << model::toString(sm.status) << ", validation MAE "
                    << r.validationMae << " mm, selection score " << r.score << " mm, " << sm.epochs
                    << " epochs, train loss " << sm.trainLoss << ", " << sm.seconds << " s";
        store.put(name + ".done", finishedRecord(r, fitted));
        store.remove(name + ".state");
        out.models.emplace(task.index, std::move(fitted));
    };
    auto stopMessage = [&store](std::size_t done, std::size_t of) {
        return "signal " + std::to_string(stopSignal()) + " received: stopped before candidate " +
               std::to_string(done + 1) + "/" + std::to_string(of) + " of this rank; the finished candidates are in " +
               store.dir() + ": rerun the same command with --resume to continue";
    };

    // Data-parallel candidates first, each by its group: shard k of each minibatch is computed
    // by group rank k % size, the shard records are all-gathered and summed in shard order.
    // Every rank takes its groups' candidates in plan order (so the groups' collectives never
    // wait on each other in a cycle), then the candidates it trains alone.
    const auto groupTasks = plan.groupTasksOf(comm.rank());
    const std::size_t planned = groupTasks.size() + queue.planned();
    // Before each data-parallel candidate its group agrees: 0 go, 1 stop (a signal), 2 a member
    // failed. A rank that stopped or failed still joins this agreement of each of its later
    // groups, so that no group waits for it.
    enum Verdict : int { kGo = 0, kStop = 1, kFailed = 2 };
    std::size_t visited = 0;  // group tasks whose agreement this rank has joined
    bool inGroupTask = false, abandoned = false;
    coordinated(comm, "train", [&] {
        std::size_t done = 0;
        std::exception_ptr stopped;
        for (; visited < groupTasks.size(); ++visited) {
            const Task& task = groupTasks[visited];
            const Comm& team = *groups.at(task.subregion);
            const int ranks = team.size();
            model::ShardedTraining sharded;
            sharded.shards = rc.shards;
            sharded.mine = [&](int k) { return k % ranks == team.rank(); };
            sharded.part = team.rank();
            sharded.parts = ranks;
            sharded.gather = [&](const std::vector<float>& mine) { return team.allgatherv(mine); };
            sharded.exchange = [&](const std::vector<float>& mine, std::size_t R, std::vector<float>& all) {
                // Rank r holds shards r, r + ranks, ...: every rank knows every rank's count.
                const std::size_t P = static_cast<std::size_t>(rc.shards);
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
            const int verdict = team.allreduce(
                static_cast<int>(abandoned ? kFailed : stopped || stopSignal() != 0 ? kStop : kGo), Reduce::kMax);
            if (verdict == kFailed) abandoned = true;  // the run fails: this rank trains nothing more
            if (verdict == kStop && !stopped) stopped = std::make_exception_ptr(StopRequested(stopMessage(done, planned)));
            if (verdict != kGo) continue;
            ++done;
            inGroupTask = true;
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
            if (stopSignal() != 0) throw StopRequested(stopMessage(done, planned));
            std::optional<Task> task = queue.next(from);
            if (!task) break;
            if (held.count(task->subregion) == 0)  // its rows arrived with it
                held.emplace(task->subregion,
                             holdSubregion(task->subregion, rows.at(task->subregion), rc, axis, visibleEpochs));
            ++done;
            trainOne(*task, comm, nullptr,
                     from == comm.rank() ? std::to_string(done) + "/" + std::to_string(planned) + " on this rank"
                                         : std::to_string(done) + " on this rank (taken from rank " +
                                               std::to_string(from) + ", " + std::to_string(planned) + " planned here)");
        }
    }, [&](bool failed) {
        if (failed) {
            queue.close();  // hands out nothing more
            // Tell this rank's later groups (a failure inside a data-parallel candidate leaves
            // its group in that candidate's collectives: not recoverable here).
            for (std::size_t k = visited + (inGroupTask ? 1 : 0); k < groupTasks.size(); ++k)
                (void)groups.at(groupTasks[k].subregion)->allreduce(static_cast<int>(kFailed), Reduce::kMax);
        }
        queue.finish();  // ranks done early (or failed) sleep here, answering those still working
    });
    return out;
}

}  // namespace hlstm::pipeline
