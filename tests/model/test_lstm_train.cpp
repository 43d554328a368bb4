// The lane training kernel (src/model/lstm_train.cpp) against oneDNN's lstm_forward /
// lstm_backward on random weights and batches of many shapes, its instruction sets against each
// other bit for bit, a shard's gradient against the company it keeps, and a short training
// against oneDNN's. (test_network.cpp checks the kernel against finite differences in float64.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/lstm_train.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/model/network.hpp"
#include "hlstm/model/parameters.hpp"
#include "synthetic.hpp"

namespace hlstm::model {
namespace {

struct Shape {
    int layers, units, window, horizon;
    Target target;  // kSignal: C = 3 input channels
    std::size_t batch;
};

std::string name(const Shape& s) {
    return "K=" + std::to_string(s.layers) + " S=" + std::to_string(s.units) + " L=" + std::to_string(s.window) +
           " Y=" + std::to_string(s.horizon) + " C=" + std::to_string(s.target == Target::kSignal ? 3 : 1) +
           " n=" + std::to_string(s.batch);
}

ModelConfig configOf(const Shape& s) {
    ModelConfig c;
    c.units = s.units;
    c.layers = s.layers;
    c.window = s.window;
    c.horizon = s.horizon;
    c.target = s.target;
    return c;
}

using test::weightsOf;

std::vector<float> normals(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    return x;
}

struct Result {
    double loss;
    Parameters gradient;
};

Result gradientWith(TrainingEngine engine, InferenceIsa isa, const ModelConfig& c, const Parameters& p,
                    const std::vector<float>& x, const std::vector<float>& y, std::size_t n, LossKind loss) {
    setTrainingEngine(engine);
    setInferenceIsa(isa);
    Network net(c, p);
    Result r;
    r.loss = net.lossAndGradient(x.data(), y.data(), n, loss, 0.5, r.gradient);
    setTrainingEngine(TrainingEngine::kLanes);
    setInferenceIsa(InferenceIsa::kNative);
    return r;
}

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> all = {
        {3, 10, 60, 1, Target::kNext, 256},   // cangzhou's grid point and batch
        {1, 3, 12, 1, Target::kNext, 1},      // one sample: 15 empty lanes
        {2, 10, 20, 3, Target::kSignal, 37},  // 3 channels, Y = 3, a short last block
        {3, 17, 15, 1, Target::kNext, 16},    // S odd > 16 (a unit alone), one full block
        {2, 3, 10, 3, Target::kSignal, 37},  {1, 10, 30, 1, Target::kNext, 256}, {2, 17, 8, 3, Target::kNext, 1},
    };
    return all;
}

// Every weight, bias and dense weight of the kernel against oneDNN's: the largest difference in
// a parameter group, relative to the group's largest |gradient|, below 1e-4 (measured up to
// 1.7e-5: float sums of 256 samples x 59 steps in other orders; a wrong term is off by O(1)).
TEST(LaneTraining, GradientsMatchOneDnn) {
    for (const Shape& s : shapes()) {
        const ModelConfig c = configOf(s);
        const Parameters p = weightsOf(c, 7, 2.0f);
        const std::vector<float> x = normals(s.batch * c.inputSteps() * c.inputChannels(), 3);
        const std::vector<float> y = normals(s.batch * c.horizon, 4);
        for (LossKind loss : {LossKind::kMse, LossKind::kHuber}) {
            Result ref = gradientWith(TrainingEngine::kOnednn, InferenceIsa::kNative, c, p, x, y, s.batch, loss);
            Result got = gradientWith(TrainingEngine::kLanes, InferenceIsa::kNative, c, p, x, y, s.batch, loss);
            EXPECT_NEAR(got.loss, ref.loss, 1e-5 * ref.loss) << name(s);
            const std::vector<ParameterGroup> a = got.gradient.groups();
            const std::vector<ParameterGroup> r = ref.gradient.groups();
            ASSERT_EQ(a.size(), r.size());
            double worstAll = 0;
            for (std::size_t g = 0; g < a.size(); ++g) {
                ASSERT_EQ(a[g].size, r[g].size);
                double largest = 0, worst = 0;
                for (std::size_t i = 0; i < r[g].size; ++i) {
                    ASSERT_TRUE(std::isfinite(a[g].data[i])) << name(s) << " " << r[g].name << "[" << i << "]";
                    largest = std::max(largest, static_cast<double>(std::abs(r[g].data[i])));
                    worst = std::max(worst, static_cast<double>(std::abs(a[g].data[i] - r[g].data[i])));
                }
                ASSERT_GT(largest, 0.0) << name(s) << " " << r[g].name << ": the comparison is not vacuous";
                EXPECT_LT(worst / largest, 1e-4) << name(s) << " " << r[g].name;
                worstAll = std::max(worstAll, worst / largest);
            }
            std::printf("%s %s: worst relative difference %.3g (bound 1e-4)\n", name(s).c_str(),
                        loss == LossKind::kMse ? "mse" : "huber", worstAll);
        }
    }
}

// The AVX-512 and AVX2 kernels (what this CPU has of them) give the scalar one's bits.
TEST(LaneTraining, InstructionSetsGiveTheSameBits) {
    int compared = 0;
    for (const Shape& s : shapes()) {
        const ModelConfig c = configOf(s);
        const Parameters p = weightsOf(c, 9, 2.0f);
        const std::vector<float> x = normals(s.batch * c.inputSteps() * c.inputChannels(), 5);
        const std::vector<float> y = normals(s.batch * c.horizon, 6);
        Result scalar =
            gradientWith(TrainingEngine::kLanes, InferenceIsa::kScalar, c, p, x, y, s.batch, LossKind::kMse);
        for (InferenceIsa isa : {InferenceIsa::kNative, InferenceIsa::kPortable}) {
            setInferenceIsa(isa);
            const std::string kernel = trainingKernel();
            setInferenceIsa(InferenceIsa::kNative);
            if (kernel == "onednn" || kernel == "scalar") continue;
            Result vec = gradientWith(TrainingEngine::kLanes, isa, c, p, x, y, s.batch, LossKind::kMse);
            EXPECT_EQ(vec.loss, scalar.loss) << name(s) << " " << kernel;
            std::vector<ParameterGroup> a = vec.gradient.groups();
            std::vector<ParameterGroup> b = scalar.gradient.groups();
            for (std::size_t g = 0; g < a.size(); ++g)
                EXPECT_EQ(std::memcmp(a[g].data, b[g].data, a[g].size * sizeof(float)), 0)
                    << name(s) << " " << kernel << " vs scalar: " << a[g].name;
            ++compared;
        }
    }
    std::printf("compared %d kernel runs with the scalar one\n", compared);
    EXPECT_GT(compared, 0) << "no vector kernel on this CPU";
}

TEST(LaneTraining, SwitchesNameTheEngine) {
    EXPECT_EQ(trainingKernel(CellKind::kRnn), "onednn");
    setTrainingEngine(TrainingEngine::kOnednn);
    EXPECT_EQ(trainingKernel(CellKind::kLstm), "onednn");
    setTrainingEngine(TrainingEngine::kLanes);
    setInferenceIsa(InferenceIsa::kScalar);
    EXPECT_EQ(trainingKernel(CellKind::kLstm), "scalar");
    setInferenceIsa(InferenceIsa::kNative);
    EXPECT_NE(trainingKernel(CellKind::kLstm), "scalar");
}

// A shard's gradient record depends on its samples and their order only: the same bits from a
// fresh network and from one that computed other shards of other sizes first (what a rank does
// when the rank count changes), and the shards of a minibatch, weighted and summed as
// data-parallel training does, give the minibatch's gradient to float rounding.
TEST(LaneTraining, AShardsGradientIgnoresWhoComputesIt) {
    const std::size_t points = 60, epochs = 89;
    const std::vector<float> series = test::syntheticSeries(points, epochs, 0.5, 3);
    const SeriesView view{series.data(), points, epochs};
    ModelConfig c;
    c.window = 20;
    c.layers = 2;
    c.units = 10;
    const SampleSet set = makeSamples(view, c, Sampling::kAll, 3);
    ASSERT_GE(set.size(), 300u);
    TrainConfig train;
    std::vector<std::uint32_t> order(300);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937(2));
    const Parameters p = weightsOf(c, 3, 1.0f);
    Network fresh(c, p), busy(c, p), whole(c, p);
    const std::size_t R = fresh.gradientRecordSize();
    std::vector<float> mine(R), theirs(R), all(R), other(R);
    // Shard 1 of 4 of a 256-sample minibatch: samples [64, 128).
    fresh.shardGradient(set, order.data() + 64, 64, train, mine.data());
    busy.shardGradient(set, order.data() + 200, 37, train, other.data());
    busy.shardGradient(set, order.data(), 256, train, other.data());
    busy.shardGradient(set, order.data() + 64, 64, train, theirs.data());
    EXPECT_EQ(std::memcmp(mine.data(), theirs.data(), R * sizeof(float)), 0);
    whole.shardGradient(set, order.data(), 256, train, all.data());
    std::vector<double> sum(R, 0.0);
    for (std::size_t k = 0; k < 4; ++k) {
        fresh.shardGradient(set, order.data() + 64 * k, 64, train, other.data());
        for (std::size_t j = 0; j < R; ++j) sum[j] += 0.25 * other[j];
    }
    double largest = 0, worst = 0;
    for (std::size_t j = 1; j < R; ++j) {
        largest = std::max(largest, std::abs(static_cast<double>(all[j])));
        worst = std::max(worst, std::abs(sum[j] - all[j]));
    }
    ASSERT_GT(largest, 0.0);
    EXPECT_LT(worst / largest, 1e-5);
    EXPECT_NEAR(sum[0], all[0], 1e-6 * all[0]);
}

