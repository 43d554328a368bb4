// Shared by the atmosphere filters' tests (test_common_mode, test_reference_atmosphere): a field
// of Gaussian blobs per epoch, like the simulator's atmosphere, and a rank's block of a scene.
#pragma once

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/point_set.hpp"

namespace hlstm::test {

struct Blob {
    double x, y, s, a;  // centre (m), width (m), amplitude (mm)
};

// Per epoch, three Gaussian blobs of 3-10 km and +-(0.5-1) x fieldMm in a width x height scene,
// new at every epoch; draws only uniform numbers from rng, epoch by epoch.
inline std::vector<std::vector<Blob>> blobFields(std::mt19937_64& rng, std::size_t epochs, double width, double height,
                                                 double fieldMm) {
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    std::vector<std::vector<Blob>> blobs(epochs);
    for (auto& epoch : blobs)
        for (int k = 0; k < 3; ++k)
            epoch.push_back({uni(rng) * width, uni(rng) * height, 3000 + 7000 * uni(rng),
                             fieldMm * (uni(rng) < 0.5 ? -1 : 1) * (0.5 + 0.5 * uni(rng))});
    return blobs;
}

// One epoch's field at (x, y), mm.
inline double blobField(const std::vector<Blob>& epoch, double x, double y) {
    double a = 0;
    for (const Blob& b : epoch) a += b.a * std::exp(-((x - b.x) * (x - b.x) + (y - b.y) * (y - b.y)) / (2 * b.s * b.s));
    return a;
}

// This rank's consecutive block of the scene's points.
inline PointSet blockOf(const Comm& comm, const PointSet& all) {
    PointSet p;
    p.dates = all.dates;
    const std::size_t n = all.size(), r = static_cast<std::size_t>(comm.rank()),
                      size = static_cast<std::size_t>(comm.size());
    for (std::size_t i = n * r / size; i < n * (r + 1) / size; ++i) p.appendFrom(all, i);
    return p;
}

}  // namespace hlstm::test
