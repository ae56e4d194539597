// Rules that span sections of the config (preview gating, cross-section
// requirements). They run on a tree that already passed typing and the
// per-field rules, so they can trust every value they read.
#pragma once

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config {

void validate_config(const Node& root, Problems& problems);

}  // namespace imgrecipe::config
