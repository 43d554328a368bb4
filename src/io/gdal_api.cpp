// Loads GDAL's C API for the export (gdal_util.hpp): libgdal is opened on the first call, its
// symbols kept local, and each function the export calls is looked up by name.
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "gdal_api.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm::io::detail {

const GdalApi& gdalApi() {
    static GdalApi api;
    static std::string failure;
    static std::once_flag once;
    std::call_once(once, [] {
        // The library the build found (CMakeLists.txt: HLSTM_GDAL_LIBRARY), else its soname.
        void* lib = ::dlopen(HLSTM_GDAL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) lib = ::dlopen("libgdal.so", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            const char* why = ::dlerror();
            failure = std::string("cannot load GDAL (") + HLSTM_GDAL_LIBRARY + "): " + (why ? why : "unknown error");
            return;
        }
#define HLSTM_GDAL_LOOKUP(name)                                                                               \
    if (failure.empty()) {                                                                                    \
        api.name##_ = reinterpret_cast<decltype(&::name)>(::dlsym(lib, #name));                               \
        if (api.name##_ == nullptr) failure = std::string("GDAL (") + HLSTM_GDAL_LIBRARY + ") has no " #name; \
    }
        HLSTM_GDAL_FUNCTIONS(HLSTM_GDAL_LOOKUP)
#undef HLSTM_GDAL_LOOKUP
    });
    if (!failure.empty()) throw RuntimeError(failure);
    return api;
}

}  // namespace hlstm::io::detail
