/// A trained recurrent model (config, weights, training summary): training a grid-search
/// candidate (eq. 3: validation MAE in mm), forecasting any set of points, and saving and
/// loading it as bytes (Boost.Serialization) for storage in HDF5. Everything here is
/// rank-local (no collective); threads per call from TrainConfig::threads / resolveThreads.
#pragma once

#include <boost/serialization/version.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "hlstm/model/model_config.hpp"
#include "hlstm/model/parameters.hpp"
#include "hlstm/model/samples.hpp"

namespace hlstm::model {

/// Outcome of a training run. A failed candidate is a result, not an exception.
enum class FitStatus : int {
    kOk = 0,
    kDiverged = 1,   ///< the loss or the weights became non-finite or blew up
    kNoSamples = 2,  ///< no training sample (series shorter than L + 1 epochs, or no points)
};
std::string toString(FitStatus status);

/// What a training run reports.
struct FitSummary {
    FitStatus status = FitStatus::kNoSamples;
    double validationMae = std::numeric_limits<double>::quiet_NaN();  ///< mm (eq. 3); NaN without validation samples
    double trainLoss = std::numeric_limits<double>::quiet_NaN();      ///< last epoch's mean loss, z units
    int epochs = 0;     ///< epochs run (fewer with early stopping or divergence)
    int bestEpoch = 0;  ///< epoch whose weights were kept (1-based)
    std::uint64_t trainSamples = 0;
    std::uint64_t validationSamples = 0;
    double seconds = 0;       ///< wall time of the whole fit
    double trainSeconds = 0;  ///< wall time of the epochs (training steps only)
    int threads = 1;
    std::uint64_t seed = 0;
    /// Training curves, one value per epoch run: the mean training loss (z units; the last one
    /// is trainLoss) and the validation MAE in mm (NaN when TrainConfig::curves is off and no
    /// early stopping asked for it). Paper II-C: a model is accepted when both have converged.
    std::vector<double> lossCurve, maeCurve;

    [[nodiscard]] bool ok() const noexcept { return status == FitStatus::kOk; }

    template <class Archive> void serialize(Archive& ar, unsigned version) {
        ar& status& validationMae& trainLoss& epochs& bestEpoch& trainSamples& validationSamples& seconds& trainSeconds&
            threads& seed;
        if (version >= 1) ar& lossCurve& maeCurve;  // models saved before the curves load without them
    }
};

/// Where the optimizer stood when a fit ended, so that a later fit (hlstm update) continues it:
/// Adam's first and second moments (Network::OptimizerState), its step count and the state of
/// the minibatch shuffle stream. Empty (`moments` empty) in models saved before it existed.
struct OptimizerState {
    std::vector<float> moments;
    std::uint64_t step = 0;
    std::uint64_t shuffle = 0;

    [[nodiscard]] bool empty() const noexcept { return moments.empty(); }
    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) { ar& moments& step& shuffle; }
};

/// A trained model: everything prediction needs, and the optimizer state a warm start needs.
struct Model {
    ModelConfig config;
    Parameters parameters;
    FitSummary summary;
    OptimizerState optimizer;

    // Class version 1 added the optimizer state; version 0 bytes (older files) read without it.
    template <class Archive> void serialize(Archive& ar, unsigned version) {
        ar& config& parameters& summary;
        if (version >= 1) ar& optimizer;
    }
};

/// Data-parallel training of one candidate: every minibatch is cut into `shards` fixed shards
/// (their sizes depend only on the minibatch), this process computes the shards `mine(k)`
/// accepts, and `exchange` turns its shard records (in increasing k, `recordSize` floats each)
/// into all shards' records in shard order (an MPI all-gather). The gradients are summed in shard order, so the weights
/// are bit-identical for any number of participants, one included.
struct ShardedTraining {
    int shards = 1;
    std::function<bool(int shard)> mine;
    std::function<void(const std::vector<float>& mine, std::size_t recordSize, std::vector<float>& all)> exchange;
    /// Optional: the validation forecasts are shared too. This process predicts the samples
    /// [n part / parts, n (part + 1) / parts) and `gather` concatenates every part's
    /// predictions in part order; the MAE is then summed over all in sample order, as alone.
    int part = 0, parts = 1;
    std::function<std::vector<float>(const std::vector<float>& mine)> gather;
    /// Rows sliced over the participants (hlstm run: a data-parallel subregion's rows split over
    /// its group, so that no rank holds all of them): the series and split given to fit() are
    /// this participant's contiguous slice of the points, in global order after those of the
    /// participants before it (`part` of `parts`; shard k is computed by participant k % parts).
    /// Every value is then the one of a single process holding all points: the scaling's
    /// medians are taken over everyone's values (`gatherDoubles`, like `gather`), the samples'
    /// labels, centres and scales are gathered, and each minibatch the holders of a shard's
    /// windows send their inputs to the participant that computes it (`alltoall`: floats for
    /// each participant, counts[q] of them to q, received[q] from q; returns what everyone sent
    /// here, in participant order).
    bool slicedRows = false;
    std::function<std::vector<double>(const std::vector<double>& mine)> gatherDoubles;
    std::function<std::vector<float>(const std::vector<float>& send, const std::vector<std::size_t>& counts,
                                     const std::vector<std::size_t>& received)>
        alltoall;
};

