// Benchmark driver of tools/bench/lstm.sh: trains hlstm's engine on a synthetic data set and
// dumps the same samples for the PyTorch side (tools/bench/lstm_torch.py).
//
//   hlstm_bench_lstm peak                      (measured FP32 FMA peak of one core)
//   hlstm_bench_lstm dump  out=FILE L=60 points=1500 stride=1 seed=1
//   hlstm_bench_lstm train L=60 K=3 S=10 batch=256 epochs=3 threads=1 lr=1e-3 points=1500
//                          stride=1 seed=1 init_seed=1 [cell=lstm|rnn] [profile=1]
// `seed` makes the data (series, split), `init_seed` the model's initialisation and shuffling.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "hlstm/model/lstm_train.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/model/network.hpp"
#include "synthetic.hpp"

namespace {

using namespace hlstm::model;

constexpr std::size_t kSeriesEpochs = 89;  // the simulated scenes' length (12-day spacing)
constexpr double kNoiseMm = 0.5;

struct Args {
    std::map<std::string, std::string> values;
    std::string get(const std::string& key, const std::string& fallback) const {
        auto it = values.find(key);
        return it == values.end() ? fallback : it->second;
    }
    int integer(const std::string& key, int fallback) const { return std::stoi(get(key, std::to_string(fallback))); }
    double real(const std::string& key, double fallback) const { return std::stod(get(key, std::to_string(fallback))); }
};

struct DataSet {
    ModelConfig config;
    TrainConfig train;
    SampleSet trainSet, validationSet;
    std::uint64_t seed = 1;      // data: series and split
    std::uint64_t initSeed = 1;  // model: initialisation and shuffling
};

DataSet makeData(const Args& args) {
    DataSet d;
    d.config.window = args.integer("L", 60);
    d.config.layers = args.integer("K", 3);
    d.config.units = args.integer("S", 10);
    d.config.cell = args.get("cell", "lstm") == "rnn" ? CellKind::kRnn : CellKind::kLstm;
    d.train.batch = args.integer("batch", 256);
    d.train.epochs = args.integer("epochs", 3);
    d.train.threads = args.integer("threads", 1);
    d.train.lr = args.real("lr", 1e-3);
    d.train.sampling = Sampling::kAll;
    d.train.stride = args.integer("stride", 1);
    d.seed = static_cast<std::uint64_t>(args.integer("seed", 1));
    d.initSeed = static_cast<std::uint64_t>(args.integer("init_seed", static_cast<int>(d.seed)));
    const auto points = static_cast<std::size_t>(args.integer("points", 1500));
    const std::vector<float> series =
        hlstm::model::test::syntheticSeries(points, kSeriesEpochs, kNoiseMm, static_cast<unsigned>(d.seed));
    const SeriesView view{series.data(), points, kSeriesEpochs};
    const PointSplit split = splitPoints(points, d.train.validationFraction, d.seed);
    d.trainSet = makeSamples(view, split.train, d.config, d.train.sampling, d.train.stride);
    d.validationSet = makeSamples(view, split.validation, d.config, d.train.sampling, d.train.stride);
    return d;
}

// Flops (2 per multiply-add) of the cell and head matrix products per training sample:
// forward x 3 (forward, input gradients, weight gradients). `units` = S counts the logical
// model; units = padded S with `paddedInput` counts what oneDNN executes (the lane training
// kernel executes the logical model).
double trainingFlopsPerSample(const ModelConfig& c, int units, bool paddedInput) {
    const double g = gateCount(c.cell), s = units;
    double forward = 0;
    for (int l = 0; l < c.layers; ++l) {
        const double in = l == 0 && !paddedInput ? 1 : s;
        forward += 2.0 * g * s * (in + s) * c.inputSteps();
    }
    forward += 2.0 * s * c.horizon;
    return 3.0 * forward;
}

void write(std::ofstream& out, const std::vector<float>& v) {
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

int dump(const Args& args) {
    const DataSet d = makeData(args);
    const std::string path = args.get("out", "lstm_bench.bin");
    std::ofstream out(path, std::ios::binary);
    const std::int32_t header[4] = {static_cast<std::int32_t>(d.trainSet.size()),
                                    static_cast<std::int32_t>(d.validationSet.size()), d.config.inputSteps(),
                                    d.config.horizon};
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
    write(out, d.trainSet.inputs);
    write(out, d.trainSet.labels);
    write(out, d.validationSet.inputs);
    write(out, d.validationSet.labels);
    write(out, d.validationSet.mean);
    write(out, d.validationSet.scale);
    write(out, d.validationSet.labelsMm);
    if (!out) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        return 1;
    }
    // Yardsticks for the validation MAE: the window mean (z = 0) and persistence.
    double meanMae = 0, persistenceMae = 0;
    const SampleSet& v = d.validationSet;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const double last = static_cast<double>(v.inputs[(i + 1) * v.inputSteps - 1]) * v.scale[i] + v.mean[i];
        meanMae += std::abs(v.labelsMm[i * v.horizon] - static_cast<double>(v.mean[i]));
        persistenceMae += std::abs(v.labelsMm[i * v.horizon] - last);
    }
    std::printf("DUMP %s train=%zu validation=%zu T=%d window_mean_mae=%.6f persistence_mae=%.6f\n", path.c_str(),
                d.trainSet.size(), v.size(), d.config.inputSteps(), meanMae / static_cast<double>(v.size()),
                persistenceMae / static_cast<double>(v.size()));
    return 0;
}

