// The engine against an independent float64 reference of the same network: forward values, and
// the gradient of every parameter group against central finite differences, for the LSTM by the
// lane training kernel (the default) and by oneDNN (also the guard against oneDNN 2.6.3's
// diff_weights_iter bug, see src/model/network.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "hlstm/model/lstm_train.hpp"
#include "hlstm/model/network.hpp"
#include "hlstm/model/parameters.hpp"

namespace hlstm::model {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Float64 forward of the stacked cell + dense head on the last step, straight from the
// definitions (oneDNN gate order i, f, c~, o; layouts of Parameters), with no padding.
std::vector<double> referencePredict(const ModelConfig& c, const Parameters& p, const std::vector<float>& inputs,
                                     std::size_t n) {
    const int S = c.units, G = gateCount(c.cell), T = c.inputSteps(), Y = c.horizon;
    std::vector<double> out(n * Y);
    for (std::size_t b = 0; b < n; ++b) {
        // seq[t][*]: the current layer's input sequence.
        std::vector<std::vector<double>> seq(T);
        for (int t = 0; t < T; ++t) seq[t] = {static_cast<double>(inputs[b * T + t])};
        for (int l = 0; l < c.layers; ++l) {
            const int in = l == 0 ? 1 : S;
            std::vector<double> h(S, 0.0), cell(S, 0.0);
            std::vector<std::vector<double>> next(T);
            for (int t = 0; t < T; ++t) {
                std::vector<double> gates(G * S);
                for (int g = 0; g < G; ++g) {
                    for (int o = 0; o < S; ++o) {
                        double a = p.bias[l][g * S + o];
                        for (int i = 0; i < in; ++i) a += p.weightsLayer[l][(i * G + g) * S + o] * seq[t][i];
                        for (int i = 0; i < S; ++i) a += p.weightsIter[l][(i * G + g) * S + o] * h[i];
                        gates[g * S + o] = a;
                    }
                }
                for (int o = 0; o < S; ++o) {
                    if (c.cell == CellKind::kLstm) {
                        const double ig = sigmoid(gates[o]), fg = sigmoid(gates[S + o]);
                        const double cg = std::tanh(gates[2 * S + o]), og = sigmoid(gates[3 * S + o]);
                        cell[o] = fg * cell[o] + ig * cg;
                        h[o] = og * std::tanh(cell[o]);
                    } else {
                        h[o] = std::tanh(gates[o]);
                    }
                }
                next[t] = h;
            }
            seq = next;
        }
        for (int y = 0; y < Y; ++y) {
            double a = p.denseBias[y];
            for (int s = 0; s < S; ++s) a += p.dense[s * Y + y] * seq[T - 1][s];
            out[b * Y + y] = a;
        }
    }
    return out;
}

double referenceLoss(const ModelConfig& c, const Parameters& p, const std::vector<float>& x,
                     const std::vector<float>& y, std::size_t n, LossKind loss) {
    const std::vector<double> pred = referencePredict(c, p, x, n);
    double sum = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) {
        const double e = pred[i] - y[i];
        sum += loss == LossKind::kMse ? e * e : (std::abs(e) <= 1 ? 0.5 * e * e : std::abs(e) - 0.5);
    }
    return sum / static_cast<double>(pred.size());
}

struct Problem {
    ModelConfig config;
    Parameters parameters;
    std::vector<float> inputs, labels;
    std::size_t n = 0;
};

// A tiny model: K = 2 layers of S = 3 units (padded to 16 inside the engine), L = 7, Y = 2,
// 5 samples; weights scaled up so that the cells leave their linear regime.
Problem tinyProblem(CellKind cell) {
    Problem p;
    p.config.cell = cell;
    p.config.window = 7;
    p.config.horizon = 2;
    p.config.layers = 2;
    p.config.units = 3;
    p.n = 5;
    p.parameters = Parameters::initial(p.config, 11);
    for (ParameterGroup& g : p.parameters.groups()) {
        for (std::size_t i = 0; i < g.size; ++i) g.data[i] *= 2.0f;
    }
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    p.inputs.resize(p.n * p.config.inputSteps());
    for (float& v : p.inputs) v = normal(rng);
    p.labels.resize(p.n * p.config.horizon);
    for (float& v : p.labels) v = normal(rng);
    return p;
}

