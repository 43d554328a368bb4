// Driver of tools/bench/lstm_infer.sh (not a test): times Network::predict on N windows with the
// lane kernel and with oneDNN's forward_inference (HLSTM_INFERENCE=onednn), and writes the
// windows, the weights and the lane kernel's outputs for tools/bench/lstm_infer_torch.py.
//
//   hlstm_bench_lstm_infer DIR N L K S RUNS
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "hlstm/model/lstm_infer.hpp"
#include "hlstm/model/network.hpp"
#include "hlstm/model/parameters.hpp"

using namespace hlstm::model;

namespace {

void write(const std::string& path, const std::vector<float>& v) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

// Median seconds of `runs` predictions of all n windows.
double timed(Network& net, const std::vector<float>& x, std::size_t n, std::vector<float>& out, int runs) {
    std::vector<double> s;
    for (int r = 0; r < runs; ++r) {
        const auto start = std::chrono::steady_clock::now();
        net.predict(x.data(), n, out.data());
        s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s DIR N L K S RUNS\n", argv[0]);
        return 1;
    }
    const std::string dir = argv[1];
    const std::size_t n = std::strtoull(argv[2], nullptr, 10);
    ModelConfig c;
    c.window = std::atoi(argv[3]);
    c.layers = std::atoi(argv[4]);
    c.units = std::atoi(argv[5]);
    const int runs = std::atoi(argv[6]);
    Parameters p = Parameters::initial(c, 1);
    // z-scored windows of a random walk's increments with a seasonal term, as the pipeline feeds.
    const std::size_t T = c.inputSteps();
    std::vector<float> x(n * T);
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) {
        double mean = 0, sq = 0;
        for (std::size_t t = 0; t < T; ++t) {
            x[i * T + t] = std::sin(0.5f * static_cast<float>(t + i % 23)) + noise(rng);
            mean += x[i * T + t];
        }
        mean /= T;
        for (std::size_t t = 0; t < T; ++t) sq += (x[i * T + t] - mean) * (x[i * T + t] - mean);
        const double sd = std::sqrt(sq / T);
        for (std::size_t t = 0; t < T; ++t) x[i * T + t] = static_cast<float>((x[i * T + t] - mean) / sd);
    }
    std::vector<float> flat;
    for (const ParameterGroup& g : p.groups()) flat.insert(flat.end(), g.data, g.data + g.size);
    write(dir + "/x.bin", x);
    write(dir + "/params.bin", flat);
    std::vector<float> lanes(n), onednn(n);
    Network net(c, p);
    const std::string kernel = inferenceKernel();
    const double tl = timed(net, x, n, lanes, runs);
    setInferenceEngine(InferenceEngine::kOnednn);
    const double to = timed(net, x, n, onednn, runs);
    write(dir + "/out.bin", lanes);
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, static_cast<double>(std::abs(lanes[i] - onednn[i])));
    std::printf("hlstm lanes (%s): %zu windows in %.3f s = %.0f windows/s\n", kernel.c_str(), n, tl, n / tl);
    std::printf("hlstm onednn (batch 256): %zu windows in %.3f s = %.0f windows/s\n", n, to, n / to);
    std::printf("largest |lanes - onednn| = %.3g\n", worst);
    std::printf("RESULT hlstm %.6f onednn %.6f\n", tl, to);
    return 0;
}
