#include "hlstm/partition/davies_bouldin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "hlstm/core/error.hpp"

namespace hlstm::partition {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kAllCloseAtol = 1e-8;  // numpy.allclose(a, 0) as scikit-learn uses it
constexpr int kSumBits = 62;            // fixed-point sums stay below 2^62 in magnitude
constexpr int kMaxScaleBits = 48;

// Largest power of two s with count * maxAbs * s <= 2^bits (so no sum can overflow).
double fixedPointScale(std::uint64_t count, double maxAbs, int bits) {
    const double bound = static_cast<double>(std::max<std::uint64_t>(count, 1)) * std::max(maxAbs, 1e-300);
    int exponent = 0;
    std::frexp(bound, &exponent);  // bound < 2^exponent
    return std::ldexp(1.0, std::min(bits - exponent, kMaxScaleBits));
}

PearsonSums::Isa& isaSetting() {
    static PearsonSums::Isa setting = [] {
        const char* v = std::getenv("HLSTM_PARTITION_ISA");
        return v != nullptr && std::strcmp(v, "portable") == 0 ? PearsonSums::Isa::kPortable
                                                               : PearsonSums::Isa::kNative;
    }();
    return setting;
}

constexpr std::size_t kLanes = 8;

// accumulate()'s per-row arithmetic for 8 rows side by side, one AVX-512 lane each: c holds the
// rows' T + 1 values transposed (c[t * 8 + lane]); d, a and b get T x 8 values: the differentials
// (a missing one replaced by the row's mean), d scaled for the sum of differentials and the
// centred, normalised d scaled for the sum of u. Each lane does the scalar loop's operations in
// its order (the mean and norm summed in t order, no fused multiply-add), so every value is the
// scalar one bit for bit; the integer conversions stay scalar (the caller's).
// isfinite of each lane: x - x is 0 for a finite x, NaN otherwise.
__attribute__((target("avx512f"), optimize("fp-contract=off"))) inline __mmask8 finiteLanes(__m512d x) {
    return _mm512_cmp_pd_mask(_mm512_sub_pd(x, x), _mm512_setzero_pd(), _CMP_EQ_OQ);
}

__attribute__((target("avx512f"), optimize("fp-contract=off"))) void pearsonLanes(const double* c, std::size_t T,
                                                                                  double scaleD, double scaleU,
                                                                                  double* d, double* a, double* b) {
    const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
    __m512d mean = zero, count = zero;
    for (std::size_t t = 0; t < T; ++t) {
        const __m512d dv = _mm512_sub_pd(_mm512_loadu_pd(c + (t + 1) * kLanes), _mm512_loadu_pd(c + t * kLanes));
        _mm512_storeu_pd(d + t * kLanes, dv);
        const __mmask8 ok = finiteLanes(dv);
        mean = _mm512_mask_add_pd(mean, ok, mean, dv);
        count = _mm512_mask_add_pd(count, ok, count, one);
    }
    mean = _mm512_mask_div_pd(zero, _mm512_cmp_pd_mask(count, zero, _CMP_NEQ_OQ), mean, count);
    __m512d norm2 = zero;
    for (std::size_t t = 0; t < T; ++t) {
        __m512d dv = _mm512_loadu_pd(d + t * kLanes);
        dv = _mm512_mask_mov_pd(mean, finiteLanes(dv), dv);  // a missing step adds nothing to r
        _mm512_storeu_pd(d + t * kLanes, dv);
        const __m512d centred = _mm512_sub_pd(dv, mean);
        norm2 = _mm512_add_pd(norm2, _mm512_mul_pd(centred, centred));
    }
    const __m512d root = _mm512_mask_sqrt_pd(zero, 0xff, norm2);
    const __m512d inv = _mm512_mask_div_pd(zero, _mm512_cmp_pd_mask(norm2, zero, _CMP_GT_OQ), one, root);
    const __m512d sd = _mm512_set1_pd(scaleD), su = _mm512_set1_pd(scaleU);
    for (std::size_t t = 0; t < T; ++t) {
        const __m512d dv = _mm512_loadu_pd(d + t * kLanes);
        _mm512_storeu_pd(a + t * kLanes, _mm512_mul_pd(dv, sd));
        _mm512_storeu_pd(b + t * kLanes, _mm512_mul_pd(_mm512_mul_pd(_mm512_sub_pd(dv, mean), inv), su));
    }
}

}  // namespace

PearsonSums::Isa PearsonSums::isa() { return isaSetting(); }
void PearsonSums::setIsa(Isa isa) { isaSetting() = isa; }

