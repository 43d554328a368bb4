#include "hlstm/model/model.hpp"

#include "hlstm/core/signals.hpp"

#include <omp.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

#include "hlstm/core/error.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/memory.hpp"
#include "hlstm/model/network.hpp"
#include "random.hpp"

namespace hlstm::model {
namespace {

constexpr const char* kMagic = "hlstm.model";
constexpr std::uint32_t kFormatVersion =
    3;  // 2: target, smoothing, scale (time-aware rates); 3: a signal input leaves out (h - 1) / 2 + 1 rates
// An epoch whose mean loss exceeds this multiple of the zero predictor's loss has diverged
// (a huge learning rate saturates the cells and blows the head up without ever giving NaN).
constexpr double kBlowUpFactor = 1e4;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sets the OpenMP (hence oneDNN) thread count for a scope and restores it after.
class ThreadScope {
public:
    explicit ThreadScope(int threads) : previous_(omp_get_max_threads()) { omp_set_num_threads(threads); }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
    ~ThreadScope() { omp_set_num_threads(previous_); }

private:
    int previous_;
};

// Eq. (6) in mm: mean |truth - prediction| after mapping predictions back (z * scale + mean).
// With `sharded` (and its gather), each participant predicts its part of the samples.
// Network::predict of samples first..first + n of `set`; windows held as views are computed a
// chunk of whole inference batches at a time (the same batches as one call: the same values).
void predictSamples(Network& network, const SampleSet& set, std::size_t first, std::size_t n, float* out) {
    const std::size_t width = static_cast<std::size_t>(set.inputSteps) * set.channels;
    if (!set.views()) return network.predict(set.inputs.data() + first * width, n, out);
    constexpr std::size_t kChunk = 64 * 256;
    std::vector<float> inputs;
    for (std::size_t at = 0; at < n; at += kChunk) {
        const std::size_t count = std::min(kChunk, n - at);
        inputs.resize(count * width);
        set.fillInputs(nullptr, first + at, count, inputs.data());
        network.predict(inputs.data(), count, out + at * static_cast<std::size_t>(set.horizon));
    }
}

// The samples of a fit whose rows are sliced over its participants (ShardedTraining::slicedRows):
// this participant's own (views over its rows) and, per set, the global sample index of each
// participant's first sample (parts + 1 values). The fit's sets themselves are everyone's labels,
// centres and scales in global order, without inputs (gatheredSet).
struct SlicedSets {
    SampleSet train, validation;
    std::vector<std::size_t> trainOffset, validationOffset;
};

// Everyone's labels, centres and scales of `local`'s kind of samples, in participant order (the
// global sample order: each participant's rows follow the ones before it), and the offsets.
SampleSet gatheredSet(const SampleSet& local, const ShardedTraining& sharded, std::vector<std::size_t>& offsets) {
    SampleSet all;
    all.inputSteps = local.inputSteps;
    all.horizon = local.horizon;
    all.channels = local.channels;
    const std::vector<double> counts = sharded.gatherDoubles({static_cast<double>(local.size())});
    offsets.assign(counts.size() + 1, 0);
    for (std::size_t q = 0; q < counts.size(); ++q) offsets[q + 1] = offsets[q] + static_cast<std::size_t>(counts[q]);
    all.labels = sharded.gather(local.labels);
    all.labelsMm = sharded.gather(local.labelsMm);
    all.mean = sharded.gather(local.mean);
    all.stepMean = sharded.gather(local.stepMean);
    all.scale = sharded.gather(local.scale);
    if (all.size() != offsets.back() || all.labels.size() != all.size() * static_cast<std::size_t>(all.horizon))
        throw RuntimeError("sliced training: the gathered samples do not add up");
    return all;
}

double maeMm(Network& network, const SampleSet& set, const ShardedTraining* sharded = nullptr,
             const SlicedSets* slices = nullptr) {
    if (set.size() == 0) return std::numeric_limits<double>::quiet_NaN();
    std::vector<float> z(set.size() * set.horizon);
    if (slices != nullptr) {
        // Each participant predicts the samples of its rows; in participant order they are all.
        const SampleSet& mine = slices->validation;
        std::vector<float> own(mine.size() * static_cast<std::size_t>(mine.horizon));
        if (mine.size() > 0) predictSamples(network, mine, 0, mine.size(), own.data());
        z = sharded->gather(own);
        if (z.size() != set.size() * set.horizon) throw RuntimeError("sliced validation: predictions do not add up");
    } else if (sharded != nullptr && sharded->gather && sharded->parts > 1) {
        const std::size_t n = set.size(), P = static_cast<std::size_t>(sharded->parts);
        const std::size_t first = n * static_cast<std::size_t>(sharded->part) / P;
        const std::size_t last = n * static_cast<std::size_t>(sharded->part + 1) / P;
        std::vector<float> mine((last - first) * set.horizon);
        if (last > first) predictSamples(network, set, first, last - first, mine.data());
        z = sharded->gather(mine);
        if (z.size() != set.size() * set.horizon) throw RuntimeError("shared validation: predictions do not add up");
    } else {
        predictSamples(network, set, 0, set.size(), z.data());
    }
    double sum = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
        for (int y = 0; y < set.horizon; ++y) {
            const std::size_t k = i * set.horizon + y;
            const double mm = static_cast<double>(z[k]) * set.scale[i] + set.centerOf(i, y);
            sum += std::abs(mm - static_cast<double>(set.labelsMm[k]));
        }
    }
    return sum / static_cast<double>(z.size());
}

// Sliced rows: the shards this participant computes (shard k by participant k % parts), each a
// set of its samples' inputs and labels in shard order. Every participant knows the minibatch
// and who holds which sample (the offsets), so each sends the inputs of its windows (fillInputs,
// the floats a view computes anywhere) to the participants computing them in one all-to-all.
std::vector<SampleSet> shardInputs(const SampleSet& all, const SlicedSets& slices, const std::uint32_t* indices,
                                   std::size_t n, std::size_t P, const ShardedTraining& sharded) {
    const auto G = static_cast<std::size_t>(sharded.parts), me = static_cast<std::size_t>(sharded.part);
    const std::size_t width = static_cast<std::size_t>(all.inputSteps) * static_cast<std::size_t>(all.channels);
    const auto Y = static_cast<std::size_t>(all.horizon);
    const std::vector<std::size_t>& offset = slices.trainOffset;
    auto holder = [&](std::size_t i) {
        return static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end(), i) - offset.begin() - 1);
    };
    auto bound = [&](std::size_t k) { return k * n / P; };
    std::vector<std::vector<std::uint32_t>> send(G);  // this participant's windows per receiver
    std::vector<std::size_t> from(G, 0);              // floats received from each holder
    for (std::size_t k = 0; k < P; ++k)
        for (std::size_t b = bound(k); b < bound(k + 1); ++b) {
            const std::size_t q = holder(indices[b]);
            if (q == me) send[k % G].push_back(static_cast<std::uint32_t>(indices[b] - offset[me]));
            if (k % G == me) from[q] += width;
        }
    std::vector<std::size_t> counts(G);
    std::vector<float> out;
    for (std::size_t q = 0; q < G; ++q) {
        counts[q] = send[q].size() * width;
        const std::size_t at = out.size();
        out.resize(at + counts[q]);
        if (!send[q].empty()) slices.train.fillInputs(send[q].data(), 0, send[q].size(), out.data() + at);
    }
    const std::vector<float> got = sharded.alltoall(out, counts, from);
    std::vector<std::size_t> cursor(G, 0);
    for (std::size_t q = 1; q < G; ++q) cursor[q] = cursor[q - 1] + from[q - 1];
    if (got.size() != cursor.back() + from.back())
        throw RuntimeError("sliced training: the shards' windows do not add up");
    std::vector<SampleSet> shards;
    for (std::size_t k = me; k < P; k += G) {
        SampleSet set;
        set.inputSteps = all.inputSteps;
        set.horizon = all.horizon;
        set.channels = all.channels;
        const std::size_t count = bound(k + 1) - bound(k);
        set.inputs.resize(count * width);
        set.labels.resize(count * Y);
        set.mean.assign(count, 0.0f);
        for (std::size_t b = 0; b < count; ++b) {
            const std::size_t i = indices[bound(k) + b], q = holder(i);
            std::copy_n(got.data() + cursor[q], width, set.inputs.data() + b * width);
            cursor[q] += width;
            std::copy_n(all.labels.data() + i * Y, Y, set.labels.data() + b * Y);
        }
        shards.push_back(std::move(set));
    }
    return shards;
}

