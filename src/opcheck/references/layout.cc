// (being written) Layout references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> LayoutReferences() { return {}; }

}  // namespace ait::opcheck