TEST(Network, ForwardMatchesFloat64Reference) {
    for (CellKind cell : {CellKind::kLstm, CellKind::kRnn}) {
        const Problem p = tinyProblem(cell);
        Network net(p.config, p.parameters);
        std::vector<float> out(p.n * p.config.horizon);
        net.predict(p.inputs.data(), p.n, out.data());
        const std::vector<double> ref = referencePredict(p.config, p.parameters, p.inputs, p.n);
        for (std::size_t i = 0; i < out.size(); ++i) {
            EXPECT_NEAR(out[i], ref[i], 2e-6 * std::max(1.0, std::abs(ref[i]))) << toString(cell) << " output " << i;
        }
        // The engine hands back exactly the weights it was given.
        const Parameters back = net.parameters();
        EXPECT_EQ(back.weightsIter, p.parameters.weightsIter);
        EXPECT_EQ(back.dense, p.parameters.dense);
    }
}

// Gradient of every parameter group vs central differences of the float64 reference loss.
// The perturbed weights are floats, so the step is the exact difference of the two float
// values (~1e-4); truncation and rounding errors of the difference are < 1e-8. Bound:
// |analytic - fd| <= 1e-4 * max(|fd|, 0.01 * largest |fd| of the model). The float32 engine's
// rounding is ~1e-6 relative, so that leaves two orders of margin, while a wrong formula
// (e.g. h_t instead of h_{t-1} in diff_weights_iter) is off by O(1).
void gradientCheck(CellKind cell, LossKind loss) {
    Problem p = tinyProblem(cell);
    Network net(p.config, p.parameters);
    Parameters grad;
    const double engineLoss = net.lossAndGradient(p.inputs.data(), p.labels.data(), p.n, loss, 1.0, grad);
    EXPECT_NEAR(engineLoss, referenceLoss(p.config, p.parameters, p.inputs, p.labels, p.n, loss), 1e-5 * engineLoss);

    Parameters probe = p.parameters;
    std::vector<ParameterGroup> weights = probe.groups();
    const std::vector<ParameterGroup> analytic = grad.groups();
    ASSERT_EQ(weights.size(), analytic.size());
    std::vector<std::vector<double>> fd(weights.size());
    double largest = 0;
    for (std::size_t g = 0; g < weights.size(); ++g) {
        ASSERT_EQ(weights[g].size, analytic[g].size) << weights[g].name;
        for (std::size_t i = 0; i < weights[g].size; ++i) {
            const float saved = weights[g].data[i];
            const float step = 1e-4f * std::max(1.0f, std::abs(saved));
            const float up = saved + step, down = saved - step;
            weights[g].data[i] = up;
            const double lossUp = referenceLoss(p.config, probe, p.inputs, p.labels, p.n, loss);
            weights[g].data[i] = down;
            const double lossDown = referenceLoss(p.config, probe, p.inputs, p.labels, p.n, loss);
            weights[g].data[i] = saved;
            fd[g].push_back((lossUp - lossDown) / (static_cast<double>(up) - static_cast<double>(down)));
            largest = std::max(largest, std::abs(fd[g].back()));
        }
    }
    ASSERT_GT(largest, 1e-3);  // the check is not vacuous
    double worst = 0;
    for (std::size_t g = 0; g < weights.size(); ++g) {
        double groupNorm = 0;
        for (std::size_t i = 0; i < weights[g].size; ++i) {
            const double a = analytic[g].data[i], f = fd[g][i];
            const double bound = 1e-4 * std::max(std::abs(f), 0.01 * largest);
            EXPECT_LE(std::abs(a - f), bound)
                << toString(cell) << " " << weights[g].name << "[" << i << "]: analytic " << a << " fd " << f;
            worst = std::max(worst, std::abs(a - f) / std::max(std::abs(f), 0.01 * largest));
            groupNorm += f * f;
        }
        EXPECT_GT(groupNorm, 0.0) << weights[g].name << ": every group must get a gradient";
    }
    ::testing::Test::RecordProperty("worst_relative_error_" + toString(cell), std::to_string(worst));
    std::printf("%s gradient check: worst relative error %.3g (bound 1e-4)\n", toString(cell).c_str(), worst);
}

TEST(Network, LstmGradientsMatchFiniteDifferencesMse) { gradientCheck(CellKind::kLstm, LossKind::kMse); }
TEST(Network, LstmGradientsMatchFiniteDifferencesHuber) { gradientCheck(CellKind::kLstm, LossKind::kHuber); }
TEST(Network, OneDnnLstmGradientsMatchFiniteDifferences) {
    setTrainingEngine(TrainingEngine::kOnednn);
    gradientCheck(CellKind::kLstm, LossKind::kMse);
    setTrainingEngine(TrainingEngine::kLanes);
}
TEST(Network, RnnGradientsMatchFiniteDifferencesMse) { gradientCheck(CellKind::kRnn, LossKind::kMse); }

