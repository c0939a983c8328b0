// (being written) Norm references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> NormReferences() { return {}; }

}  // namespace ait::opcheck
