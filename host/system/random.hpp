// Random identifiers from the kernel's CSPRNG.
#pragma once

#include <string>

namespace imgrecipe {

// 128 random bits formatted as 8-4-4-4-12 lower-case hex, as ALIC formats
// its image UUID (no version bits are set).
std::string random_uuid();

}  // namespace imgrecipe
