// (being written) Shape references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> ShapeReferences() { return {}; }

}  // namespace ait::opcheck