double daviesBouldin(const std::vector<double>& intra, const std::vector<double>& centroidDistance) {
    const std::size_t k = intra.size();
    if (k < 2 || centroidDistance.size() != k * k) return kNaN;
    bool intraZero = true, distZero = true;
    for (double s : intra) intraZero = intraZero && std::abs(s) <= kAllCloseAtol;
    for (double d : centroidDistance) distZero = distZero && std::abs(d) <= kAllCloseAtol;
    if (intraZero || distZero) return 0.0;
    double sum = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
        double worst = 0.0;  // eq. (2): max over j != i of R_ij
        for (std::size_t j = 0; j < k; ++j) {
            const double d = centroidDistance[i * k + j];
            if (j == i || d == 0.0) continue;
            worst = std::max(worst, (intra[i] + intra[j]) / d);  // eq. (1)
        }
        sum += worst;
    }
    return sum / static_cast<double>(k);
}

double daviesBouldinVelocity(const SortedSample& sample, const Clustering1d& c) {
    if (c.k < 2) return kNaN;
    const std::size_t k = static_cast<std::size_t>(c.k), m = sample.values.size();
    std::vector<double> intra(k), dist(k * k);
    for (std::size_t q = 0; q < k; ++q) {
        const std::size_t a = c.firstDistinct[q], b = q + 1 < k ? c.firstDistinct[q + 1] : m;
        double s = 0.0;
        for (std::size_t i = a; i < b; ++i)
            s += static_cast<double>(sample.weights[i]) * std::abs(sample.values[i] - c.centers[q]);
        intra[q] = s / static_cast<double>(c.sizes[q]);
        for (std::size_t j = 0; j < k; ++j) dist[q * k + j] = std::abs(c.centers[q] - c.centers[j]);
    }
    return daviesBouldin(intra, dist);
}

PearsonSums PearsonSums::accumulate(const Comm& comm, const PointSet& points, const std::vector<double>& velocity,
                                    std::vector<double> boundaries, std::size_t epochs) {
    return accumulate(
        comm, points.size(), points.nEpochs(), [&points](std::size_t i) { return points.series(i); }, velocity,
        std::move(boundaries), epochs);
}

PearsonSums PearsonSums::accumulate(const Comm& comm, std::size_t n, std::size_t nEpochs, const SeriesOf& seriesOf,
                                    const std::vector<double>& velocity, std::vector<double> boundaries,
                                    std::size_t epochs) {
    PearsonSums p;
    p.boundaries_ = std::move(boundaries);
    const std::size_t m = epochs == 0 ? nEpochs : std::min(epochs, nEpochs);
    const std::size_t T = m > 0 ? m - 1 : 0;
    // Preconditions agreed by all ranks before any further collective.
    p.steps_ = comm.allreduce<std::uint64_t>(T, Reduce::kMin);
    if (p.steps_ != comm.allreduce<std::uint64_t>(T, Reduce::kMax))
        throw RuntimeError("PearsonSums: ranks hold different epoch counts");
    if (comm.allreduce<int>(velocity.size() != n ? 1 : 0, Reduce::kMax) != 0)
        throw RuntimeError("PearsonSums: a rank passed a velocity count unlike its point count");
    const std::size_t stride = 1 + 2 * T;

    // Fixed-point scales from the global extent of the differentials.
    double maxAbs = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const float* c = seriesOf(i);
        for (std::size_t t = 0; t < T; ++t) {
            const double d = static_cast<double>(c[t + 1]) - static_cast<double>(c[t]);
            if (std::isfinite(d)) maxAbs = std::max(maxAbs, std::abs(d));
        }
    }
    maxAbs = comm.allreduce(maxAbs, Reduce::kMax);
    const std::uint64_t total = comm.allreduce<std::uint64_t>(n, Reduce::kSum);
    p.scaleD_ = fixedPointScale(total, maxAbs, kSumBits);
    p.scaleU_ = fixedPointScale(total, 1.0, kSumBits - 1);  // |u_t| <= 1 (+ rounding)

    p.sums_.assign(p.bins() * stride, 0);
    const auto binOf = [&p](double v) {
        return static_cast<std::size_t>(std::upper_bound(p.boundaries_.begin(), p.boundaries_.end(), v) -
                                        p.boundaries_.begin());
    };
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    if (avx512 && isa() == Isa::kNative && T > 0) {
        // 8 rows at a time (pearsonLanes); each row copied in as it is asked for (a spilled row's
        // pointer lasts until the next row is asked for), the lanes past n left at 0.
        std::vector<double> c((T + 1) * kLanes), d(T * kLanes), a(T * kLanes), b(T * kLanes);
        for (std::size_t i0 = 0; i0 < n; i0 += kLanes) {
            const std::size_t lanes = std::min(kLanes, n - i0);
            for (std::size_t l = 0; l < kLanes; ++l) {
                const float* series = l < lanes ? seriesOf(i0 + l) : nullptr;
                for (std::size_t t = 0; t <= T; ++t) c[t * kLanes + l] = series != nullptr ? series[t] : 0.0;
            }
            pearsonLanes(c.data(), T, p.scaleD_, p.scaleU_, d.data(), a.data(), b.data());
            for (std::size_t l = 0; l < lanes; ++l) {
                std::int64_t* row = p.sums_.data() + binOf(velocity[i0 + l]) * stride;
                row[0] += 1;
                for (std::size_t t = 0; t < T; ++t) {
                    row[1 + t] += static_cast<std::int64_t>(a[t * kLanes + l]);
                    row[1 + T + t] += static_cast<std::int64_t>(b[t * kLanes + l]);
                }
            }
        }
        comm.allreduceInPlace(p.sums_, Reduce::kSum);
        return p;
    }
    std::vector<double> d(T);
    for (std::size_t i = 0; i < n; ++i) {
        const float* c = seriesOf(i);
        double mean = 0.0;
        std::size_t finite = 0;
        for (std::size_t t = 0; t < T; ++t) {
            d[t] = static_cast<double>(c[t + 1]) - static_cast<double>(c[t]);
            if (std::isfinite(d[t])) {
                mean += d[t];
                ++finite;
            }
        }
        mean = finite ? mean / static_cast<double>(finite) : 0.0;
        double norm2 = 0.0;
        for (std::size_t t = 0; t < T; ++t) {
            if (!std::isfinite(d[t])) d[t] = mean;  // a missing step adds nothing to r
            norm2 += (d[t] - mean) * (d[t] - mean);
        }
        const double inv = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
        const std::size_t bin = static_cast<std::size_t>(
            std::upper_bound(p.boundaries_.begin(), p.boundaries_.end(), velocity[i]) - p.boundaries_.begin());
        std::int64_t* row = p.sums_.data() + bin * stride;
        row[0] += 1;
        for (std::size_t t = 0; t < T; ++t) {
            row[1 + t] += static_cast<std::int64_t>(d[t] * p.scaleD_);
            row[1 + T + t] += static_cast<std::int64_t>((d[t] - mean) * inv * p.scaleU_);
        }
    }
    comm.allreduceInPlace(p.sums_, Reduce::kSum);
    return p;
}

