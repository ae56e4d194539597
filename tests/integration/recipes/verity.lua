-- dm-verity through imgrecipe.verity on a new disk. mode=build: ext4 root
-- with a file in it hashed into a separate hash partition, ext4 /usr made at
-- ALIC's inline data size and hashed inline, both verified in process, their
-- superblocks read back, the kernel arguments made, the error cases tried;
-- saved raw at `output`. mode=verify: an existing raw disk (`output`) checked
-- against the given root hashes. Writes a report (key=value lines).
local disk = require "imgrecipe.disk"
local verity = require "imgrecipe.verity"

local function report(path, lines)
  local f = assert(io.open(path, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end

local function build(ctx, lines)
  local function add(k, v) lines[#lines + 1] = k .. "=" .. tostring(v) end
  local d = disk.create(ctx.work_dir .. "/verity.raw", "360M")
  local ok, err = pcall(function()
    d:partition {
      table = "gpt",
      partitions = {
        { id = "root", type = "root", size = "256M", label = "root" },
        { id = "roothash", type = "root-verity", size = "8M", label = "roothash" },
        { id = "usr", type = "usr", size = "64M", label = "usr" },
        { id = "tiny", type = "linux-generic", size = "1M", label = "tiny" },
        { id = "full", type = "linux-generic", size = "16M", label = "full" },
      },
    }
    local usr_data = verity.inline_data_size("64M")
    add("inline-data-size-64M", usr_data)
    add("hash-size-usr", verity.hash_size(usr_data))
    d:format("root", { type = "ext4", label = "rootfs" })
    d:format("usr", { type = "ext4", label = "usrfs", size = usr_data })
    d:format("full", { type = "ext4" })
    local root = d:mount { ["/"] = "root" }
    root:write_file("/hello", string.rep("verity\n", 10000))
    d:unmount()

    local r = verity.format(d, "root", "roothash", { salt = string.rep("5a", 32) })
    add("root-hash", r.root_hash)
    add("root-salt", r.salt)
    add("root-data-blocks", r.data_blocks)
    add("root-hash-offset", r.hash_offset)
    add("root-hash-size", r.hash_size)
    add("root-inline", r.inline)
    local u = verity.format(d, "usr", nil)
    add("usr-hash", u.root_hash)
    add("usr-data-blocks", u.data_blocks)
    add("usr-hash-offset", u.hash_offset)
    add("usr-inline", u.inline)
    add("usr-salt-length", #u.salt)

    add("verify-root", verity.verify(d, "root", "roothash", r.root_hash))
    add("verify-usr", verity.verify(d, "usr", "usr", u.root_hash))
    local bad = (r.root_hash:sub(1, 1) == "0" and "1" or "0") .. r.root_hash:sub(2)
    local okb, why = verity.verify(d, "root", "roothash", bad)
    add("verify-wrong-hash", tostring(okb) .. ":" .. tostring(why))

    local sb = verity.read(d, "root", "roothash")
    add("read-root", table.concat({ sb.hash_algorithm, sb.hash_type, sb.data_block_size, sb.hash_block_size,
      sb.data_blocks, sb.salt, tostring(sb.root_hash) }, ","))
    add("read-root-uuid", sb.uuid)
    local su = verity.read(d, "usr")
    add("read-usr", table.concat({ su.data_blocks, su.hash_offset }, ","))

    local p = {}
    for _, q in ipairs(d:partitions()) do p[q.id] = q end
    add("partuuid-root", p.root.uuid)
    add("partuuid-roothash", p.roothash.uuid)
    add("fsuuid-usr", d:filesystem("usr").uuid)
    add("args", table.concat(verity.kernel_args(d, {
      { name = "root", data = "root", hash = "roothash" },
      { name = "usr", data = "usr", data_id_type = "part-label", hash_id_type = "uuid", corruption = "panic" },
    }), " "))
    add("args-hash-uuid", table.concat(verity.kernel_args(d, {
      { name = "root", data = "root", hash = "roothash", hash_id_type = "uuid", corruption = "restart",
        hash_signature_path = "/boot/root.hash.sig" } }, { boot_uuid = "b00t" }), " "))

    local function err_of(f)
      local okf, e = pcall(f)
      if okf then return "no error" end
      return (type(e) == "table" and (e.kind .. ": " .. e.message) or tostring(e)):gsub("\n", " ")
    end
    add("err-too-small", err_of(function() verity.format(d, "root", "tiny") end))
    add("err-fs-too-big", err_of(function() verity.format(d, "full", nil) end))
    add("err-no-superblock", err_of(function() verity.read(d, "full", "tiny") end))
    add("err-bad-name", err_of(function() verity.kernel_args(d, { { name = "home", data = "root", hash = "roothash" } }) end))
    add("err-xfs-size", err_of(function() d:format("full", { type = "xfs", size = "8M" }) end))
    d:save(ctx.params.output, "raw")
  end)
  d:release()
  if not ok then error(err, 0) end
end

local function check(ctx, lines)
  local d = disk.open(ctx.params.output)
  local ok, err = pcall(function()
    local okr, whyr = verity.verify(d, "1", "2", ctx.params.root_hash)
    lines[#lines + 1] = "verify-root=" .. tostring(okr) .. ":" .. tostring(whyr)
    local oku, whyu = verity.verify(d, "3", nil, ctx.params.usr_hash, { hash_offset = tonumber(ctx.params.usr_offset) })
    lines[#lines + 1] = "verify-usr=" .. tostring(oku) .. ":" .. tostring(whyu)
  end)
  d:release()
  if not ok then error(err, 0) end
end

return {
  name = "verity",
  params = {
    mode = { default = "build" },
    output = { required = true },
    report = { required = true },
    root_hash = { default = "" },
    usr_hash = { default = "" },
    usr_offset = { default = "0" },
  },
  run = function(ctx)
    local lines = {}
    if ctx.params.mode == "build" then build(ctx, lines) else check(ctx, lines) end
    report(ctx.params.report, lines)
  end,
}
