/// Plain settings of one recurrent model (shape, sampling) and of its training (Adam, loss,
/// epochs), filled from the `model.*` and `train.*` configuration keys.
#pragma once

#include <cstdint>
#include <string>

namespace hlstm {
class Config;
}

namespace hlstm::model {

/// Recurrent cell of the stacked network.
enum class CellKind : int {
    kLstm = 0,  ///< LSTM (paper II-B)
    kRnn = 1,   ///< plain tanh RNN (the paper's RNN baseline)
};

/// Training loss on the z-scored labels.
enum class LossKind : int { kMse = 0, kMae = 1, kHuber = 2 };

/// What a sample's label is (the paper's target rewards predicting the noise
/// that differencing injects, d[t] = s[t] + e[t] - e[t-1]).
enum class Target : int {
    kNext = 0,    ///< paper: the next Y rates, each window z-scored by its own input mean and std
    kSignal = 1,  ///< the centred mean of `smoothing` rates around each of the next Y steps,
                  ///< as a residual from the point's OLS velocity, with the day-of-year as input
    kLocal = 2,   ///< default: the same label and inputs as kSignal, each label step a residual from the
                  ///< local_annual fit (a line and annual terms through the last 576 days) at the
                  ///< window's end: the network learns what that fit misses (from the velocity,
                  ///< as kSignal, where the history before the window's end spans under a year)
};

/// Which windows of a point's differential series become training samples.
enum class Sampling : int {
    kLatest = 0,  ///< paper: one window per point, the latest one
    kAll = 1,     ///< every window, `stride` differentials apart, ending at the latest one
};

/// Shape of a model and the sample definition it was trained with (everything prediction
/// needs besides the weights).
struct ModelConfig {
    CellKind cell = CellKind::kLstm;
    int window = 60;         ///< L: differential values per sample, label included
    int layers = 3;          ///< K: stacked recurrent layers
    int units = 10;          ///< S: hidden units per layer
    int horizon = 1;         ///< Y: differential values predicted (the label's length)
    double stdFloor = 1e-3;  ///< mm per step: floor of a kNext sample's input std in the z-score
    Target target = Target::kNext;
    int smoothing = 5;   ///< h: rates averaged (centred) in a kSignal label
    double scale = 1.0;  ///< mm per step: kSignal's fixed scale of residual rates
    /// > 0: fit() sets stdFloor / scale from the training points (calibrateScaling) with this
    /// fraction; 0: stdFloor and scale are used as given.
    double floorFraction = 0.0;

    /// Time steps fed to the network: L - Y.
    [[nodiscard]] int inputSteps() const noexcept { return window - horizon; }
    /// Input channels per step: the rate (kNext), or the residual rate and sin/cos of the
    /// day of the year (kSignal).
    [[nodiscard]] int inputChannels() const noexcept { return target != Target::kNext ? 3 : 1; }
    /// Rates a label reaches beyond the last forecast step (kSignal's centred mean), 0 for kNext.
    [[nodiscard]] int labelLead() const noexcept {
        return target != Target::kNext ? smoothing - 1 - (smoothing - 1) / 2 : 0;
    }
    /// Latest rates a kSignal input leaves out: the centred label around the next step reaches
    /// back (h - 1) / 2 rates, and one more so that no epoch is both the end of the input's last
    /// rate and the start of the label's first: an input that shares an epoch with the label
    /// learns to predict minus that epoch's noise / h (demo scene, issue 23: 0.454 -> 0.297 mm
    /// against the truth).
    [[nodiscard]] int inputGap() const noexcept { return target != Target::kNext ? (smoothing - 1) / 2 + 1 : 0; }
    /// Throws ConfigError unless 2 <= L, 1 <= Y < L, K >= 1, S >= 1, stdFloor > 0, scale > 0,
    /// smoothing >= 1.
    void validate() const;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& cell& window& layers& units& horizon& stdFloor& target& smoothing& scale& floorFraction;
    }
};

/// Threads per rank (train.threads, OMP_NUM_THREADS): more is a typo, not a machine.
inline constexpr int kMaxThreads = 1024;

/// How a model is trained (paper II-C: Adam, 30 epochs, 70/30 split of points).
struct TrainConfig {
    int epochs = 30;
    int batch = 256;
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    LossKind loss = LossKind::kMse;
    double huberDelta = 1.0;    ///< z-score units, for LossKind::kHuber
    int earlyStopPatience = 0;  ///< epochs without a validation-MAE gain before stopping; 0: off
    int threads = 0;            ///< threads per rank; 0: OMP_NUM_THREADS / SLURM_CPUS_PER_TASK / 1
    Sampling sampling = Sampling::kLatest;
    int stride = 1;  ///< window stride for Sampling::kAll
    double validationFraction = 0.3;
    bool curves = true;            ///< the validation MAE of every epoch (FitSummary::maeCurve)
    double convergenceTol = 0.05;  ///< model::convergence's relative tolerance

    /// Throws ConfigError on non-positive epochs/batch/lr, betas outside [0,1), bad fractions.
    void validate() const;
};

/// Largest forecast horizon Y (epochs) a configuration may ask for.
inline constexpr int kMaxHorizon = 30;
/// `model.horizon` (Y), checked to be in 1..kMaxHorizon: the one reader of that key.
int horizonFrom(const Config& config);
/// `model.kind`, `model.horizon`, `model.std_floor` with the grid point (L, K, S).
ModelConfig modelConfigFrom(const Config& config, int window, int layers, int units);
/// `train.*` and `model.sampling`, `model.stride`, `model.validation_fraction`.
TrainConfig trainConfigFrom(const Config& config);

/// Threads a rank uses: `configured` if > 0, else OMP_NUM_THREADS, else
/// SLURM_CPUS_PER_TASK, else 1.
int resolveThreads(int configured);

/// "next" / "signal" -> Target; throws ConfigError naming the bad value.
Target targetFromString(const std::string& name);

/// "lstm" / "rnn", "mse" / "mae" / "huber", "latest" / "all", "next" / "signal".
std::string toString(CellKind cell);
std::string toString(LossKind loss);
std::string toString(Sampling sampling);
std::string toString(Target target);

}  // namespace hlstm::model
