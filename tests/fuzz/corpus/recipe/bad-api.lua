return { name = "x", run = function() end, api = 2 }
