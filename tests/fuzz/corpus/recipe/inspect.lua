-- Mounts an image read-only, reports what it sees, and proves writes fail.
return {
  name = "inspect",
  params = { input = { required = true }, report = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local lines = {}
    for _, m in ipairs(img:mounts()) do
      lines[#lines + 1] = string.format("%s %s p%d staged=%s", m.target, m.fstype, m.partition, tostring(m.staged))
    end
    lines[#lines + 1] = "hostname=" .. img:read_file("/etc/hostname"):gsub("%s+$", "")
    lines[#lines + 1] = "esp-grub=" .. tostring(img:exists("/boot/efi/EFI/BOOT/grub.cfg"))
    local ok, err = pcall(img.write_file, img, "/etc/should-fail", "x")
    lines[#lines + 1] = "write-ok=" .. tostring(ok) .. " " .. tostring(err)
    local f = assert(io.open(ctx.params.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end,
}
