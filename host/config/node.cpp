#include "host/config/config.hpp"

namespace imgrecipe::config {

const Node* Node::find(std::string_view key) const {
  for (const auto& [name, value] : fields) {
    if (name == key) return &value;
  }
  return nullptr;
}

}  // namespace imgrecipe::config
