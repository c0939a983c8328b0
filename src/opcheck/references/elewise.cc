// (being written) Elewise references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> ElewiseReferences() { return {}; }

}  // namespace ait::opcheck
