-- A helper module next to the recipe: found because the recipe's directory
-- is first on the library path.
local M = {}

--- The message of the day for a lab machine.
function M.text(hostname, owner)
  return string.format("%s: lab machine of %s. Not backed up; rebuilt every night.\n", hostname, owner)
end

return M