// One minibatch of data-parallel training (see ShardedTraining): shard k holds samples
// [k n / P, (k + 1) n / P); the shard means are weighted by their sizes and summed in shard
// order in double, so the step is the same whoever computed which shard.
double shardedStep(Network& network, const SampleSet& set, const std::uint32_t* indices, std::size_t n,
                   const TrainConfig& train, const ShardedTraining& sharded, const SlicedSets* slices) {
    const auto P = static_cast<std::size_t>(std::max(sharded.shards, 1));
    const std::size_t R = network.gradientRecordSize();
    auto bound = [&](std::size_t k) { return k * n / P; };
    std::vector<SampleSet> inputs;  // sliced rows: this participant's shards, their windows brought here
    if (slices != nullptr) inputs = shardInputs(set, *slices, indices, n, P, sharded);
    std::vector<std::uint32_t> iota;
    std::size_t own = 0;
    std::vector<float> mine;
    for (std::size_t k = 0; k < P; ++k) {
        if (!sharded.mine(static_cast<int>(k))) continue;
        const std::size_t first = bound(k), count = bound(k + 1) - first;
        mine.resize(mine.size() + R, 0.0f);
        if (slices != nullptr) {
            if (k % static_cast<std::size_t>(sharded.parts) != static_cast<std::size_t>(sharded.part) ||
                own >= inputs.size())
                throw RuntimeError("sliced training: shard " + std::to_string(k) + " is not this participant's");
            const SampleSet& shard = inputs[own++];
            if (count == 0) continue;
            iota.resize(count);
            std::iota(iota.begin(), iota.end(), 0u);
            network.shardGradient(shard, iota.data(), count, train, mine.data() + mine.size() - R);
        } else if (count > 0) {
            network.shardGradient(set, indices + first, count, train, mine.data() + mine.size() - R);
        }
    }
    std::vector<float> all;
    if (sharded.exchange) {
        sharded.exchange(mine, R, all);
    } else {
        all = std::move(mine);
    }
    if (all.size() != P * R) throw RuntimeError("data-parallel training: shard records do not add up");
    std::vector<double> sum(R, 0.0);
    for (std::size_t k = 0; k < P; ++k) {
        const double weight = static_cast<double>(bound(k + 1) - bound(k)) / static_cast<double>(n);
        if (weight == 0) continue;
        const float* r = all.data() + k * R;
        for (std::size_t j = 0; j < R; ++j) sum[j] += weight * static_cast<double>(r[j]);
    }
    std::vector<float> total(sum.begin(), sum.end());
    if (std::isfinite(sum[0])) network.applyGradient(total.data(), train);
    return sum[0];
}

