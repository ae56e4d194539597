// The teardown stack: every acquired resource (loop device, mount, temp
// file, staged filesystem) registers how to release itself. Normal code
// releases in order; whatever is still registered when the run ends (error,
// signal, forgotten handle) is released here in reverse order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace imgrecipe {

class Teardown {
 public:
  using Id = std::uint64_t;

  Id push(std::string description, std::function<void()> release);
  // Removes the entry without running it (the owner released it itself).
  void forget(Id id);
  // Runs and removes one entry now.
  void release(Id id);
  // Releases everything still registered, newest first. Failures are logged
  // and do not stop the rest.
  void release_all() noexcept;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Id id;
    std::string description;
    std::function<void()> release;
  };
  std::vector<Entry> entries_;
  Id next_ = 1;
};

Teardown& teardown();

// RAII registration: forgets itself when the owner releases normally.
class TeardownEntry {
 public:
  TeardownEntry() = default;
  TeardownEntry(std::string description, std::function<void()> release)
      : id_(teardown().push(std::move(description), std::move(release))) {}
  ~TeardownEntry() { dismiss(); }
  TeardownEntry(TeardownEntry&& o) noexcept : id_(o.id_) { o.id_ = 0; }
  TeardownEntry& operator=(TeardownEntry&& o) noexcept {
    if (this != &o) {
      dismiss();
      id_ = o.id_;
      o.id_ = 0;
    }
    return *this;
  }
  void dismiss() {
    if (id_ != 0) teardown().forget(id_);
    id_ = 0;
  }
  // Runs the release now instead (at most once).
  void release() {
    if (id_ != 0) teardown().release(std::exchange(id_, 0));
  }

 private:
  Teardown::Id id_ = 0;
};

// Removes the host file `path` when the scope ends unless keep() was called,
// so an error or an interruption (which also unwinds) leaves nothing behind.
// On the teardown stack while it is held.
class RemoveUnlessKept {
 public:
  explicit RemoveUnlessKept(std::string path);
  ~RemoveUnlessKept();
  RemoveUnlessKept(const RemoveUnlessKept&) = delete;
  RemoveUnlessKept& operator=(const RemoveUnlessKept&) = delete;
  void keep() { entry_.dismiss(); }

 private:
  TeardownEntry entry_;
};

}  // namespace imgrecipe
