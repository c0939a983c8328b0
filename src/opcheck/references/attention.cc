// (being written) Attention references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> AttentionReferences() { return {}; }

}  // namespace ait::opcheck