// A few epochs with the kernel reach a validation MAE within 5 % of oneDNN's on the same data and
// seed (the two differ by float rounding only, which training amplifies a little).
TEST(LaneTraining, ShortTrainingMatchesOneDnn) {
    const std::size_t points = 300, epochs = 89;
    const std::vector<float> series = test::syntheticSeries(points, epochs, 0.5, 3);
    const SeriesView view{series.data(), points, epochs};
    ModelConfig c;
    c.window = 13;
    c.layers = 2;
    c.units = 10;
    TrainConfig t;
    t.epochs = 5;
    t.batch = 128;
    t.lr = 1e-2;
    t.sampling = Sampling::kAll;
    t.stride = 2;
    t.threads = 1;
    setTrainingEngine(TrainingEngine::kOnednn);
    const Model ref = fit(view, c, t, 21);
    setTrainingEngine(TrainingEngine::kLanes);
    const Model got = fit(view, c, t, 21);
    ASSERT_EQ(ref.summary.status, FitStatus::kOk);
    ASSERT_EQ(got.summary.status, FitStatus::kOk);
    std::printf("validation MAE: lane kernel %.7f mm, oneDNN %.7f mm\n", got.summary.validationMae,
                ref.summary.validationMae);
    EXPECT_LT(std::abs(got.summary.validationMae - ref.summary.validationMae), 0.05 * ref.summary.validationMae);
    EXPECT_NE(got.summary.validationMae, 0.0);
    // Two engines did run: their float rounding differs, so do the weights' bits.
    EXPECT_NE(got.parameters.weightsIter, ref.parameters.weightsIter);
}

}  // namespace
}  // namespace hlstm::model
