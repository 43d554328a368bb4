#include "hlstm/model/network.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "hlstm/core/error.hpp"
#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/lstm_train.hpp"
#include "signal_shield.hpp"

namespace hlstm::model {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Clock = std::chrono::steady_clock;

// Hidden units are padded to whole AVX-512 vectors of floats (see paddedUnits).
constexpr int kUnitBlock = 16;
// Samples per forward-inference call when predicting many points.
// 256: a batch's states and gates stay in the core's caches (S = 10 padded to 16, L = 60, K = 3:
// 99-108k windows per second on one AVX-512 core against 80-97k at 1024, the same values bit for bit).
constexpr std::size_t kPredictBatch = 256;

// What a plan's primitives do: inference (forward only) or training (forward + backward).
enum class Pass { kInference, kTraining };
// Which primitive's weights a refresh updates.
enum class Direction { kForward, kBackward };

// Runs a oneDNN call and turns its exception into a RuntimeError naming the step.
template <class F> auto dnnlCheck(const char* what, F&& call) -> decltype(call()) {
    try {
        return call();
    } catch (const dnnl::error& e) {
        throw RuntimeError(std::string("oneDNN failed to ") + what + ": " + e.what());
    }
}

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

float* data(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

// A zero-filled memory object owned by oneDNN.
memory zeroed(const memory::desc& md, const dnnl::engine& engine) {
    memory m(md, engine);
    std::memset(m.get_data_handle(), 0, md.get_size());
    return m;
}

}  // namespace

// Measured with oneDNN 2.6.3 on AVX-512 (training samples/s at T=59 K=3 and T=4 K=2, B=256):
// S=10: 14.6k / 325k, padded to 16: 31.0k / 766k; S=25: 9.3k / 224k, to 32: 11.1k / 303k; but
// S=20: 14.5k / 370k against 11.1k / 303k at 32, and S=50: 4.8k / 137k against 4.1k / 108k
// at 64. Padding pays while the cell's element-wise part dominates: small S, little waste.
int paddedUnits(int units) noexcept {
    const int whole = (units + kUnitBlock - 1) / kUnitBlock * kUnitBlock;
    if (units < kUnitBlock) return kUnitBlock;
    if (units < 2 * kUnitBlock && whole * 10 <= units * 13) return whole;  // at most 30 % more units
    return units;
}

// ---------------------------------------------------------------------------------------
// The engine. Master weights live in oneDNN's plain layouts with S padded to Sp:
// weights [K][1][Sp][G][Sp] (ldigo), bias [K][1][G][Sp] (ldgo). The input (1 channel) is
// zero-padded to Sp channels so that all K layers fit one stacked primitive.
struct Network::Impl {
    // Memories and primitives for one batch size; built once and reused every step.
    struct Plan {
        int batch = 0;
        Pass pass = Pass::kInference;
        dnnl::primitive forward, backward;
        memory src, srcIter, srcIterC, dst, dstIter, dstIterC, workspace, scratchpad;
        // Weights in the layouts the primitives chose, when those differ from the master's.
        memory fwdWeightsLayer, fwdWeightsIter, bwdWeightsLayer, bwdWeightsIter;
        dnnl::reorder fwdToLayer, fwdToIter, bwdToLayer, bwdToIter;
        bool fwdReorder = false, bwdReorder = false;
        std::uint64_t fwdVersion = ~0ULL, bwdVersion = ~0ULL;
        memory diffSrc, diffSrcIter, diffSrcIterC, diffDst, diffDstIter, diffDstIterC;
        std::unordered_map<int, memory> forwardArgs, backwardArgs;
        std::vector<float> prediction, label, diffPrediction;  // batch x Y
    };

    // A run of `length` real (unpadded) entries of a parameter block; its copy in the
    // block's transposed mirror starts at `mirror` with stride Sp.
    struct Run {
        std::size_t offset, length, mirror;
    };
    // One parameter block with its gradient, Adam moments and runs: Adam touches only real
    // entries, so the padding stays exactly zero.
    struct Slot {
        std::vector<float>* weights;
        std::vector<float>* gradient;
        std::vector<float>* mirror;  // ldgoi copy kept in step (cell weights only)
        std::vector<float> m, v;
        std::vector<Run> runs;
    };

