// The merged view of a baseConfigs chain (alic-reference §2.9).
#pragma once

#include <vector>

#include "host/config/config.hpp"

namespace imgrecipe::config {

// See ConfigChain::merged. A chain of one config is its tree unchanged.
Node merge_chain(const std::vector<Config>& configs);

}  // namespace imgrecipe::config