Model fitSets(const SampleSet& trainSet, const SampleSet& validationSet, const ModelConfig& config,
              const TrainConfig& train, std::uint64_t seed, const Model* start, const ShardedTraining* sharded,
              const Interruption* interruption, const SlicedSets* slices);

void checkSet(const SampleSet& set, const ModelConfig& config, const char* name) {
    if (set.size() == 0) return;
    if (set.inputSteps != config.inputSteps() || set.horizon != config.horizon ||
        set.channels != config.inputChannels() ||
        (set.views() ? set.windowEnd.size() != set.size()
                     : set.inputs.size() != set.size() * static_cast<std::size_t>(set.inputSteps) * set.channels) ||
        set.labels.size() != set.size() * set.horizon || set.labelsMm.size() != set.labels.size() ||
        set.scale.size() != set.size()) {
        throw InputError(std::string("fit: the ") + name + " samples do not match the model's L and Y");
    }
}

}  // namespace

std::string toString(FitStatus status) {
    switch (status) {
        case FitStatus::kOk: return "ok";
        case FitStatus::kDiverged: return "diverged";
        case FitStatus::kNoSamples: return "no-samples";
    }
    return "?";
}

Model fit(const SeriesView& series, const ModelConfig& config, const TrainConfig& train, std::uint64_t seed) {
    config.validate();
    train.validate();
    return fit(series, splitPoints(series.points, train.validationFraction, seed), config, train, seed);
}