    ModelConfig config;
    int G, S, Sp, K, T, Y, C;
    bool lstm;
    dnnl::engine engine;
    dnnl::stream stream;
    memory::desc weightsLayerMd, weightsIterMd, biasMd;
    memory::desc weightsLayerBwdMd, weightsIterBwdMd;
    memory weightsLayerMem, weightsIterMem, biasMem, weightsLayerBwdMem, weightsIterBwdMem;
    memory gradLayerMem, gradIterMem, gradBiasMem;
    std::vector<float> weightsLayer, weightsIter, bias, dense, denseBias;
    // The backward primitive wants ldgoi weights: a transposed copy updated by Adam in the
    // same pass saves two reorders per step (~10 % at L = 5).
    std::vector<float> weightsLayerBwd, weightsIterBwd;
    std::vector<float> gradLayer, gradIter, gradBias, gradDense, gradDenseBias;
    std::vector<Slot> slots;
    std::int64_t adamStep = 0;
    std::uint64_t weightsVersion = 0;  // bumped at every change of the master weights
    std::map<int, Plan> trainPlans, inferPlans;
    std::unique_ptr<LaneNetwork> lanes;  // predict()'s kernel (lstm_infer.cpp), of weightsVersion lanesVersion
    std::uint64_t lanesVersion = ~0ULL;
    std::vector<float> batchInputs, batchLabels;  // a minibatch's, gathered for the lane kernel
    std::unique_ptr<LaneTrainer> trainer;         // the LSTM's training kernel, of weightsVersion trainerVersion
    std::uint64_t trainerVersion = ~0ULL;
    Timing timing;

    Impl(const ModelConfig& cfg, const Parameters& p)
        : config(cfg),
          G(gateCount(cfg.cell)),
          S(cfg.units),
          Sp(paddedUnits(cfg.units)),
          K(cfg.layers),
          T(cfg.inputSteps()),
          Y(cfg.horizon),
          C(cfg.inputChannels()),
          lstm(cfg.cell == CellKind::kLstm),
          engine(dnnlCheck("create a CPU engine", [] { return dnnl::engine(dnnl::engine::kind::cpu, 0); })),
          stream(engine) {
        cfg.validate();
        weightsLayerMd = memory::desc({K, 1, Sp, G, Sp}, memory::data_type::f32, Tag::ldigo);
        weightsIterMd = weightsLayerMd;
        biasMd = memory::desc({K, 1, G, Sp}, memory::data_type::f32, Tag::ldgo);
        const std::size_t nW = static_cast<std::size_t>(K) * Sp * G * Sp;
        const std::size_t nB = static_cast<std::size_t>(K) * G * Sp;
        weightsLayer.assign(nW, 0.0f);
        weightsIter.assign(nW, 0.0f);
        bias.assign(nB, 0.0f);
        dense.assign(static_cast<std::size_t>(Sp) * Y, 0.0f);
        denseBias.assign(Y, 0.0f);
        gradLayer.assign(nW, 0.0f);
        gradIter.assign(nW, 0.0f);
        gradBias.assign(nB, 0.0f);
        gradDense.assign(dense.size(), 0.0f);
        gradDenseBias.assign(Y, 0.0f);
        // The vectors never reallocate: oneDNN memories may point at them.
        weightsLayerMem = memory(weightsLayerMd, engine, weightsLayer.data());
        weightsIterMem = memory(weightsIterMd, engine, weightsIter.data());
        weightsLayerBwdMd = memory::desc({K, 1, Sp, G, Sp}, memory::data_type::f32, Tag::ldgoi);
        weightsIterBwdMd = weightsLayerBwdMd;
        weightsLayerBwd.assign(nW, 0.0f);
        weightsIterBwd.assign(nW, 0.0f);
        weightsLayerBwdMem = memory(weightsLayerBwdMd, engine, weightsLayerBwd.data());
        weightsIterBwdMem = memory(weightsIterBwdMd, engine, weightsIterBwd.data());
        biasMem = memory(biasMd, engine, bias.data());
        gradLayerMem = memory(weightsLayerMd, engine, gradLayer.data());
        gradIterMem = memory(weightsIterMd, engine, gradIter.data());
        gradBiasMem = memory(biasMd, engine, gradBias.data());
        for (auto [w, g] :
             {std::pair{&weightsLayer, &gradLayer}, std::pair{&weightsIter, &gradIter}, std::pair{&bias, &gradBias},
              std::pair{&dense, &gradDense}, std::pair{&denseBias, &gradDenseBias}}) {
            slots.push_back(
                {w, g, nullptr, std::vector<float>(w->size(), 0.0f), std::vector<float>(w->size(), 0.0f), {}});
        }
        slots[0].mirror = &weightsLayerBwd;
        slots[1].mirror = &weightsIterBwd;
        const auto s = static_cast<std::size_t>(S);
        for (int l = 0; l < K; ++l) {
            for (int g = 0; g < G; ++g) {
                for (int i = 0; i < (l == 0 ? C : S); ++i)
                    slots[0].runs.push_back({wIndex(l, i, g, 0), s, tIndex(l, i, g, 0)});
                for (int i = 0; i < S; ++i) slots[1].runs.push_back({wIndex(l, i, g, 0), s, tIndex(l, i, g, 0)});
                slots[2].runs.push_back({bIndex(l, g, 0), s, 0});
            }
        }
        slots[3].runs.push_back({0, s * Y, 0});  // the first S rows of [Sp][Y]
        slots[4].runs.push_back({0, static_cast<std::size_t>(Y), 0});
        load(p);
    }

