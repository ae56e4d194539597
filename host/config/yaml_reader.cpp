#include "host/config/yaml_reader.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include "host/config/source.hpp"
#include "host/system/host_file.hpp"
#include "host/system/log.hpp"

namespace imgrecipe::config {
namespace {

Mark to_mark(const YAML::Mark& m) { return {m.line + 1, m.column + 1}; }

// Stops the parse once a limit is hit; the problem is already recorded.
struct LimitReached {};

struct Extent {
  size_t nodes = 0;
  size_t depth = 0;  // nested sequences and maps; 0 for a scalar
};

Extent extent(const RawNode& n) {
  Extent e{1, 0};
  for (const RawNode& c : n.items) {
    Extent sub = extent(c);
    e.nodes += sub.nodes;
    e.depth = std::max(e.depth, sub.depth);
  }
  if (n.kind == RawNode::Kind::Sequence || n.kind == RawNode::Kind::Map) ++e.depth;
  return e;
}

// The position of the first NUL byte, which YAML text cannot contain.
std::optional<Mark> find_nul(const std::string& text) {
  size_t at = text.find('\0');
  if (at == std::string::npos) return std::nullopt;
  Mark m{1, 1};
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++m.line;
      m.column = 1;
    } else {
      ++m.column;
    }
  }
  return m;
}

class Builder : public YAML::EventHandler {
 public:
  explicit Builder(Problems& problems) : problems_(problems) {}

  bool finished() const { return has_root_; }
  RawNode take_root() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    RawNode n;
    n.mark = to_mark(mark);
    finish(std::move(n), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      problems_.add(to_mark(mark), "", "unknown alias");
      finish(RawNode{}, 0);
      return;
    }
    // An alias copies its anchor's value: count the copies, so nested
    // aliases cannot grow a small file into gigabytes.
    Extent e = extent(it->second);
    expand(e.nodes, to_mark(mark));
    if (stack_.size() + e.depth > kMaxDepth) too_deep(to_mark(mark));
    finish(it->second, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    RawNode n;
    n.kind = RawNode::Kind::Scalar;
    n.value = value;
    // "?" = plain and untagged; "!" = quoted; anything else is an explicit tag,
    // of which only !!str forces a string.
    n.plain = tag != "!" && tag != "tag:yaml.org,2002:str";
    n.mark = to_mark(mark);
    finish(std::move(n), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(RawNode::Kind::Sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(RawNode::Kind::Map, mark, anchor);
  }
  void OnMapEnd() override {
    apply_merge_keys(stack_.back().node);
    close();
  }

 private:
  struct Open {
    RawNode node;
    YAML::anchor_t anchor;
  };

  void open(RawNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (stack_.size() >= kMaxDepth) too_deep(to_mark(mark));
    RawNode n;
    n.kind = kind;
    n.mark = to_mark(mark);
    stack_.push_back({std::move(n), anchor});
  }

  void close() {
    Open top = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(top.node), top.anchor);
  }

  void finish(RawNode n, YAML::anchor_t anchor) {
    if (++values_ > kMaxValues) {
      problems_.add(n.mark, "", fmt::format("more than {} values in one file", kMaxValues));
      throw LimitReached{};
    }
    if (anchor != 0) {
      // Each anchor keeps its own copy of its value; nested anchors copy
      // their contents again, so they share the expansion budget.
      expand(extent(n).nodes, n.mark);
      anchors_[anchor] = n;
    }
    if (stack_.empty()) {
      root_ = std::move(n);
      has_root_ = true;
      return;
    }
    RawNode& parent = stack_.back().node;
    if (parent.kind == RawNode::Kind::Sequence) {
      parent.items.push_back(std::move(n));
    } else if (parent.keys.size() == parent.items.size()) {
      add_key(parent, n);
    } else {
      parent.items.push_back(std::move(n));
    }
  }

  void add_key(RawNode& map, const RawNode& key) {
    RawKey k{key.value, key.mark};
    if (key.kind == RawNode::Kind::Sequence || key.kind == RawNode::Kind::Map) {
      problems_.add(key.mark, "", "map keys must be plain strings");
      k.text = "<complex key>";
    } else if (key.kind == RawNode::Kind::Null) {
      k.text = "null";
    } else if (key.plain && key.value == "<<") {
      k.text = kMergeKey;  // only a plain "<<" is a merge key
    }
    map.keys.push_back(std::move(k));
  }

  // YAML merge keys ("<<: *base"), which ALIC's YAML library honours: the
  // merged entries apply unless the map sets the key itself.
  void apply_merge_keys(RawNode& map) {
    if (std::none_of(map.keys.begin(), map.keys.end(), [](const RawKey& k) { return k.text == kMergeKey; })) return;
    std::vector<RawKey> keys;
    std::vector<RawNode> items;
    std::vector<const RawNode*> sources;
    for (size_t i = 0; i < map.keys.size() && i < map.items.size(); ++i) {
      if (map.keys[i].text != kMergeKey) {
        keys.push_back(std::move(map.keys[i]));
        items.push_back(std::move(map.items[i]));
        continue;
      }
      const RawNode& v = map.items[i];
      if (v.kind == RawNode::Kind::Map) {
        sources.push_back(&v);
      } else if (v.kind == RawNode::Kind::Sequence) {
        for (const RawNode& s : v.items) {
          if (s.kind == RawNode::Kind::Map) {
            sources.push_back(&s);
          } else {
            problems_.add(s.mark, "", "merge key '<<' expects a map or a list of maps");
          }
        }
      } else {
        problems_.add(v.mark, "", "merge key '<<' expects a map or a list of maps");
      }
    }
    std::unordered_set<std::string> present;
    for (const RawKey& k : keys) present.insert(k.text);
    for (const RawNode* src : sources) {
      for (size_t j = 0; j < src->keys.size(); ++j) {
        if (!present.insert(src->keys[j].text).second) continue;
        expand(extent(src->items[j]).nodes, src->items[j].mark);
        keys.push_back(src->keys[j]);
        items.push_back(src->items[j]);
      }
    }
    map.keys = std::move(keys);
    map.items = std::move(items);
  }

  void expand(size_t nodes, Mark mark) {
    expanded_ += nodes;
    if (expanded_ <= kMaxExpandedNodes) return;
    problems_.add(mark, "", fmt::format("too many alias expansions (a YAML alias bomb?): aliases, anchors and "
                                        "merge keys would copy more than {} values", kMaxExpandedNodes));
    throw LimitReached{};
  }

  [[noreturn]] void too_deep(Mark mark) {
    problems_.add(mark, "", fmt::format("nested more than {} levels deep", kMaxDepth));
    throw LimitReached{};
  }

  static constexpr const char* kMergeKey = "\x01<<";

  Problems& problems_;
  std::vector<Open> stack_;
  std::map<YAML::anchor_t, RawNode> anchors_;
  size_t expanded_ = 0;  // values copied for aliases, anchors and merge keys
  size_t values_ = 0;    // scalars, sequences, maps and aliases in the text
  RawNode root_;
  bool has_root_ = false;
};

}  // namespace

