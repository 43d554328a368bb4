#include "hlstm/model/model_config.hpp"

#include <cstdlib>
#include <string>

#include "hlstm/config/config.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm::model {
namespace {

// Positive integer from an environment variable, 0 when unset or not a positive integer.
int positiveEnv(const char* name) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return 0;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    // OMP_NUM_THREADS may be a list ("2,1"): its first entry is this level's count.
    if (end == text || value <= 0 || (*end != '\0' && *end != ',')) return 0;
    return static_cast<int>(value);
}

int checkedInt(std::int64_t value, const std::string& key) {
    if (value < 0 || value > 1000000000) {
        throw ConfigError(key + " = " + std::to_string(value) + " is out of range");
    }
    return static_cast<int>(value);
}

}  // namespace

void ModelConfig::validate() const {
    const std::string shape = "model L=" + std::to_string(window) + " K=" + std::to_string(layers) +
                              " S=" + std::to_string(units) + " Y=" + std::to_string(horizon);
    if (window < 2) throw ConfigError(shape + ": L must be >= 2 (eq. 4)");
    if (horizon < 1 || horizon >= window) throw ConfigError(shape + ": need 1 <= Y < L");
    if (layers < 1) throw ConfigError(shape + ": K must be >= 1");
    if (units < 1) throw ConfigError(shape + ": S must be >= 1");
    if (!(stdFloor > 0)) throw ConfigError("model.std_floor must be > 0");
    if (!(scale > 0)) throw ConfigError("model scale must be > 0");
    if (smoothing < 1) throw ConfigError("model.smoothing must be >= 1");
    if (!(floorFraction >= 0 && floorFraction < 1)) throw ConfigError("model.std_floor must be in [0, 1)");
}

void TrainConfig::validate() const {
    if (epochs < 1) throw ConfigError("train.epochs must be >= 1");
    if (batch < 1) throw ConfigError("train.batch must be >= 1");
    if (!(lr > 0)) throw ConfigError("train.lr must be > 0");
    if (!(beta1 >= 0 && beta1 < 1)) throw ConfigError("train.beta1 must be in [0, 1)");
    if (!(beta2 >= 0 && beta2 < 1)) throw ConfigError("train.beta2 must be in [0, 1)");
    if (!(eps > 0)) throw ConfigError("train.eps must be > 0");
    if (!(huberDelta > 0)) throw ConfigError("Huber delta must be > 0");
    if (earlyStopPatience < 0) throw ConfigError("train.early_stop_patience must be >= 0");
    if (!(convergenceTol > 0 && convergenceTol < 1)) throw ConfigError("train.convergence_tol must be in (0, 1)");
    if (threads < 0 || threads > kMaxThreads)
        throw ConfigError("train.threads = " + std::to_string(threads) + " is out of range 0.." +
                          std::to_string(kMaxThreads) +
                          " (threads per rank; 0: OMP_NUM_THREADS or SLURM_CPUS_PER_TASK)");
    if (stride < 1) throw ConfigError("model.stride must be >= 1");
    if (!(validationFraction >= 0 && validationFraction < 1)) {
        throw ConfigError("model.validation_fraction must be in [0, 1)");
    }
}

int horizonFrom(const Config& config) {
    const auto y = config.getInt("model.horizon");
    if (y < 1 || y > kMaxHorizon) throw ConfigError("model.horizon must be in 1.." + std::to_string(kMaxHorizon));
    return static_cast<int>(y);
}

ModelConfig modelConfigFrom(const Config& config, int window, int layers, int units) {
    ModelConfig m;
    const std::string& kind = config.getString("model.kind");
    if (kind == "lstm") {
        m.cell = CellKind::kLstm;
    } else if (kind == "rnn") {
        m.cell = CellKind::kRnn;
    } else {
        throw ConfigError("model.kind = \"" + kind + "\": expected lstm or rnn");
    }
    m.window = window;
    m.layers = layers;
    m.units = units;
    m.horizon = horizonFrom(config);
    // model.std_floor is relative to the data: a fraction of the subregion's median window std.
    m.floorFraction = config.getDouble("model.std_floor");
    m.target = targetFromString(config.getString("model.target"));
    m.smoothing = checkedInt(config.getInt("model.smoothing"), "model.smoothing");
    m.validate();
    return m;
}

TrainConfig trainConfigFrom(const Config& config) {
    TrainConfig t;
    t.epochs = checkedInt(config.getInt("train.epochs"), "train.epochs");
    t.batch = checkedInt(config.getInt("train.batch"), "train.batch");
    t.lr = config.getDouble("train.lr");
    t.beta1 = config.getDouble("train.beta1");
    t.beta2 = config.getDouble("train.beta2");
    t.eps = config.getDouble("train.eps");
    const std::string& loss = config.getString("train.loss");
    if (loss == "mse") {
        t.loss = LossKind::kMse;
    } else if (loss == "mae") {
        t.loss = LossKind::kMae;
    } else if (loss == "huber") {
        t.loss = LossKind::kHuber;
    } else {
        throw ConfigError("train.loss = \"" + loss + "\": expected mse, mae or huber");
    }
    t.earlyStopPatience = checkedInt(config.getInt("train.early_stop_patience"), "train.early_stop_patience");
    t.threads = checkedInt(config.getInt("train.threads"), "train.threads");
    t.curves = config.getBool("train.curves");
    t.convergenceTol = config.getDouble("train.convergence_tol");
    const std::string& sampling = config.getString("model.sampling");
    if (sampling == "latest") {
        t.sampling = Sampling::kLatest;
    } else if (sampling == "all") {
        t.sampling = Sampling::kAll;
    } else {
        throw ConfigError("model.sampling = \"" + sampling + "\": expected latest or all");
    }
    t.stride = checkedInt(config.getInt("model.stride"), "model.stride");
    t.validationFraction = config.getDouble("model.validation_fraction");
    t.validate();
    return t;
}

int resolveThreads(int configured) {
    if (configured > 0) return configured;
    auto checked = [](int n, const char* name) {
        if (n > kMaxThreads)
            throw ConfigError(std::string(name) + " = " + std::to_string(n) + " is more than " +
                              std::to_string(kMaxThreads) + " threads per rank (train.threads = 0 takes it)");
        return n;
    };
    if (const int omp = positiveEnv("OMP_NUM_THREADS"); omp > 0) return checked(omp, "OMP_NUM_THREADS");
    if (const int slurm = positiveEnv("SLURM_CPUS_PER_TASK"); slurm > 0) return checked(slurm, "SLURM_CPUS_PER_TASK");
    return 1;
}

std::string toString(CellKind cell) { return cell == CellKind::kLstm ? "lstm" : "rnn"; }

std::string toString(LossKind loss) {
    switch (loss) {
        case LossKind::kMse: return "mse";
        case LossKind::kMae: return "mae";
        case LossKind::kHuber: return "huber";
    }
    return "?";
}

Target targetFromString(const std::string& name) {
    if (name == "next") return Target::kNext;
    if (name == "signal") return Target::kSignal;
    if (name == "local") return Target::kLocal;
    throw ConfigError("model.target = \"" + name + "\": expected local (default), signal or next (the paper's)");
}

std::string toString(Target target) {
    return target == Target::kNext ? "next" : target == Target::kLocal ? "local" : "signal";
}

std::string toString(Sampling sampling) { return sampling == Sampling::kLatest ? "latest" : "all"; }

}  // namespace hlstm::model
