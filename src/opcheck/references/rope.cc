// (being written) Rope references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> RopeReferences() { return {}; }

}  // namespace ait::opcheck
