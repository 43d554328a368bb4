// The lane kernel (src/model/lstm_infer.cpp) against oneDNN's forward_inference on random
// weights and inputs for many shapes, its three instruction sets against each other bit for bit,
// and a sample's output against the company it keeps in a block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/network.hpp"
#include "hlstm/model/parameters.hpp"
#include "synthetic.hpp"

namespace hlstm::model {
namespace {

struct Shape {
    CellKind cell;
    int units, layers, window, horizon;
    Target target;  // kSignal: C = 3 input channels
};

std::string name(const Shape& s) {
    return toString(s.cell) + " S=" + std::to_string(s.units) + " K=" + std::to_string(s.layers) +
           " L=" + std::to_string(s.window) + " Y=" + std::to_string(s.horizon) +
           " C=" + std::to_string(s.target == Target::kSignal ? 3 : 1);
}

ModelConfig configOf(const Shape& s) {
    ModelConfig c;
    c.cell = s.cell;
    c.units = s.units;
    c.layers = s.layers;
    c.window = s.window;
    c.horizon = s.horizon;
    c.target = s.target;
    return c;
}

using test::weightsOf;

// n samples of N(0, 1) with a few large values (the activations' clamps).
std::vector<float> inputsOf(const ModelConfig& c, std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(n * c.inputSteps() * c.inputChannels());
    for (float& v : x) v = normal(rng);
    for (std::size_t i = 0; i < x.size(); i += 97) x[i] *= 40.0f;
    return x;
}

std::vector<float> predictWith(InferenceEngine engine, InferenceIsa isa, const ModelConfig& c, const Parameters& p,
                               const std::vector<float>& x, std::size_t n) {
    setInferenceEngine(engine);
    setInferenceIsa(isa);
    Network net(c, p);
    std::vector<float> out(n * c.horizon);
    net.predict(x.data(), n, out.data());
    setInferenceEngine(InferenceEngine::kLanes);
    setInferenceIsa(InferenceIsa::kNative);
    return out;
}

const std::vector<Shape>& shapes() {
    static const std::vector<Shape> all = {
        {CellKind::kLstm, 10, 3, 60, 1, Target::kNext},    // cangzhou's grid point
        {CellKind::kLstm, 10, 2, 30, 3, Target::kSignal},  // demo-like: 3 channels, Y = 3
        {CellKind::kLstm, 5, 1, 12, 1, Target::kNext},     // odd S (a unit alone), one layer
        {CellKind::kLstm, 16, 2, 20, 2, Target::kNext},    // S = 16
        {CellKind::kLstm, 21, 2, 15, 1, Target::kSignal},  // S > 16, odd, not padded by oneDNN
        {CellKind::kLstm, 25, 3, 8, 4, Target::kNext},     // S padded to 32 by oneDNN
        {CellKind::kLstm, 40, 1, 6, 1, Target::kNext},     // S > 32
        {CellKind::kRnn, 10, 3, 40, 1, Target::kNext},
        {CellKind::kRnn, 7, 2, 10, 2, Target::kSignal},  // RNN groups of 4 and 3 alone
    };
    return all;
}

TEST(LaneInference, MatchesOneDnnOnRandomWeights) {
    // 37 samples: two full blocks of 16 and a tail of 5; oneDNN's batch of 256 padded.
    const std::size_t n = 37;
    for (const Shape& s : shapes()) {
        const ModelConfig c = configOf(s);
        const Parameters p = weightsOf(c, 7, 2.0f);
        const std::vector<float> x = inputsOf(c, n, 3);
        const std::vector<float> ref = predictWith(InferenceEngine::kOnednn, InferenceIsa::kNative, c, p, x, n);
        const std::vector<float> got = predictWith(InferenceEngine::kLanes, InferenceIsa::kNative, c, p, x, n);
        double scale = 1.0, worst = 0.0;
        for (float v : ref) scale = std::max(scale, static_cast<double>(std::abs(v)));
        for (std::size_t i = 0; i < ref.size(); ++i) {
            ASSERT_TRUE(std::isfinite(got[i])) << name(s) << " output " << i;
            worst = std::max(worst, std::abs(static_cast<double>(got[i]) - ref[i]));
        }
        std::printf("%s: largest difference %.3g (outputs up to %.3g)\n", name(s).c_str(), worst, scale);
        EXPECT_LT(worst / scale, 1e-5) << name(s);
        // And not trivially: the outputs vary across samples.
        EXPECT_GT(*std::max_element(ref.begin(), ref.end()) - *std::min_element(ref.begin(), ref.end()), 1e-3)
            << name(s);
    }
}

TEST(LaneInference, InstructionSetsGiveTheSameBits) {
    // What this CPU can run of AVX-512 / AVX2 against the scalar code (std::fma), bit for bit.
    const std::size_t n = 21;
    int compared = 0;
    for (const Shape& s : shapes()) {
        const ModelConfig c = configOf(s);
        const Parameters p = weightsOf(c, 9, 2.0f);
        const std::vector<float> x = inputsOf(c, n, 4);
        setInferenceIsa(InferenceIsa::kScalar);
        ASSERT_EQ(inferenceKernel(), "scalar");
        const std::vector<float> scalar = predictWith(InferenceEngine::kLanes, InferenceIsa::kScalar, c, p, x, n);
        for (InferenceIsa isa : {InferenceIsa::kNative, InferenceIsa::kPortable}) {
            setInferenceIsa(isa);
            const std::string kernel = inferenceKernel();
            setInferenceIsa(InferenceIsa::kNative);
            if (kernel == "onednn" || kernel == "scalar") continue;
            const std::vector<float> vec = predictWith(InferenceEngine::kLanes, isa, c, p, x, n);
            EXPECT_EQ(std::memcmp(vec.data(), scalar.data(), vec.size() * sizeof(float)), 0)
                << name(s) << " " << kernel << " vs scalar";
            ++compared;
        }
    }
    std::printf("compared %d kernel runs with the scalar one\n", compared);
    EXPECT_GT(compared, 0) << "no vector kernel on this CPU";
}

TEST(LaneInference, ASampleIgnoresItsBlockAndN) {
    // Every sample of a 45-sample call equals the sample predicted alone, and in a call that
    // starts 7 samples later (other block mates, other padding of the last block).
    const Shape s = shapes()[1];
    const ModelConfig c = configOf(s);
    const Parameters p = weightsOf(c, 5, 1.0f);
    const std::size_t n = 45, width = static_cast<std::size_t>(c.inputSteps()) * c.inputChannels();
    const std::size_t Y = c.horizon;
    const std::vector<float> x = inputsOf(c, n, 8);
    LaneNetwork lanes(c, p);
    std::vector<float> all(n * Y), shifted((n - 7) * Y), one(Y);
    lanes.predict(x.data(), n, all.data());
    lanes.predict(x.data() + 7 * width, n - 7, shifted.data());
    for (std::size_t i = 0; i < n; ++i) {
        lanes.predict(x.data() + i * width, 1, one.data());
        EXPECT_EQ(std::memcmp(one.data(), all.data() + i * Y, Y * sizeof(float)), 0) << i;
        if (i >= 7) {
            EXPECT_EQ(std::memcmp(shifted.data() + (i - 7) * Y, all.data() + i * Y, Y * sizeof(float)), 0) << i;
        }
    }
    // A non-finite input spoils its own sample only.
    std::vector<float> bad = x;
    bad[3 * width + 2] = std::nanf("");
    std::vector<float> out(n * Y);
    lanes.predict(bad.data(), n, out.data());
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t y = 0; y < Y; ++y) {
            if (i == 3)
                EXPECT_TRUE(std::isnan(out[i * Y + y]));
            else
                EXPECT_EQ(out[i * Y + y], all[i * Y + y]) << i;
        }
}

TEST(LaneInference, SettingsAndNetworkPath) {
    // Network::predict follows the engine switch; a refreshed weight set reaches the kernel.
    const ModelConfig c = configOf(shapes()[0]);
    const Parameters p = weightsOf(c, 2, 1.0f), q = weightsOf(c, 3, 1.0f);
    const std::vector<float> x = inputsOf(c, 3, 1);
    setInferenceEngine(InferenceEngine::kOnednn);
    EXPECT_EQ(inferenceKernel(), "onednn");
    setInferenceEngine(InferenceEngine::kLanes);
    Network net(c, p);
    std::vector<float> a(3), b(3), direct(3);
    net.predict(x.data(), 3, a.data());
    net.setParameters(q);
    net.predict(x.data(), 3, b.data());
    LaneNetwork(c, q).predict(x.data(), 3, direct.data());
    EXPECT_NE(a, b);
    EXPECT_EQ(b, direct);
}

}  // namespace
}  // namespace hlstm::model
