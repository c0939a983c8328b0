// What the two GE pairing strategies (pair_ge_fx.cc, pair_ge_fused.cc) share: the tokens the
// two dumps have in common, and the OpPairing they build, one GE operator (my side) at a time
// with its inputs and outputs zipped against the golden's. Internal to pairing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ait/op_pairs.h"
#include "compare/pairing/torchair_layout.h"

namespace ait {

class GeOpPairingBuilder {
 public:
  explicit GeOpPairingBuilder(std::string strategy);

  // The tokens of both sides in my side's order; the ones on one side only go into a note.
  std::vector<std::pair<size_t, size_t>> CommonTokens(const std::vector<std::string>& golden_tokens,
                                                      const std::vector<std::string>& my_tokens);

  // One operator: golden[k] with my[k] for k < min of the two, inputs then outputs. Golden
  // paths that are "" (a member operator missing from the golden dump) leave their index
  // unpaired. An operator without any output pair is not added (returns false).
  bool Add(OpPair op, const std::vector<std::string>& golden_inputs, const std::vector<std::string>& my_inputs,
           const std::vector<std::string>& golden_outputs, const std::vector<std::string>& my_outputs);
  // A CSV row that belongs to no operator (a Cast's output against its own input).
  void AddRow(const std::string& token, const std::string& golden, const std::string& my, const std::string& label);

  void Note(std::string note) { pairing_.notes.push_back(std::move(note)); }
  // "3 <what>: a, b, c" (at most five names shown); nothing when `names` is empty.
  void NoteNames(std::string_view what, const std::vector<std::string>& names);
  // The files of a GE dump that are no operator file, and the operator names met twice.
  void NoteDumpFiles(const GeDumpTree& tree);
  OpPairing Finish(std::string nothing_paired);

 private:
  OpPairing pairing_;
};

// `FILE,inputs,K` / `FILE,outputs,K` addresses of a GE dump file's tensors, K < its counts,
// from one reading of its header. Throws ait::Error for a file whose header cannot be read.
struct GeTensorAddresses {
  std::vector<std::string> inputs, outputs;
};
GeTensorAddresses GeTensorsOf(const std::string& file);

}  // namespace ait
