// Rules that span sections of the config (preview gating, cross-section
// requirements). They run on a tree that already passed typing and the
// per-field rules, so they can trust every value they read.
#pragma once

#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config {

// `extra_previews`: preview features enabled elsewhere in the baseConfigs chain.
void validate_config(const Node& root, Problems& problems, const std::vector<std::string>& extra_previews = {});

}  // namespace imgrecipe::config