// Epochs of Network::trainStep after a warm-up epoch (which builds the primitives), with the
// time split into forward, backward and the rest.
void profile(const DataSet& d) {
    constexpr int kProfileEpochs = 3;
    Network net(d.config, Parameters::initial(d.config, d.initSeed));
    std::vector<std::uint32_t> order(d.trainSet.size());
    std::iota(order.begin(), order.end(), 0u);
    Network::Timing warm;
    for (int epoch = 0; epoch <= kProfileEpochs; ++epoch) {
        if (epoch == 1) warm = net.timing();
        for (std::size_t first = 0; first < order.size(); first += d.train.batch) {
            const std::size_t n = std::min<std::size_t>(d.train.batch, order.size() - first);
            net.trainStep(d.trainSet, order.data() + first, n, d.train);
        }
    }
    const Network::Timing& t = net.timing();
    const double forward = t.forward - warm.forward, backward = t.backward - warm.backward;
    const double other = t.other - warm.other, total = forward + backward + other;
    std::printf(
        "PROFILE forward %.1f%% backward %.1f%% other (batching, head, Adam) %.1f%% of %.3f s "
        "(%d epochs after a warm-up epoch)\n",
        100 * forward / total, 100 * backward / total, 100 * other / total, total, kProfileEpochs);
}

int train(const Args& args) {
    const DataSet d = makeData(args);
    const Model model = fit(d.trainSet, d.validationSet, d.config, d.train, d.initSeed);
    const double samples = static_cast<double>(d.trainSet.size()) * model.summary.epochs;
    const double rate = samples / model.summary.trainSeconds;
    const std::string kernel = trainingKernel(d.config.cell);
    const bool padded = kernel == "onednn";
    std::printf(
        "RESULT engine=hlstm L=%d K=%d S=%d B=%d threads=%d train_samples=%zu epochs=%d "
        "train_s=%.3f samples_per_s=%.1f gflops=%.2f gflops_executed=%.2f val_mae=%.6f status=%s kernel=%s\n",
        d.config.window, d.config.layers, d.config.units, d.train.batch, model.summary.threads, d.trainSet.size(),
        model.summary.epochs, model.summary.trainSeconds, rate,
        rate * trainingFlopsPerSample(d.config, d.config.units, false) / 1e9,
        rate * trainingFlopsPerSample(d.config, padded ? paddedUnits(d.config.units) : d.config.units, padded) / 1e9,
        model.summary.validationMae, toString(model.summary.status).c_str(), kernel.c_str());
    if (args.get("profile", "0") == "1") profile(d);
    return model.summary.ok() ? 0 : 2;
}

}  // namespace