    std::size_t wIndex(int l, int i, int g, int o) const {
        return ((static_cast<std::size_t>(l) * Sp + i) * G + g) * Sp + o;
    }
    // Index of the same weight in the transposed (ldgoi) mirror.
    std::size_t tIndex(int l, int i, int g, int o) const {
        return ((static_cast<std::size_t>(l) * G + g) * Sp + o) * Sp + i;
    }
    std::size_t bIndex(int l, int g, int o) const { return (static_cast<std::size_t>(l) * G + g) * Sp + o; }

    // Logical parameters -> padded master (padding stays zero), Adam reset.
    void load(const Parameters& p) {
        const Parameters shape = Parameters::zeros(config);
        bool ok = p.weightsLayer.size() == shape.weightsLayer.size() && p.dense.size() == shape.dense.size() &&
                  p.denseBias.size() == shape.denseBias.size();
        for (int l = 0; ok && l < K; ++l) {
            ok = p.weightsLayer[l].size() == shape.weightsLayer[l].size() &&
                 p.weightsIter[l].size() == shape.weightsIter[l].size() && p.bias[l].size() == shape.bias[l].size();
        }
        if (!ok) throw InputError("model parameters do not match the model's shape (K, S, Y)");
        std::fill(weightsLayer.begin(), weightsLayer.end(), 0.0f);
        std::fill(weightsIter.begin(), weightsIter.end(), 0.0f);
        std::fill(bias.begin(), bias.end(), 0.0f);
        std::fill(dense.begin(), dense.end(), 0.0f);
        for (int l = 0; l < K; ++l) {
            const int in = l == 0 ? C : S;
            for (int i = 0; i < in; ++i)
                for (int g = 0; g < G; ++g)
                    for (int o = 0; o < S; ++o)
                        weightsLayer[wIndex(l, i, g, o)] = p.weightsLayer[l][(i * G + g) * S + o];
            for (int i = 0; i < S; ++i)
                for (int g = 0; g < G; ++g)
                    for (int o = 0; o < S; ++o) weightsIter[wIndex(l, i, g, o)] = p.weightsIter[l][(i * G + g) * S + o];
            for (int g = 0; g < G; ++g)
                for (int o = 0; o < S; ++o) bias[bIndex(l, g, o)] = p.bias[l][g * S + o];
        }
        std::copy(p.dense.begin(), p.dense.end(), dense.begin());  // [S][Y] = first S rows of [Sp][Y]
        denseBias = p.denseBias;
        for (int l = 0; l < K; ++l)
            for (int i = 0; i < Sp; ++i)
                for (int g = 0; g < G; ++g)
                    for (int o = 0; o < Sp; ++o) {
                        weightsLayerBwd[tIndex(l, i, g, o)] = weightsLayer[wIndex(l, i, g, o)];
                        weightsIterBwd[tIndex(l, i, g, o)] = weightsIter[wIndex(l, i, g, o)];
                    }
        for (Slot& s : slots) {
            std::fill(s.m.begin(), s.m.end(), 0.0f);
            std::fill(s.v.begin(), s.v.end(), 0.0f);
        }
        adamStep = 0;
        ++weightsVersion;
    }

    // Padded buffers (weights or gradients) -> logical shapes.
    Parameters extract(const std::vector<float>& wl, const std::vector<float>& wi, const std::vector<float>& b,
                       const std::vector<float>& d, const std::vector<float>& db) const {
        Parameters p = Parameters::zeros(config);
        for (int l = 0; l < K; ++l) {
            const int in = l == 0 ? C : S;
            for (int i = 0; i < in; ++i)
                for (int g = 0; g < G; ++g)
                    for (int o = 0; o < S; ++o) p.weightsLayer[l][(i * G + g) * S + o] = wl[wIndex(l, i, g, o)];
            for (int i = 0; i < S; ++i)
                for (int g = 0; g < G; ++g)
                    for (int o = 0; o < S; ++o) p.weightsIter[l][(i * G + g) * S + o] = wi[wIndex(l, i, g, o)];
            for (int g = 0; g < G; ++g)
                for (int o = 0; o < S; ++o) p.bias[l][g * S + o] = b[bIndex(l, g, o)];
        }
        std::copy(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(S) * Y, p.dense.begin());
        p.denseBias = db;
        return p;
    }

