// The input of `imgrecipe inspect`, made readable without touching it: a raw
// disk is read in place; qcow2/vhd/vhdx are converted to a sparse raw copy;
// a COSI file's partition images are decompressed into a sparse disk at
// their GPT places; an ISO's LiveOS squashfs is extracted; a squashfs file
// is read in place.
#pragma once

#include <string>

namespace imgrecipe::inspect {

struct Source {
  std::string format;    // raw, qcow2, vhd, vhd-fixed, vhdx, cosi, iso, squashfs
  std::string disk;      // a raw disk image to read (the input itself when raw)
  std::string squashfs;  // a squashfs root (iso, squashfs inputs)
  std::string iso_volume_id;
  std::string iso_grub_cfg;  // the media's grub.cfg (iso)
};

// Never writes `input`; temporary files go into `scratch` (an existing empty directory).
Source open_source(const std::string& input, const std::string& scratch);

}  // namespace imgrecipe::inspect