TEST(Network, BatchLossValuesAndGradients) {
    const std::vector<float> pred = {1.0f, -2.0f, 0.5f, 3.0f};
    const std::vector<float> label = {0.0f, 0.0f, 0.5f, 0.0f};
    std::vector<float> g(4);
    // MSE: (1 + 4 + 0 + 9) / 4; gradient 2e / n.
    EXPECT_DOUBLE_EQ(batchLoss(pred.data(), label.data(), 4, LossKind::kMse, 1.0, g.data()), 3.5);
    EXPECT_EQ(g, (std::vector<float>{0.5f, -1.0f, 0.0f, 1.5f}));
    // MAE: (1 + 2 + 0 + 3) / 4; gradient sign(e) / n.
    EXPECT_DOUBLE_EQ(batchLoss(pred.data(), label.data(), 4, LossKind::kMae, 1.0, g.data()), 1.5);
    EXPECT_EQ(g, (std::vector<float>{0.25f, -0.25f, 0.0f, 0.25f}));
    // Huber, delta 1: (0.5 + 1.5 + 0 + 2.5) / 4.
    EXPECT_DOUBLE_EQ(batchLoss(pred.data(), label.data(), 4, LossKind::kHuber, 1.0, g.data()), 1.125);
    EXPECT_EQ(g, (std::vector<float>{0.25f, -0.25f, 0.0f, 0.25f}));
}

TEST(Network, PaddingOnlyWhereItPays) {
    EXPECT_EQ(paddedUnits(1), 16);
    EXPECT_EQ(paddedUnits(10), 16);
    EXPECT_EQ(paddedUnits(16), 16);
    EXPECT_EQ(paddedUnits(20), 20);
    EXPECT_EQ(paddedUnits(24), 24);
    EXPECT_EQ(paddedUnits(25), 32);
    EXPECT_EQ(paddedUnits(50), 50);
}

TEST(Network, UnpaddedShapesMatchTheReferenceToo) {
    // S = 20 runs unpadded (and S = 17 with an odd size): same results as the reference.
    for (int units : {17, 20}) {
        Problem p = tinyProblem(CellKind::kLstm);
        p.config.units = units;
        p.parameters = Parameters::initial(p.config, 3);
        Network net(p.config, p.parameters);
        std::vector<float> out(p.n * p.config.horizon);
        net.predict(p.inputs.data(), p.n, out.data());
        const std::vector<double> ref = referencePredict(p.config, p.parameters, p.inputs, p.n);
        for (std::size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 2e-6) << units;
        Parameters grad;
        net.lossAndGradient(p.inputs.data(), p.labels.data(), p.n, LossKind::kMse, 1.0, grad);
        // Spot check of the recurrent weights of the last layer (the oneDNN 2.6.3 bug's group).
        Parameters probe = p.parameters;
        const std::size_t i = 7;
        const float saved = probe.weightsIter[1][i];
        const float plus = saved + 1e-3f, minus = saved - 1e-3f;
        probe.weightsIter[1][i] = plus;
        const double up = referenceLoss(p.config, probe, p.inputs, p.labels, p.n, LossKind::kMse);
        probe.weightsIter[1][i] = minus;
        const double down = referenceLoss(p.config, probe, p.inputs, p.labels, p.n, LossKind::kMse);
        const double fd = (up - down) / (static_cast<double>(plus) - static_cast<double>(minus));
        EXPECT_NEAR(grad.weightsIter[1][i], fd, 1e-4 * std::max(std::abs(fd), 1e-2)) << units;
    }
}

TEST(Network, PredictionsDoNotDependOnBatchComposition) {
    // 2500 samples go through nine batches of 256 and a tail of 196: each sample's prediction equals
    // its prediction alone, so the pipeline may pass any subset of points.
    Problem p = tinyProblem(CellKind::kLstm);
    const int T = p.config.inputSteps(), Y = p.config.horizon;
    const std::size_t n = 2500;
    std::vector<float> inputs(n * T);
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = std::sin(0.37f * static_cast<float>(i));
    Network net(p.config, p.parameters);
    std::vector<float> all(n * Y), one(Y);
    net.predict(inputs.data(), n, all.data());
    for (std::size_t i : {std::size_t{0}, std::size_t{1500}, n - 1}) {
        net.predict(inputs.data() + i * T, 1, one.data());
        const std::vector<double> ref = referencePredict(
            p.config, p.parameters, std::vector<float>(inputs.begin() + i * T, inputs.begin() + (i + 1) * T), 1);
        for (int y = 0; y < Y; ++y) {
            EXPECT_NEAR(all[i * Y + y], ref[y], 2e-6) << i;
            EXPECT_NEAR(one[y], ref[y], 2e-6) << i;
        }
    }
}

}  // namespace
}  // namespace hlstm::model