    // Forward (and backward) primitive descriptors of either cell for batch n.
    dnnl::primitive_desc forwardDesc(dnnl::prop_kind prop, const memory::desc& src, const memory::desc& state,
                                     const memory::desc& weights, const dnnl::primitive_attr& attr) const {
        const auto dir = dnnl::rnn_direction::unidirectional_left2right;
        if (lstm) {
            dnnl::lstm_forward::desc d(prop, dir, src, state, state, weights, weights, biasMd, src, state, state);
            return dnnl::lstm_forward::primitive_desc(d, attr, engine);
        }
        dnnl::vanilla_rnn_forward::desc d(prop, dnnl::algorithm::eltwise_tanh, dir, src, state, weights, weights,
                                          biasMd, src, state);
        return dnnl::vanilla_rnn_forward::primitive_desc(d, attr, engine);
    }

    dnnl::primitive_desc backwardDesc(const memory::desc& src, const memory::desc& state,
                                      const dnnl::primitive_attr& attr, const dnnl::primitive_desc& hint) const {
        const auto dir = dnnl::rnn_direction::unidirectional_left2right;
        const memory::desc any({K, 1, Sp, G, Sp}, memory::data_type::f32, Tag::any);
        if (lstm) {
            dnnl::lstm_backward::desc d(dnnl::prop_kind::backward, dir, src, state, state, any, any, biasMd, src, state,
                                        state, src, state, state, weightsLayerMd, weightsIterMd, biasMd, src, state,
                                        state);
            return dnnl::lstm_backward::primitive_desc(d, attr, engine, dnnl::lstm_forward::primitive_desc(hint.get()));
        }
        dnnl::vanilla_rnn_backward::desc d(dnnl::prop_kind::backward, dnnl::algorithm::eltwise_tanh, dir, src, state,
                                           any, any, biasMd, src, state, src, state, weightsLayerMd, weightsIterMd,
                                           biasMd, src, state);
        return dnnl::vanilla_rnn_backward::primitive_desc(d, attr, engine,
                                                          dnnl::vanilla_rnn_forward::primitive_desc(hint.get()));
    }

