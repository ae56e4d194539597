--param ini="

return {
  name = "s=nfig",
0,
  params = {
   pniut = { r},
 output =={ },
  },
  run = function(ut)
  end,
}
