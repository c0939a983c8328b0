// The .npy reader's core, for containers that hold .npy members (.npz).
#pragma once

#include <string>

#include "ait/tensor.h"
#include "formats/zip_archive.h"

namespace ait {

// One .npy image (FORMATS.md 11.2) held in `bytes`: a view into them (kept alive by their
// owner) when little endian and C order, else a native C-order copy. `path` names it in
// errors. Throws ait::Error.
Tensor ParseNpy(const Bytes& bytes, const std::string& path);

}  // namespace ait
