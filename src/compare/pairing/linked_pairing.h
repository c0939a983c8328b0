// What the topology strategies share: links between the nodes of two dump trees (made once
// from the first token's structure), and turning them into OpPairs token by token with the
// tensor files a strategy matches for each link. Internal to pairing.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ait/op_pairs.h"
#include "compare/pairing/dump_tree.h"
#include "compare/pairing/pairing_strategy.h"

namespace ait::topo {

// A structural pair of nodes, made once and applied to every token.
struct Link {
  int my = -1, golden = -1;
  std::string match;
  int my_outputs_of = -1, golden_outputs_of = -1;  // Linear + bias: the add's outputs instead
  std::string my_file, golden_file;                // named by a custom map entry; "" = all by index
  std::string my_layout, golden_layout;            // of the outputs, for the strategy's matchers; "" = shared
};

// The links made so far; a node is linked at most once on each side.
class Links {
 public:
  Links(size_t my_nodes, size_t golden_nodes) : my_(my_nodes, -1), golden_(golden_nodes, -1) {}
  bool MyLinked(int n) const { return my_[static_cast<size_t>(n)] >= 0; }
  bool GoldenLinked(int n) const { return golden_[static_cast<size_t>(n)] >= 0; }
  bool Add(Link l);
  const Link* OfMy(int n) const {
    return my_[static_cast<size_t>(n)] < 0 ? nullptr : &links_[static_cast<size_t>(my_[static_cast<size_t>(n)])];
  }
  const Link* OfGolden(int n) const {
    return golden_[static_cast<size_t>(n)] < 0 ? nullptr
                                               : &links_[static_cast<size_t>(golden_[static_cast<size_t>(n)])];
  }
  size_t size() const { return links_.size(); }
  const Link& operator[](size_t i) const { return links_[i]; }

 private:
  std::vector<int> my_, golden_;
  std::vector<Link> links_;
};

struct FilePair {
  TensorFile my, golden;
  std::string my_layout = {}, golden_layout = {};  // TensorPair's; "" = the two share their element order
};

// Same stem on both sides.
std::vector<FilePair> ByStem(const std::vector<TensorFile>& my, const std::vector<TensorFile>& golden);

// The (my token, golden token) folders to compare: the named ones, else those present on both
// sides (the others are noted). Empty when none is common; `error` then says so.
std::vector<std::pair<std::string, std::string>> TokenPairs(const DumpLocation& my, const DumpLocation& golden,
                                                             std::vector<std::string>* notes, std::string* error);

// What a topology strategy has checked in Recognize and needs again in Pair: both trees and
// the token pairs.
struct LinkedDumps {
  const topo::DumpTree* my = nullptr;
  const topo::DumpTree* golden = nullptr;
  std::vector<std::pair<std::string, std::string>> tokens;  // (my, golden) token folders
  std::vector<std::string> token_notes;
  // What is worth noting before any link is made: tokens on one side only, then what the
  // golden and my trees noticed while loading.
  std::vector<std::string> Notes() const;
};

// Both sides' locations (golden first), or the block that says which could not be located.
Recognition LocateBoth(DumpPair& dumps, const DumpLocation** golden, const DumpLocation** my);

// Loads both trees and the common tokens (my side first, as errors are reported). A
// blocked Recognition says what could not be read.
Recognition LoadLinkedDumps(DumpPair& dumps, LinkedDumps* out);

// The same in Pair(), after Recognize accepted (the trees are already read): what a topology
// strategy links. Throws ait::Error with the block's reason should the dumps have changed.
LinkedDumps LoadLinkedDumps(DumpPair& dumps);

// The tensor files of one link in one token: (my node, link, my token, golden token).
// For outputs, the node is the one whose outputs count (a Linear's bias add).
using FileMatcher = std::function<std::vector<FilePair>(int my_node, int golden_node, const Link& link,
                                                        const std::string& my_token, const std::string& golden_token)>;

struct LinkedPairingRules {
  std::string strategy;  // OpPairing::strategy
  bool broadcast = false;
  bool note_unpaired = true;  // note leaves without a counterpart on each side
  FileMatcher inputs, outputs;
};

// An ATB-layout dump (ATB's or ggml's `{id}_{Op}` folders) against a torch dump, either way
// round. Inputs: each positional torch input with the ATB-layout input of the same element
// count, the same index first, else the first unused one (weights have no torch input).
std::vector<FilePair> AtbTorchInputs(const DumpTree& my, const DumpTree& golden, int m, const std::string& my_token,
                                     int g, const std::string& golden_token);
// Outputs: outtensorK with output_K (output for K = 0 when the module returned one tensor),
// or the first files of the stems the link names (my_file, golden_file).
std::vector<FilePair> AtbTorchOutputs(const DumpTree& my, const DumpTree& golden, const Link& l, int mo,
                                      const std::string& my_token, int go, const std::string& golden_token);

// The OpPairing of `links`: one OpPair per linked my node and token pair, in my execution
// order, with the files `rules` match; its rows are the output pairs (OutputPairs). `notes`
// come first among the pairing's notes.
OpPairing AssembleLinkedPairing(const LinkedDumps& linked, const Links& links,
                                const LinkedPairingRules& rules, std::vector<std::string> notes);

}  // namespace ait::topo
