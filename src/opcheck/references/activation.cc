// (being written) Activation references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> ActivationReferences() { return {}; }

}  // namespace ait::opcheck