// One function per vector width; the intrinsics differ only in their prefix and lane count.
#define HLSTM_PEAK(NAME, TARGET, VEC, LANES, LOAD, FMA, STORE)                                                         \
    __attribute__((target(TARGET))) double NAME() {                                                                    \
        /* Loads instead of set1, which trips GCC 12's -Wuninitialized. */                                             \
        float one[LANES], factor[LANES], term[LANES];                                                                  \
        std::fill_n(one, LANES, 1.0f);                                                                                 \
        std::fill_n(factor, LANES, 0.999999f);                                                                         \
        std::fill_n(term, LANES, 1e-7f);                                                                               \
        VEC a0 = LOAD(one), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, \
            a11 = a0;                                                                                                  \
        const VEC b = LOAD(factor), c = LOAD(term);                                                                    \
        constexpr long kIterations = 20000000;                                                                         \
        const auto start = std::chrono::steady_clock::now();                                                           \
        for (long k = 0; k < kIterations; ++k) {                                                                       \
            a0 = FMA(a0, b, c);                                                                                        \
            a1 = FMA(a1, b, c);                                                                                        \
            a2 = FMA(a2, b, c);                                                                                        \
            a3 = FMA(a3, b, c);                                                                                        \
            a4 = FMA(a4, b, c);                                                                                        \
            a5 = FMA(a5, b, c);                                                                                        \
            a6 = FMA(a6, b, c);                                                                                        \
            a7 = FMA(a7, b, c);                                                                                        \
            a8 = FMA(a8, b, c);                                                                                        \
            a9 = FMA(a9, b, c);                                                                                        \
            a10 = FMA(a10, b, c);                                                                                      \
            a11 = FMA(a11, b, c);                                                                                      \
            /* Keeps the chains in registers (no spills to the stack, no reordering). */                               \
            __asm__ volatile(""                                                                                        \
                             : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),         \
                               "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));                                              \
        }                                                                                                              \
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();              \
        float sink = 0;                                                                                                \
        const VEC* chains[] = {&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, &a8, &a9, &a10, &a11};                          \
        for (const VEC* v : chains) {                                                                                  \
            STORE(one, *v);                                                                                            \
            sink += one[0];                                                                                            \
        }                                                                                                              \
        return std::isfinite(sink) ? kIterations * 12.0 * LANES * 2 / s / 1e9 : 0.0;                                   \
    }
// FP32 peak of one core: 12 independent FMA chains (enough for 2 pipes x 4-6 cycles latency),
// with AVX-512, or with AVX2 on CPUs without it (oneDNN then runs AVX2 kernels).
HLSTM_PEAK(peakAvx512, "avx512f,fma", __m512, 16, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
HLSTM_PEAK(peakAvx2, "avx2,fma", __m256, 8, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_storeu_ps)

int peak() {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("avx2")) {
        std::printf("PEAK fp32_gflops=0 (neither AVX-512 nor AVX2 on this CPU)\n");
        return 0;
    }
    double best = 0;
    for (int i = 0; i < 3; ++i) best = std::max(best, avx512 ? peakAvx512() : peakAvx2());
    std::printf("PEAK fp32_gflops=%.1f (%s FMA peak of one core; oneDNN kernels %s)\n", best,
                avx512 ? "AVX-512" : "AVX2 (no AVX-512 on this CPU)", hlstm::model::cpuIsa().c_str());
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s peak|dump|train key=value...\n", argv[0]);
        return 1;
    }
    Args args;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const auto eq = a.find('=');
        if (eq == std::string::npos) {
            std::fprintf(stderr, "bad argument %s (expected key=value)\n", a.c_str());
            return 1;
        }
        args.values[a.substr(0, eq)] = a.substr(eq + 1);
    }
    try {
        const std::string command = argv[1];
        if (command == "dump") return dump(args);
        if (command == "train") return train(args);
        if (command == "peak") return peak();
        std::fprintf(stderr, "unknown command %s\n", command.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hlstm_bench_lstm: %s\n", e.what());
    }
    return 1;
}