double PearsonSums::dbIndex(const Clustering1d& c) const {
    const std::size_t T = steps_;
    if (c.k < 2 || T < 2) return kNaN;
    const std::size_t k = static_cast<std::size_t>(c.k), stride = 1 + 2 * T;
    auto binOfStart = [&](std::size_t q) -> std::size_t {
        if (q == 0) return 0;
        if (q >= k) return bins();
        auto it = std::lower_bound(boundaries_.begin(), boundaries_.end(), c.starts[q]);
        if (it == boundaries_.end() || *it != c.starts[q])
            throw RuntimeError("PearsonSums: a cluster start is not a bin boundary");
        return static_cast<std::size_t>(it - boundaries_.begin()) + 1;
    };
    // Centred centroid series, their norms, and each cluster's sum of members' r.
    std::vector<double> centred(k * T), norm(k), intra(k);
    std::vector<std::int64_t> acc(stride);
    for (std::size_t q = 0; q < k; ++q) {
        std::fill(acc.begin(), acc.end(), 0);
        for (std::size_t b = binOfStart(q); b < binOfStart(q + 1); ++b)
            for (std::size_t s = 0; s < stride; ++s) acc[s] += sums_[b * stride + s];
        const double count = static_cast<double>(acc[0]);
        if (acc[0] == 0) return kNaN;
        double* cq = centred.data() + q * T;
        double mean = 0.0;
        for (std::size_t t = 0; t < T; ++t) {
            cq[t] = static_cast<double>(acc[1 + t]) / scaleD_ / count;
            mean += cq[t];
        }
        mean /= static_cast<double>(T);
        double n2 = 0.0, dotU = 0.0;
        for (std::size_t t = 0; t < T; ++t) {
            cq[t] -= mean;
            n2 += cq[t] * cq[t];
            dotU += cq[t] * static_cast<double>(acc[1 + T + t]) / scaleU_;
        }
        norm[q] = std::sqrt(n2);
        // mean over members of 1 - r = 1 - <sum of unit members, unit centroid> / count
        intra[q] = norm[q] > 0.0 ? std::clamp(1.0 - dotU / (norm[q] * count), 0.0, 2.0) : 1.0;
    }
    std::vector<double> dist(k * k, 0.0);
    for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) {
            if (i == j) continue;
            double r = 0.0;
            if (norm[i] > 0.0 && norm[j] > 0.0) {
                double dot = 0.0;
                for (std::size_t t = 0; t < T; ++t) dot += centred[i * T + t] * centred[j * T + t];
                r = dot / (norm[i] * norm[j]);
            }
            dist[i * k + j] = std::clamp(1.0 - r, 0.0, 2.0);
        }
    return daviesBouldin(intra, dist);
}

}  // namespace hlstm::partition
