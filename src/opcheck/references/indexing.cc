// (being written) Indexing references.
#include "opcheck/references/families.h"

namespace ait::opcheck {

std::vector<Reference> IndexingReferences() { return {}; }

}  // namespace ait::opcheck