    // Builds the plan of batch size n (training: forward_training + backward).
    Plan makePlan(int n, Pass pass) {
        return dnnlCheck("build the recurrent primitives", [&] {
            Plan plan;
            plan.batch = n;
            plan.pass = pass;
            const bool training = pass == Pass::kTraining;
            const memory::desc src({T, n, Sp}, memory::data_type::f32, Tag::tnc);
            const memory::desc state({K, 1, n, Sp}, memory::data_type::f32, Tag::ldnc);
            const memory::desc anyWeights({K, 1, Sp, G, Sp}, memory::data_type::f32, Tag::any);
            dnnl::primitive_attr attr;
            attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
            // Training takes the master layout as is; inference may pick a packed layout.
            const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
            const dnnl::primitive_desc fpd =
                forwardDesc(prop, src, state, training ? weightsLayerMd : anyWeights, attr);
            plan.forward = dnnl::primitive(fpd);
            // The oneDNN 2.6.3 bug: without src_iter the last layer's
            // diff_weights_iter is wrong, so zero initial states are always passed.
            plan.src = zeroed(src, engine);
            plan.srcIter = zeroed(state, engine);
            plan.dst = zeroed(src, engine);
            plan.dstIter = zeroed(state, engine);
            const memory::desc fwl = fpd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_LAYER);
            const memory::desc fwi = fpd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_ITER);
            plan.fwdReorder = !(fwl == weightsLayerMd && fwi == weightsIterMd);
            plan.fwdWeightsLayer = plan.fwdReorder ? zeroed(fwl, engine) : weightsLayerMem;
            plan.fwdWeightsIter = plan.fwdReorder ? zeroed(fwi, engine) : weightsIterMem;
            std::size_t scratch = fpd.scratchpad_desc().get_size();
            plan.forwardArgs = {{DNNL_ARG_SRC_LAYER, plan.src},
                                {DNNL_ARG_SRC_ITER, plan.srcIter},
                                {DNNL_ARG_WEIGHTS_LAYER, plan.fwdWeightsLayer},
                                {DNNL_ARG_WEIGHTS_ITER, plan.fwdWeightsIter},
                                {DNNL_ARG_BIAS, biasMem},
                                {DNNL_ARG_DST_LAYER, plan.dst},
                                {DNNL_ARG_DST_ITER, plan.dstIter}};
            if (lstm) {
                plan.srcIterC = zeroed(state, engine);
                plan.dstIterC = zeroed(state, engine);
                plan.forwardArgs[DNNL_ARG_SRC_ITER_C] = plan.srcIterC;
                plan.forwardArgs[DNNL_ARG_DST_ITER_C] = plan.dstIterC;
            }
            if (training) {
                plan.workspace = zeroed(fpd.workspace_desc(), engine);
                plan.forwardArgs[DNNL_ARG_WORKSPACE] = plan.workspace;
                const dnnl::primitive_desc bpd = backwardDesc(src, state, attr, fpd);
                plan.backward = dnnl::primitive(bpd);
                scratch = std::max(scratch, bpd.scratchpad_desc().get_size());
                const memory::desc bwl = bpd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_LAYER);
                const memory::desc bwi = bpd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_ITER);
                plan.bwdReorder = !(bwl == weightsLayerBwdMd && bwi == weightsIterBwdMd);
                plan.bwdWeightsLayer = plan.bwdReorder ? zeroed(bwl, engine) : weightsLayerBwdMem;
                plan.bwdWeightsIter = plan.bwdReorder ? zeroed(bwi, engine) : weightsIterBwdMem;
                plan.diffSrc = zeroed(src, engine);
                plan.diffSrcIter = zeroed(state, engine);
                plan.diffDst = zeroed(src, engine);  // only the last step is ever written
                plan.diffDstIter = zeroed(state, engine);
                // Backward reads what forward read and wrote (states, workspace), with its own
                // weights layout, and writes the diffs.
                plan.backwardArgs = plan.forwardArgs;
                plan.backwardArgs[DNNL_ARG_WEIGHTS_LAYER] = plan.bwdWeightsLayer;
                plan.backwardArgs[DNNL_ARG_WEIGHTS_ITER] = plan.bwdWeightsIter;
                plan.backwardArgs[DNNL_ARG_DIFF_SRC_LAYER] = plan.diffSrc;
                plan.backwardArgs[DNNL_ARG_DIFF_SRC_ITER] = plan.diffSrcIter;
                plan.backwardArgs[DNNL_ARG_DIFF_WEIGHTS_LAYER] = gradLayerMem;
                plan.backwardArgs[DNNL_ARG_DIFF_WEIGHTS_ITER] = gradIterMem;
                plan.backwardArgs[DNNL_ARG_DIFF_BIAS] = gradBiasMem;
                plan.backwardArgs[DNNL_ARG_DIFF_DST_LAYER] = plan.diffDst;
                plan.backwardArgs[DNNL_ARG_DIFF_DST_ITER] = plan.diffDstIter;
                if (lstm) {
                    plan.diffSrcIterC = zeroed(state, engine);
                    plan.diffDstIterC = zeroed(state, engine);
                    plan.backwardArgs[DNNL_ARG_DIFF_SRC_ITER_C] = plan.diffSrcIterC;
                    plan.backwardArgs[DNNL_ARG_DIFF_DST_ITER_C] = plan.diffDstIterC;
                }
            }
            plan.scratchpad =
                zeroed(memory::desc({static_cast<memory::dim>(scratch)}, memory::data_type::u8, Tag::a), engine);
            plan.forwardArgs[DNNL_ARG_SCRATCHPAD] = plan.scratchpad;
            if (training) plan.backwardArgs[DNNL_ARG_SCRATCHPAD] = plan.scratchpad;
            plan.prediction.assign(static_cast<std::size_t>(n) * Y, 0.0f);
            plan.label.assign(plan.prediction.size(), 0.0f);
            plan.diffPrediction.assign(plan.prediction.size(), 0.0f);
            return plan;
        });
    }

    Plan& plan(int n, Pass pass) {
        auto& plans = pass == Pass::kTraining ? trainPlans : inferPlans;
        auto it = plans.find(n);
        if (it == plans.end()) it = plans.emplace(n, makePlan(n, pass)).first;
        return it->second;
    }

    // Copies the master weights into the primitives' own layouts when they changed since.
    void refresh(Plan& p, Direction direction) {
        const bool backward = direction == Direction::kBackward;
        const bool needed = backward ? p.bwdReorder : p.fwdReorder;
        std::uint64_t& version = backward ? p.bwdVersion : p.fwdVersion;
        if (!needed || version == weightsVersion) return;
        memory& layer = backward ? p.bwdWeightsLayer : p.fwdWeightsLayer;
        memory& iter = backward ? p.bwdWeightsIter : p.fwdWeightsIter;
        dnnl::reorder& toLayer = backward ? p.bwdToLayer : p.fwdToLayer;
        dnnl::reorder& toIter = backward ? p.bwdToIter : p.fwdToIter;
        const detail::SignalShield shield;
        dnnlCheck("reorder weights", [&] {
            if (!toLayer) {
                toLayer = dnnl::reorder(weightsLayerMem, layer);
                toIter = dnnl::reorder(weightsIterMem, iter);
            }
            toLayer.execute(stream, weightsLayerMem, layer);
            toIter.execute(stream, weightsIterMem, iter);
            stream.wait();
        });
        version = weightsVersion;
    }

    // Channels 0..C-1 of every (t, b) get the sample's inputs; the padding channels stay 0.
    void pack(Plan& p, const float* inputs, const std::uint32_t* indices, std::size_t n) {
        float* src = data(p.src);
        const std::size_t width = static_cast<std::size_t>(T) * C;
        for (std::size_t b = 0; b < n; ++b) {
            const float* x = inputs + static_cast<std::size_t>(indices ? indices[b] : b) * width;
            for (int t = 0; t < T; ++t)
                for (int c = 0; c < C; ++c) src[(static_cast<std::size_t>(t) * p.batch + b) * Sp + c] = x[t * C + c];
        }
    }

    // pack() of samples indices[0..n) of `set`; windows held as views are computed first.
    void packSamples(Plan& p, const SampleSet& set, const std::uint32_t* indices, std::size_t n) {
        if (!set.views()) return pack(p, set.inputs.data(), indices, n);
        batchInputs.resize(n * static_cast<std::size_t>(T) * C);
        set.fillInputs(indices, 0, n, batchInputs.data());
        pack(p, batchInputs.data(), nullptr, n);
    }

    // Forward through the stack and the dense head on the last step -> p.prediction.
    void forward(Plan& p) {
        const auto start = Clock::now();
        refresh(p, Direction::kForward);
        dnnlCheck("run the forward primitive", [&] {
            const detail::SignalShield shield;
            p.forward.execute(stream, p.forwardArgs);
            stream.wait();
        });
        timing.forward += seconds(start);
        const float* h = data(p.dst) + static_cast<std::size_t>(T - 1) * p.batch * Sp;
        for (int b = 0; b < p.batch; ++b) {
            for (int y = 0; y < Y; ++y) {
                float acc = denseBias[y];
                for (int s = 0; s < S; ++s) acc += h[static_cast<std::size_t>(b) * Sp + s] * dense[s * Y + y];
                p.prediction[static_cast<std::size_t>(b) * Y + y] = acc;
            }
        }
    }

    // Loss gradient -> head gradients and d(loss)/dh on the last step -> backward primitive:
    // gradients of all parameters in the grad* buffers (padded layout).
    double lossAndBackward(Plan& p, LossKind loss, double delta) {
        const double value =
            batchLoss(p.prediction.data(), p.label.data(), p.prediction.size(), loss, delta, p.diffPrediction.data());
        const auto start = Clock::now();
        const std::size_t last = static_cast<std::size_t>(T - 1) * p.batch * Sp;
        const float* h = data(p.dst) + last;
        float* dh = data(p.diffDst) + last;
        std::fill(gradDense.begin(), gradDense.end(), 0.0f);
        std::fill(gradDenseBias.begin(), gradDenseBias.end(), 0.0f);
        for (int b = 0; b < p.batch; ++b) {
            const float* g = p.diffPrediction.data() + static_cast<std::size_t>(b) * Y;
            for (int y = 0; y < Y; ++y) gradDenseBias[y] += g[y];
            for (int s = 0; s < S; ++s) {
                const float hs = h[static_cast<std::size_t>(b) * Sp + s];
                float acc = 0;
                for (int y = 0; y < Y; ++y) {
                    gradDense[s * Y + y] += hs * g[y];
                    acc += g[y] * dense[s * Y + y];
                }
                dh[static_cast<std::size_t>(b) * Sp + s] = acc;
            }
        }
        // oneDNN accumulates into diff weights.
        std::fill(gradLayer.begin(), gradLayer.end(), 0.0f);
        std::fill(gradIter.begin(), gradIter.end(), 0.0f);
        std::fill(gradBias.begin(), gradBias.end(), 0.0f);
        refresh(p, Direction::kBackward);
        timing.other += seconds(start);
        const auto startBackward = Clock::now();
        dnnlCheck("run the backward primitive", [&] {
            const detail::SignalShield shield;
            p.backward.execute(stream, p.backwardArgs);
            stream.wait();
        });
        timing.backward += seconds(startBackward);
        return value;
    }

    // Loss and gradients (grad* buffers) of n samples: inputs n x T x C, labels n x Y.
    double laneGradient(const float* inputs, const float* labels, std::size_t n, LossKind loss, double delta) {
        if (!trainer) trainer = std::make_unique<LaneTrainer>(config);
        if (trainerVersion != weightsVersion) {
            const auto start = Clock::now();
            trainer->setWeights(extract(weightsLayer, weightsIter, bias, dense, denseBias));
            trainerVersion = weightsVersion;
            timing.other += seconds(start);
        }
        const LaneTrainer::Timing before = trainer->timing();
        const double value = trainer->lossAndGradient(
            inputs, labels, n, loss, delta,
            {gradLayer.data(), gradIter.data(), gradBias.data(), gradDense.data(), gradDenseBias.data(), Sp});
        timing.forward += trainer->timing().forward - before.forward;
        timing.backward += trainer->timing().backward - before.backward;
        return value;
    }

    // Loss and gradients (grad* buffers) of the samples indices[0..n) of `set`, by the lane kernel
    // or oneDNN (trainingKernel()).
    double gradient(const SampleSet& set, const std::uint32_t* indices, std::size_t n, const TrainConfig& train) {
        const auto start = Clock::now();
        if (trainingKernel(config.cell) != "onednn") {
            const std::size_t width = static_cast<std::size_t>(T) * C;
            batchInputs.resize(n * width);
            batchLabels.resize(n * Y);
            if (set.views()) {
                set.fillInputs(indices, 0, n, batchInputs.data());
            } else {
                for (std::size_t b = 0; b < n; ++b)
                    std::copy_n(set.inputs.data() + indices[b] * width, width, batchInputs.data() + b * width);
            }
            for (std::size_t b = 0; b < n; ++b)
                std::copy_n(set.labels.data() + static_cast<std::size_t>(indices[b]) * Y, Y,
                            batchLabels.data() + b * Y);
            timing.other += seconds(start);
            return laneGradient(batchInputs.data(), batchLabels.data(), n, train.loss, train.huberDelta);
        }
        Plan& p = plan(static_cast<int>(n), Pass::kTraining);
        packSamples(p, set, indices, n);
        for (std::size_t b = 0; b < n; ++b)
            std::copy_n(set.labels.data() + static_cast<std::size_t>(indices[b]) * Y, Y, p.label.data() + b * Y);
        timing.other += seconds(start);
        forward(p);
        return lossAndBackward(p, train.loss, train.huberDelta);
    }

    // Adam (Kingma & Ba 2015) exactly as torch.optim.Adam: bias-corrected moments.
    void adam(const TrainConfig& c) {
        ++adamStep;
        const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(adamStep));
        const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(adamStep));
        const float stepSize = static_cast<float>(c.lr / bc1);
        const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
        const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
        const float a1 = 1.0f - b1, a2 = 1.0f - b2, eps = static_cast<float>(c.eps);
        const auto stride = static_cast<std::size_t>(Sp);
        for (Slot& s : slots) {
            for (const Run& run : s.runs) {
                float* w = s.weights->data() + run.offset;
                const float* g = s.gradient->data() + run.offset;
                float* m = s.m.data() + run.offset;
                float* v = s.v.data() + run.offset;
                for (std::size_t i = 0; i < run.length; ++i) {
                    m[i] = b1 * m[i] + a1 * g[i];
                    v[i] = b2 * v[i] + a2 * g[i] * g[i];
                    w[i] -= stepSize * m[i] / (std::sqrt(v[i]) * invSqrtBc2 + eps);
                }
                if (s.mirror != nullptr) {
                    float* t = s.mirror->data() + run.mirror;
                    for (std::size_t i = 0; i < run.length; ++i) t[i * stride] = w[i];
                }
            }
        }
        ++weightsVersion;
    }
};

