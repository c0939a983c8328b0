// (being written) Collective references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> CollectiveReferences() { return {}; }

}  // namespace ait::opcheck