/// Where a fit stood at a minibatch boundary: enough to continue it bit for bit.
struct TrainState {
    std::int32_t epoch = 1;            ///< epoch in progress (1-based), shuffled already
    std::uint64_t next = 0;            ///< position in `order` of the next minibatch
    std::vector<std::uint32_t> order;  ///< this epoch's sample order
    std::uint64_t rng = 0;             ///< the shuffle stream after this epoch's shuffle
    double lossSum = 0;                ///< this epoch's loss sum so far
    Parameters parameters;             ///< current weights
    std::vector<float> moments;        ///< Adam's m and v (Network::OptimizerState)
    std::uint64_t adamStep = 0;
    double bestMae = 0;  ///< early stopping's best validation MAE so far
    std::int32_t sinceBest = 0, bestEpoch = 0, epochsDone = 0;
    Parameters best;  ///< weights at bestEpoch (early stopping)
    double trainLoss = 0, trainSeconds = 0;
    std::vector<double> lossCurve, maeCurve;  ///< the finished epochs' curves (FitSummary)

    template <class Archive> void serialize(Archive& ar, unsigned version) {
        ar& epoch& next& order& rng& lossSum& parameters& moments& adamStep& bestMae& sinceBest& bestEpoch& epochsDone&
            best& trainLoss& trainSeconds;
        if (version >= 1) ar& lossCurve& maeCurve;
    }
};

/// Checkpoints inside one fit: `poll` is asked at every minibatch boundary; kSave hands the
/// state to `save` and goes on, kStop saves and throws StopRequested (exit code 3). With
/// `resume` the fit continues from that state instead of starting.
struct Interruption {
    enum class Action { kGoOn, kSave, kStop };
    std::function<Action()> poll;
    std::function<void(const TrainState&)> save;
    const TrainState* resume = nullptr;
};

/// Trains one candidate on all points of `series` (one subregion): seeded split of points
/// (train.validationFraction), samples, initialisation, shuffling all from `seed`. Same
/// seed and thread count give bit-identical weights. Never throws on divergence.
/// Throws ConfigError on an invalid config.
Model fit(const SeriesView& series, const ModelConfig& config, const TrainConfig& train, std::uint64_t seed);

/// The same with a given split of the points (rows of `series`): grid-search candidates of one
/// subregion should share one split so that their validation MAEs compare the same points.
Model fit(const SeriesView& series, const PointSplit& split, const ModelConfig& config, const TrainConfig& train,
          std::uint64_t seed, const ShardedTraining* sharded = nullptr, const Interruption* interruption = nullptr);

/// Trains on prepared samples, starting from `start` (nullptr: seeded initialisation): its
/// weights and, when it has one, its optimizer state (Adam's moments and step, the shuffle
/// stream), so that N epochs and then M more from the result give the weights of N + M epochs
/// on the same samples.
Model fit(const SampleSet& trainSet, const SampleSet& validationSet, const ModelConfig& config,
          const TrainConfig& train, std::uint64_t seed, const Model* start = nullptr,
          const ShardedTraining* sharded = nullptr, const Interruption* interruption = nullptr);

/// Whether a fit's training curves have converged (paper II-C: training is accepted when the
/// train and test error curves converge). With w = max(2, n / 5) of the n epochs run, each
/// finite curve (the validation MAE is skipped when it was not computed) must (a) change by at
/// most `tolerance` (relative) between the mean of its last w epochs and the mean of the w
/// before, and (b) spread by at most 2 x tolerance (max - min over the last w, relative to
/// their mean). Fewer than 2 w = 4 epochs cannot show convergence: not converged.
struct Convergence {
    bool converged = false;
    std::string why;  ///< which test failed, with its numbers; empty when converged
};
Convergence convergence(const std::vector<double>& lossCurve, const std::vector<double>& maeCurve, double tolerance);

/// Mean absolute error in mm of the model's predictions of `set`'s labels (after mapping back).
double meanAbsoluteError(const Model& model, const SampleSet& set, int threads = 0);

/// Next Y rates of every row of `series` (mm per nominal step: the differential at the nominal
/// spacing) and the cumulative displacement they imply at nominally spaced future epochs (last
/// cumulative value plus their running sum), mm. Rows whose last L - Y rates are not all
/// finite get NaN and valid = 0.
struct Forecast {
    int horizon = 0;
    std::vector<float> differential;  ///< points x Y, mm per nominal step
    std::vector<float> cumulative;    ///< points x Y, mm
    std::vector<std::uint8_t> valid;  ///< points

    [[nodiscard]] std::size_t points() const noexcept { return valid.size(); }
};
Forecast forecast(const Model& model, const SeriesView& series, int threads = 0);

class Network;

/// `forecast` for many blocks with one model: the network and its primitives are built once
/// (building them zeroes tens of MB per call). Gives what `forecast` gives, bit for bit.
class Predictor {
public:
    explicit Predictor(const Model& model, int threads = 0);
    ~Predictor();
    Predictor(const Predictor&) = delete;
    Predictor& operator=(const Predictor&) = delete;

    [[nodiscard]] Forecast operator()(const SeriesView& series);

private:
    const Model& model_;
    int threads_;
    std::unique_ptr<Network> network_;
};

/// Wall seconds of one training step (forward, backward, Adam) of `batch` samples of this
/// shape on this machine, the median of a few steps on random data after a warm-up. For
/// sizing jobs only: no result depends on it.
double timeTrainingStep(const ModelConfig& config, int batch, int threads);

/// Model as bytes (format version, config, weights, summary); bit-exact round trip.
std::string toBytes(const Model& model);
/// Throws InputError on bytes that are not an hlstm model of a known format version.
Model modelFromBytes(const std::string& bytes);

}  // namespace hlstm::model

BOOST_CLASS_VERSION(hlstm::model::Model, 1)
BOOST_CLASS_VERSION(hlstm::model::FitSummary, 1)
BOOST_CLASS_VERSION(hlstm::model::TrainState, 1)