Model fit(const SeriesView& series, const PointSplit& split, const ModelConfig& shape, const TrainConfig& train,
          std::uint64_t seed, const ShardedTraining* sharded, const Interruption* interruption) {
    shape.validate();
    train.validate();
    ModelConfig config = shape;
    const auto start = std::chrono::steady_clock::now();
    const bool sliced = sharded != nullptr && sharded->slicedRows;
    if (sliced && config.floorFraction > 0) {  // the medians of every participant's values
        std::vector<double> spread, level;
        scalingValues(series, split.train, config, spread, level);
        applyScaling(sharded->gatherDoubles(spread), sharded->gatherDoubles(level), config);
    } else if (!sliced) {
        calibrateScaling(series, split.train, config);  // data-relative floor / scale, stored in the model
    }
    // Views: the windows' inputs are computed per minibatch, not held (a window is L - Y floats).
    SampleSet trainSet = makeSampleViews(series, split.train, config, train.sampling, train.stride);
    SampleSet validationSet = makeSampleViews(series, split.validation, config, train.sampling, train.stride);
    std::optional<SlicedSets> slices;
    if (sliced) {  // this participant's samples stay views; everyone's labels and scales come here
        slices.emplace();
        slices->train = std::move(trainSet);
        slices->validation = std::move(validationSet);
        trainSet = gatheredSet(slices->train, *sharded, slices->trainOffset);
        validationSet = gatheredSet(slices->validation, *sharded, slices->validationOffset);
    }
    log::debug() << "fit: " << trainSet.size() << " training and " << validationSet.size() << " validation samples"
                 << (sliced ? " (" + std::to_string(slices->train.size()) + " and " +
                                  std::to_string(slices->validation.size()) + " of this rank's rows)"
                            : std::string())
                 << " built in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                 << " s";
    logMemory("fit: samples built");
    return fitSets(trainSet, validationSet, config, train, seed, nullptr, sharded, interruption,
                   slices ? &*slices : nullptr);
}

Model fit(const SampleSet& trainSet, const SampleSet& validationSet, const ModelConfig& config,
          const TrainConfig& train, std::uint64_t seed, const Model* start, const ShardedTraining* sharded,
          const Interruption* interruption) {
    if (sharded != nullptr && sharded->slicedRows)
        throw InputError("fit: sliced rows need the series (fit of a SeriesView and a split)");
    return fitSets(trainSet, validationSet, config, train, seed, start, sharded, interruption, nullptr);
}

