-- tests/reliability/csv_writer.lua PATH -- records monitor rows (many columns) to the CSV
-- log PATH as fast as it can, printing "recorded N" once row N has been recorded, until it
-- is killed. csv_kill.sh checks that every recorded row made it to the file.
local path = assert(arg[1], "usage: csv_writer.lua PATH")
local net = nn.mlp{4, 8, 8, 1, rng = tensor.rng(1)}
local mon = diag.monitor(net, {every = 1, file = path, "loss", "weight_norms"})
local extras = {}
for step = 1, 100000000 do
  extras.loss = 1 / step
  for k = 1, 20 do extras["x" .. k] = step * k + 0.1 end
  mon:record(step, extras)
  io.write("recorded ", step, "\n")
  io.flush()
end
