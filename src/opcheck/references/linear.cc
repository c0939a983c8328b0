// (being written) Linear references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> LinearReferences() { return {}; }

}  // namespace ait::opcheck