namespace {

Model fitSets(const SampleSet& trainSet, const SampleSet& validationSet, const ModelConfig& config,
              const TrainConfig& train, std::uint64_t seed, const Model* start, const ShardedTraining* sharded,
              const Interruption* interruption, const SlicedSets* slices) {
    const auto startTime = std::chrono::steady_clock::now();
    config.validate();
    train.validate();
    checkSet(slices != nullptr ? slices->train : trainSet, config, "training");
    checkSet(slices != nullptr ? slices->validation : validationSet, config, "validation");
    Model model;
    model.config = config;
    model.summary.seed = seed;
    model.summary.threads = resolveThreads(train.threads);
    model.summary.trainSamples = trainSet.size();
    model.summary.validationSamples = validationSet.size();
    model.parameters = start != nullptr ? start->parameters : Parameters::initial(config, seed);
    if (trainSet.size() == 0) {
        model.summary.status = FitStatus::kNoSamples;
        model.summary.validationMae = kInf;
        return model;
    }
    const ThreadScope threads(model.summary.threads);
    Network network(config, model.parameters);

    // Divergence yardstick: the loss of always predicting 0 (the input mean, in z units).
    std::vector<float> zero(trainSet.labels.size(), 0.0f);
    const double zeroLoss =
        batchLoss(zero.data(), trainSet.labels.data(), zero.size(), train.loss, train.huberDelta, nullptr);
    const double blowUp = kBlowUpFactor * std::max(zeroLoss, 1e-6);

    std::vector<std::uint32_t> order(trainSet.size());
    std::iota(order.begin(), order.end(), 0u);
    auto rng = detail::streamOf(seed, detail::kShuffleStream);
    if (start != nullptr && !start->optimizer.empty()) {
        // Warm start: Adam and the shuffle stream continue where the earlier fit stopped.
        network.setOptimizerState({start->optimizer.moments, start->optimizer.step});
        rng = Rng::fromState(start->optimizer.shuffle);
    }
    const bool earlyStop = train.earlyStopPatience > 0 && validationSet.size() > 0;
    double bestMae = kInf;
    int sinceBest = 0;
    bool diverged = false;
    double trainSeconds = 0;
    int firstEpoch = 1;
    std::size_t firstBatch = 0;
    double resumedLoss = 0;
    const TrainState* resume = interruption != nullptr ? interruption->resume : nullptr;
    if (resume != nullptr) {
        // Continue a checkpointed fit: weights, Adam, the epoch's order and the stream as they were.
        if (resume->order.size() != order.size() || resume->next > order.size())
            throw InputError("checkpoint: the saved training state does not match this candidate's samples");
        network.setParameters(resume->parameters);
        network.setOptimizerState({resume->moments, resume->adamStep});
        order = resume->order;
        rng = Rng::fromState(resume->rng);
        firstEpoch = resume->epoch;
        firstBatch = resume->next;
        resumedLoss = resume->lossSum;
        bestMae = resume->bestMae;
        sinceBest = resume->sinceBest;
        trainSeconds = resume->trainSeconds;
        model.summary.bestEpoch = resume->bestEpoch;
        model.summary.epochs = resume->epochsDone;
        model.summary.trainLoss = resume->trainLoss;
        model.summary.lossCurve = resume->lossCurve;
        model.summary.maeCurve = resume->maeCurve;
        if (earlyStop && resume->bestEpoch > 0) model.parameters = resume->best;
    }
    // The state at a minibatch boundary, for Interruption::save.
    auto stateAt = [&](int epoch, std::size_t next, double lossSum, double seconds) {
        TrainState st;
        st.epoch = epoch;
        st.next = next;
        st.order = order;
        st.rng = rng.state();
        st.lossSum = lossSum;
        st.parameters = network.parameters();
        const Network::OptimizerState opt = network.optimizerState();
        st.moments = opt.moments;
        st.adamStep = opt.step;
        st.bestMae = bestMae;
        st.sinceBest = sinceBest;
        st.bestEpoch = model.summary.bestEpoch;
        st.epochsDone = model.summary.epochs;
        if (earlyStop && model.summary.bestEpoch > 0) st.best = model.parameters;
        st.trainLoss = model.summary.trainLoss;
        st.lossCurve = model.summary.lossCurve;
        st.maeCurve = model.summary.maeCurve;
        st.trainSeconds = seconds;
        return st;
    };
    bool measuredLast = false;  // the last epoch's validation MAE is the final network's
    for (int epoch = firstEpoch; epoch <= train.epochs && !diverged; ++epoch) {
        measuredLast = false;
        const auto epochStart = std::chrono::steady_clock::now();
        const bool resumed = resume != nullptr && epoch == firstEpoch;
        if (!resumed) detail::shuffle(order, rng);
        double lossSum = resumed ? resumedLoss : 0.0;
        for (std::size_t first = resumed ? firstBatch : 0; first < order.size(); first += train.batch) {
            if (interruption != nullptr && interruption->poll) {
                const Interruption::Action action = interruption->poll();
                if (action != Interruption::Action::kGoOn) {
                    const double seconds =
                        trainSeconds +
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
                    interruption->save(stateAt(epoch, first, lossSum, seconds));
                    if (action == Interruption::Action::kStop)
                        throw StopRequested("stopped in epoch " + std::to_string(epoch) + " at sample " +
                                            std::to_string(first) + "/" + std::to_string(order.size()) +
                                            "; the training state is checkpointed");
                }
            }
            const std::size_t n = std::min<std::size_t>(train.batch, order.size() - first);
            if (n < static_cast<std::size_t>(train.batch)) network.releaseTrainingPlans();  // the short last batch
            const double loss = sharded != nullptr
                                    ? shardedStep(network, trainSet, order.data() + first, n, train, *sharded, slices)
                                    : network.trainStep(trainSet, order.data() + first, n, train);
            if (!std::isfinite(loss)) {
                diverged = true;
                break;
            }
            lossSum += loss * static_cast<double>(n);
        }
        network.releaseTrainingPlans();
        trainSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
        model.summary.epochs = epoch;
        model.summary.trainLoss = diverged ? kInf : lossSum / static_cast<double>(order.size());
        model.summary.lossCurve.push_back(model.summary.trainLoss);
        if (diverged || model.summary.trainLoss > blowUp) {
            diverged = true;
            break;
        }
        // The validation curve costs one forward pass over the validation samples per epoch.
        const bool curve = train.curves && validationSet.size() > 0;
        const double epochMae = earlyStop || curve ? maeMm(network, validationSet, sharded, slices) : kNaN;
        measuredLast = earlyStop || curve;
        model.summary.maeCurve.push_back(epochMae);
        if (earlyStop) {
            const double mae = epochMae;
            log::debug() << "fit epoch " << epoch << " loss " << model.summary.trainLoss << " validation MAE " << mae
                         << " mm";
            if (!std::isfinite(mae)) {
                diverged = true;
                break;
            }
            if (mae < bestMae) {
                bestMae = mae;
                sinceBest = 0;
                model.summary.bestEpoch = epoch;
                model.parameters = network.parameters();
            } else if (++sinceBest >= train.earlyStopPatience) {
                break;
            }
        } else {
            log::debug() << "fit epoch " << epoch << " loss " << model.summary.trainLoss;
        }
    }

    if (!diverged && !earlyStop) {
        model.parameters = network.parameters();
        model.summary.bestEpoch = model.summary.epochs;
    }
    if (!diverged && !model.parameters.finite()) diverged = true;
    if (diverged) {
        model.summary.status = FitStatus::kDiverged;
        model.summary.validationMae = kInf;
    } else {
        model.summary.status = FitStatus::kOk;
        if (earlyStop) {
            model.summary.validationMae = bestMae;
        } else {
            // The last epoch's curve value when it measured this network: the same pass, not made twice.
            model.summary.validationMae =
                measuredLast ? model.summary.maeCurve.back() : maeMm(network, validationSet, sharded, slices);
            if (validationSet.size() > 0 && !std::isfinite(model.summary.validationMae)) {
                model.summary.status = FitStatus::kDiverged;
                model.summary.validationMae = kInf;
            }
        }
    }
    if (!diverged) {
        // Where training stopped (with early stopping the weights are the best epoch's).
        const Network::OptimizerState opt = network.optimizerState();
        model.optimizer = {opt.moments, opt.step, rng.state()};
    }
    model.summary.trainSeconds = trainSeconds;
    logMemory("fit: trained and validated");
    model.summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - startTime).count();
    log::debug() << "fit: " << model.summary.epochs << " epochs in " << trainSeconds << " s of "
                 << model.summary.seconds << " s";
    return model;
}

}  // namespace