Network::Network(const ModelConfig& config, const Parameters& parameters)
    : impl_(std::make_unique<Impl>(config, parameters)) {}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

const ModelConfig& Network::config() const noexcept { return impl_->config; }
const Network::Timing& Network::timing() const noexcept { return impl_->timing; }

Parameters Network::parameters() const {
    const Impl& m = *impl_;
    return m.extract(m.weightsLayer, m.weightsIter, m.bias, m.dense, m.denseBias);
}

void Network::setParameters(const Parameters& parameters) { impl_->load(parameters); }

Network::OptimizerState Network::optimizerState() const {
    OptimizerState state;
    for (const auto& s : impl_->slots) {
        state.moments.insert(state.moments.end(), s.m.begin(), s.m.end());
        state.moments.insert(state.moments.end(), s.v.begin(), s.v.end());
    }
    state.step = static_cast<std::uint64_t>(impl_->adamStep);
    return state;
}

void Network::setOptimizerState(const OptimizerState& state) {
    std::size_t size = 0;
    for (const auto& s : impl_->slots) size += s.m.size() + s.v.size();
    if (state.moments.size() != size) throw InputError("optimizer state does not match the model's shape");
    const float* in = state.moments.data();
    for (auto& s : impl_->slots) {
        std::copy_n(in, s.m.size(), s.m.begin());
        in += s.m.size();
        std::copy_n(in, s.v.size(), s.v.begin());
        in += s.v.size();
    }
    impl_->adamStep = static_cast<std::int64_t>(state.step);
}

