// Every reference family, once; the table sorted by type name.
#include <algorithm>
#include <stdexcept>

#include "opcheck/references/families.h"

namespace ait::opcheck {

const std::vector<Reference>& AllReferences() {
  static const std::vector<Reference> all = [] {
    std::vector<Reference> v;
    for (auto family : {LinearReferences, NormReferences, RopeReferences, AttentionReferences, ActivationReferences,
                        ElewiseReferences, IndexingReferences, ShapeReferences, CacheReferences, ReduceReferences,
                        LayoutReferences, CollectiveReferences}) {
      auto refs = family();
      v.insert(v.end(), refs.begin(), refs.end());
    }
    std::sort(v.begin(), v.end(), [](const Reference& a, const Reference& b) { return a.type < b.type; });
    for (size_t i = 1; i < v.size(); ++i)
      if (v[i].type == v[i - 1].type) throw std::logic_error("two opcheck references for " + std::string(v[i].type));
    return v;
  }();
  return all;
}

const Reference* FindReference(std::string_view type) {
  const auto& all = AllReferences();
  auto it = std::lower_bound(all.begin(), all.end(), type,
                             [](const Reference& r, std::string_view t) { return r.type < t; });
  return it != all.end() && it->type == type ? &*it : nullptr;
}

}  // namespace ait::opcheck