Convergence convergence(const std::vector<double>& lossCurve, const std::vector<double>& maeCurve, double tolerance) {
    const std::size_t n = lossCurve.size();
    const std::size_t w = std::max<std::size_t>(2, n / 5);
    Convergence c;
    char line[200];
    if (n < 2 * w) {
        std::snprintf(line, sizeof line, "%zu epochs are too few to show convergence (at least %zu)", n, 2 * w);
        c.why = line;
        return c;
    }
    auto judge = [&](const std::vector<double>& curve, const char* name) {
        if (curve.size() != n) return true;
        double before = 0, last = 0, lo = kInf, hi = -kInf;
        for (std::size_t e = n - 2 * w; e < n - w; ++e) before += curve[e];
        for (std::size_t e = n - w; e < n; ++e) {
            last += curve[e];
            lo = std::min(lo, curve[e]);
            hi = std::max(hi, curve[e]);
        }
        before /= static_cast<double>(w);
        last /= static_cast<double>(w);
        if (std::isnan(before) && std::isnan(last)) return true;  // not computed
        const double change = std::abs(last - before) / std::abs(before);
        const double spread = (hi - lo) / std::abs(last);
        if (std::isfinite(change) && std::isfinite(spread) && change <= tolerance && spread <= 2 * tolerance)
            return true;
        std::snprintf(line, sizeof line,
                      "%s: mean of the last %zu epochs %.4g vs %.4g before (change %.1f %%), spread %.1f %% "
                      "(limits %.1f %%, %.1f %%)",
                      name, w, last, before, 100 * change, 100 * spread, 100 * tolerance, 200 * tolerance);
        c.why = line;
        return false;
    };
    c.converged = judge(lossCurve, "train loss") && judge(maeCurve, "validation MAE");
    return c;
}

