// (being written) Cache references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> CacheReferences() { return {}; }

}  // namespace ait::opcheck