RawDocument read_yaml(const std::string& text, const std::string& display_path, Problems& problems) {
  RawDocument doc;
  if (text.size() > kMaxConfigBytes) {
    problems.add({}, "", fmt::format("the text is larger than the limit of {} ({} bytes)",
                                     format_byte_limit(kMaxConfigBytes), text.size()));
    return doc;
  }
  // yaml-cpp reports a NUL as a bad escape or an odd token; say what it is.
  if (std::optional<Mark> nul = find_nul(text)) {
    problems.add(*nul, "", fmt::format("NUL byte at {}:{}: a YAML file is text and cannot contain one", nul->line,
                                       nul->column));
    return doc;
  }
  std::istringstream in(text);
  YAML::Parser parser(in);
  try {
    Builder builder(problems);
    if (!parser.HandleNextDocument(builder) || !builder.finished()) return doc;
    doc.root = builder.take_root();
    doc.present = true;
  } catch (const LimitReached&) {
    return doc;
  } catch (const YAML::Exception& e) {
    problems.add(to_mark(e.mark), "", "invalid YAML: " + e.msg);
    return doc;
  }
  // ALIC decodes only the first document; say so rather than silently drop the rest.
  bool more = false;
  try {
    Problems ignored;
    Builder rest(ignored);
    more = parser.HandleNextDocument(rest);
  } catch (const LimitReached&) {
    more = true;
  } catch (const YAML::Exception&) {
    more = true;
  }
  if (more) log::warn("{}: only the first YAML document is used; later documents are ignored", display_path);
  return doc;
}

}  // namespace imgrecipe::config