double meanAbsoluteError(const Model& model, const SampleSet& set, int threads) {
    checkSet(set, model.config, "evaluation");
    const ThreadScope scope(resolveThreads(threads));
    Network network(model.config, model.parameters);
    return maeMm(network, set);
}

Predictor::Predictor(const Model& model, int threads) : model_(model), threads_(threads) {}

Predictor::~Predictor() = default;

Forecast Predictor::operator()(const SeriesView& series) {
    const int horizon = model_.config.horizon;
    Forecast out;
    out.horizon = horizon;
    out.differential.assign(series.points * horizon, std::numeric_limits<float>::quiet_NaN());
    out.cumulative.assign(out.differential.size(), std::numeric_limits<float>::quiet_NaN());
    out.valid.assign(series.points, 0);
    if (series.points == 0) return out;
    // The network's inputs are built a chunk of points at a time (whole inference batches), not
    // for every point at once: a national block's windows would be another copy of its series.
    // Batches have one shape whatever the chunk, so a point's forecast does not depend on it.
    // 16,384 points (64 batches of 256): at L = 60 their windows are ~11 MiB per input channel
    // beside the series (peak memory in the forecast stage).
    constexpr std::size_t kChunkPoints = 16 * 1024;
    std::vector<float> z;
    for (std::size_t first = 0; first < series.points; first += kChunkPoints) {
        SeriesView part = series;
        part.cumulative = series.row(first);
        part.points = std::min(kChunkPoints, series.points - first);
        part.stride = series.stride != 0 ? series.stride : series.epochs;
        const SampleSet inputs = makeForecastInputs(part, model_.config);
        z.assign(part.points * horizon, 0.0f);
        {
            const ThreadScope scope(resolveThreads(threads_));
            if (!network_) network_ = std::make_unique<Network>(model_.config, model_.parameters);
            network_->predict(inputs.inputs.data(), part.points, z.data());
        }
        for (std::size_t j = 0; j < part.points; ++j) {
            const std::size_t i = first + j;
            // The last cumulative value anchors the running sum of the predicted differentials.
            double cumulative = series.row(i)[series.epochs - 1];
            bool valid = std::isfinite(inputs.scale[j]) && std::isfinite(cumulative);
            for (int y = 0; y < horizon && valid; ++y) {
                const std::size_t k = i * horizon + y;
                const double d = static_cast<double>(z[j * horizon + y]) * inputs.scale[j] + inputs.centerOf(j, y);
                valid = std::isfinite(d);
                cumulative += d;
                out.differential[k] = static_cast<float>(d);
                out.cumulative[k] = static_cast<float>(cumulative);
            }
            if (!valid) {
                std::fill_n(out.differential.begin() + i * horizon, horizon, std::numeric_limits<float>::quiet_NaN());
                std::fill_n(out.cumulative.begin() + i * horizon, horizon, std::numeric_limits<float>::quiet_NaN());
            }
            out.valid[i] = valid ? 1 : 0;
        }
    }
    return out;
}

