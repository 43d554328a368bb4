// Private to src/model: which instruction set the lane kernels (lstm_infer.cpp, lstm_train.cpp)
// run on this CPU under inferenceIsa() (HLSTM_INFERENCE_ISA), shared by inference and training.
#pragma once

#include <string>

namespace hlstm::model::detail {

enum class LaneKernel { kAvx512, kAvx2, kScalar, kNone };

/// kNative: AVX-512F, else AVX2 + FMA, else kNone (the caller runs oneDNN); kPortable: AVX2 + FMA,
/// else scalar; kScalar: scalar.
LaneKernel laneKernel();

/// "avx512", "avx2", "scalar" or "onednn" (kNone).
std::string laneKernelName(LaneKernel kernel);

}  // namespace hlstm::model::detail
