// Private to src/model: the environment switches that tests use to pick an alternative code
// path (HLSTM_AR_SOLVER, HLSTM_BASELINES_ISA, HLSTM_INFERENCE, HLSTM_INFERENCE_ISA, HLSTM_TRAINING).
#pragma once

#include <cstdlib>
#include <cstring>

namespace hlstm::model::detail {

/// A test hook's setting: `alternative` when the environment variable `name` equals `value` at
/// the first use, else `usual`; assigning to the reference changes it afterwards. One static
/// per (setting type, call site's instantiation): give each setting its own enum type.
template <class T> T& switchSetting(const char* name, const char* value, T alternative, T usual) {
    static T setting = [&] {
        const char* v = std::getenv(name);
        return v != nullptr && std::strcmp(v, value) == 0 ? alternative : usual;
    }();
    return setting;
}

}  // namespace hlstm::model::detail
