// Fault injection for tests, off unless IMGRECIPE_FAULT_INJECT is set. Every
// host operation that acquires or writes something (mount, loop attach;
// write, copy, mkdir, symlink, chmod, chown, remove and rename in the image;
// command run, conversion, output writing, filesystem sync before unmount,
// FAT write-back) calls point() first; operations are numbered from 1 in the
// order they happen.
//   IMGRECIPE_FAULT_INJECT=N      operation N throws an imgrecipe::Error
//                                 "injected fault at host operation N (<op> <target>)"
//   IMGRECIPE_FAULT_INJECT=count  nothing fails; the total is printed to
//                                 stderr at exit ("imgrecipe: fault injection: N host operations")
// When set, each operation is also logged at debug level with its number,
// and at exit whatever is still mounted or attached from the build directory
// is printed ("imgrecipe: fault injection: left behind: ...").
// tests/integration/test_fault_injection.sh fails every N in turn.
#pragma once

#include <cstdint>
#include <string_view>

namespace imgrecipe::fault {

void point(std::string_view op, std::string_view target);

// Operations counted so far (0 when injection is off).
std::uint64_t count();

}  // namespace imgrecipe::fault
