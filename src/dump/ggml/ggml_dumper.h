// The ggml eval-callback dumper behind include/ait/ggml_dump.h: which nodes of a ggml graph
// are written, faults planted in node outputs, the graph's topology, all through the probe's
// configuration and writer (src/probe), so `ait llm dump`'s ATB_* variables and on-disk
// guarantees (atomic files, disk-space checks, lost-output reports) hold here too.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dump/ggml/ggml_dump_options.h"
#include "probe/dumper.h"

struct ggml_tensor;

namespace ait::ggml_dump {

class GgmlDumper {
 public:
  explicit GgmlDumper(DumperOptions options);

  bool Eval(ggml_tensor* t, bool ask);
  int EndToken();
  // Flushes the writer; the statistics, and the number of files lost in `lost`.
  nlohmann::json Close(int* lost);

 private:
  struct Node {
    std::string name, op, type;
    std::string view_of;  // the tensor whose memory this one views (t->view_src), "" for none
    std::vector<int64_t> ne;
    struct Source {
      std::string name, type;
      int node = -1;  // index of the node in this graph, -1 for a leaf (weight, input)
      std::string written;  // how it was written as this node's input ("" = not written)
    };
    std::vector<Source> sources;
    bool contiguous = true;
    std::string written;  // how the output was written ("f32", "f32, dequantized from q4_0"); "" = not written
  };

  bool Selected(const Node& node, int index) const;
  // The node's folder in this token, relative to tensors/: "0_{pid}/{token}/{index}_{OP}/after/".
  std::string Folder(int index, const std::string& op) const;
  // Writes `t` to `file_path`; `written` says how (ShortName and the conversion).
  void Write(const ggml_tensor* t, const std::string& file_path, std::string* written);
  void Perturb(ggml_tensor* t, const Node& node);
  void WriteTopology();
  std::string Signature() const;

  DumperOptions options_;
  probe::Dumper dumper_;
  uint64_t token_ = 0;
  std::vector<Node> nodes_;                             // this token's graph, in order
  std::unordered_map<const ggml_tensor*, int> index_;  // node tensor -> index in nodes_
  int pending_ = -1;                                    // the node asked for and not yet computed
  bool pending_write_ = false, pending_perturb_ = false;
  bool topology_written_ = false;
  std::string topology_signature_;
  bool topology_changed_ = false;
  // Statistics.
  uint64_t tokens_ = 0, nodes_seen_ = 0, files_ = 0, bytes_ = 0, perturbed_ = 0, unreadable_ = 0;
  std::vector<std::string> problems_;  // the first few messages
  void Problem(std::string message);
};

}  // namespace ait::ggml_dump