void Network::releaseTrainingPlans() { impl_->trainPlans.clear(); }

void Network::predict(const float* inputs, std::size_t n, float* outputs) {
    Impl& m = *impl_;
    if (n > 0 && inferenceKernel() != "onednn") {
        const auto start = Clock::now();
        if (!m.lanes || m.lanesVersion != m.weightsVersion)
            m.lanes = std::make_unique<LaneNetwork>(m.config, parameters());
        m.lanesVersion = m.weightsVersion;
        m.lanes->predict(inputs, n, outputs);
        m.timing.forward += seconds(start);
        return;
    }
    for (std::size_t first = 0; first < n; first += kPredictBatch) {
        // Every batch has the same shape (the tail is padded with the previous batch's rows, which
        // are ignored): kernels may round differently per batch shape, and a point's forecast
        // must not depend on which other points share its batch.
        const std::size_t count = std::min(kPredictBatch, n - first);
        Impl::Plan& p = m.plan(static_cast<int>(kPredictBatch), Pass::kInference);
        m.pack(p, inputs + first * static_cast<std::size_t>(m.T) * m.C, nullptr, count);
        m.forward(p);
        std::copy_n(p.prediction.begin(), count * static_cast<std::size_t>(m.Y), outputs + first * m.Y);
    }
}

