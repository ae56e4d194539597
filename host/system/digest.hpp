// SHA-256 and SHA-384 computed in process with OpenSSL's EVP interface (a
// maintained implementation, no hashing code of our own), streaming: data is
// fed in pieces, so memory does not depend on the input's size.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace imgrecipe {

enum class HashAlgo { Sha256, Sha384 };

class Hasher {
 public:
  explicit Hasher(HashAlgo algo);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Lower-case hex digest; the hasher cannot be fed afterwards.
  std::string hex_final();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Lower-case hex digest of a whole string.
std::string hash_hex(HashAlgo algo, std::string_view data);
// Lower-case hex digest of a host file, read in fixed-size pieces.
std::string hash_file(HashAlgo algo, const std::string& path);

}  // namespace imgrecipe
