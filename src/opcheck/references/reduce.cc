// (being written) Reduce references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> ReduceReferences() { return {}; }

}  // namespace ait::opcheck