double Network::lossAndGradient(const float* inputs, const float* labels, std::size_t n, LossKind loss,
                                double huberDelta, Parameters& gradient) {
    Impl& m = *impl_;
    if (n == 0) throw InputError("lossAndGradient: empty batch");
    double value = 0;
    if (trainingKernel(m.config.cell) != "onednn") {
        value = m.laneGradient(inputs, labels, n, loss, huberDelta);
    } else {
        Impl::Plan& p = m.plan(static_cast<int>(n), Pass::kTraining);
        m.pack(p, inputs, nullptr, n);
        std::copy(labels, labels + n * m.Y, p.label.begin());
        m.forward(p);
        value = m.lossAndBackward(p, loss, huberDelta);
    }
    gradient = m.extract(m.gradLayer, m.gradIter, m.gradBias, m.gradDense, m.gradDenseBias);
    return value;
}

std::size_t Network::gradientRecordSize() const noexcept {
    const Impl& m = *impl_;
    return 1 + m.gradLayer.size() + m.gradIter.size() + m.gradBias.size() + m.gradDense.size() + m.gradDenseBias.size();
}

double Network::shardGradient(const SampleSet& set, const std::uint32_t* indices, std::size_t n,
                              const TrainConfig& train, float* record) {
    Impl& m = *impl_;
    if (n == 0) throw InputError("shardGradient: empty shard");
    const double value = m.gradient(set, indices, n, train);
    record[0] = static_cast<float>(value);
    float* out = record + 1;
    for (const auto* g : {&m.gradLayer, &m.gradIter, &m.gradBias, &m.gradDense, &m.gradDenseBias})
        out = std::copy(g->begin(), g->end(), out);
    ++m.timing.steps;
    return value;
}

void Network::applyGradient(const float* record, const TrainConfig& train) {
    Impl& m = *impl_;
    const float* in = record + 1;
    for (auto* g : {&m.gradLayer, &m.gradIter, &m.gradBias, &m.gradDense, &m.gradDenseBias}) {
        std::copy_n(in, g->size(), g->begin());
        in += g->size();
    }
    m.adam(train);
}

double Network::trainStep(const SampleSet& set, const std::uint32_t* indices, std::size_t n, const TrainConfig& train) {
    Impl& m = *impl_;
    if (n == 0) return 0.0;
    const double value = m.gradient(set, indices, n, train);
    const auto startAdam = Clock::now();
    if (std::isfinite(value)) m.adam(train);
    m.timing.other += seconds(startAdam);
    ++m.timing.steps;
    return value;
}

}  // namespace hlstm::model