Forecast forecast(const Model& model, const SeriesView& series, int threads) {
    return Predictor(model, threads)(series);
}

double timeTrainingStep(const ModelConfig& config, int batch, int threads) {
    // Sustained speed, not a burst: steps over a set of 8 batches in shuffled order until
    // kMinSeconds have passed (at least kMinSteps), mean seconds per step.
    constexpr int kMinSteps = 8;
    constexpr double kMinSeconds = 0.25;
    constexpr std::size_t kBatches = 8;
    config.validate();
    const ThreadScope scope(resolveThreads(threads));
    SampleSet set;
    set.inputSteps = config.inputSteps();
    set.horizon = config.horizon;
    set.channels = config.inputChannels();
    auto rng = detail::streamOf(0x7153, detail::kShuffleStream);
    const std::size_t b = static_cast<std::size_t>(std::max(batch, 1)), n = b * kBatches;
    for (std::size_t i = 0; i < n * static_cast<std::size_t>(set.inputSteps * set.channels); ++i)
        set.inputs.push_back(static_cast<float>(rng.uniform() - 0.5));
    for (std::size_t i = 0; i < n * static_cast<std::size_t>(set.horizon); ++i)
        set.labels.push_back(static_cast<float>(rng.uniform() - 0.5));
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    detail::shuffle(order, rng);
    Network network(config, Parameters::initial(config, 1));
    TrainConfig train;
    train.batch = batch;
    network.trainStep(set, order.data(), b, train);  // warm-up: primitives are built here
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    int steps = 0;
    while (steps < kMinSteps || elapsed < kMinSeconds) {
        network.trainStep(set, order.data() + (static_cast<std::size_t>(steps) % kBatches) * b, b, train);
        ++steps;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return elapsed / steps;
}

std::string toBytes(const Model& model) {
    std::ostringstream stream(std::ios::binary);
    {
        boost::archive::binary_oarchive archive(stream);
        const std::string magic = kMagic;
        const std::uint32_t version = kFormatVersion;
        archive << magic << version << model;
    }
    return stream.str();
}

Model modelFromBytes(const std::string& bytes) {
    Model model;
    try {
        std::istringstream stream(bytes, std::ios::binary);
        boost::archive::binary_iarchive archive(stream);
        std::string magic;
        std::uint32_t version = 0;
        archive >> magic;
        if (magic != kMagic) throw InputError("saved model: not an hlstm model");
        archive >> version;
        if (version != kFormatVersion) {
            throw InputError("saved model: format version " + std::to_string(version) + ", this build reads version " +
                             std::to_string(kFormatVersion));
        }
        archive >> model;
    } catch (const InputError&) {
        throw;
    } catch (const std::exception& e) {
        // Boost's archive_exception, or length_error / bad_alloc from corrupt sizes.
        throw InputError(std::string("saved model: unreadable (") + e.what() + ")");
    }
    model.config.validate();
    const Parameters shape = Parameters::zeros(model.config);
    if (model.parameters.count() != shape.count() ||
        model.parameters.weightsLayer.size() != shape.weightsLayer.size()) {
        throw InputError("saved model: weights do not match its L, K, S, Y");
    }
    return model;
}

}  // namespace hlstm::model
