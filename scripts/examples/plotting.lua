-- Plotting, worked through: a sine with noisy measurements and error bars, a histogram of
-- Gaussian samples against their density, a correlation heatmap, and a CSV log plotted back.
-- Writes out/examples/plotting.png and out/examples/plotting-log.png.
--
--   ./entro scripts/examples/plotting.lua
--   (before the binary exists: LUA_PATH='stdlib/?.lua;;' lua5.4 scripts/examples/plotting.lua)
--
-- Plain Lua numbers keep it runnable anywhere; every call below takes tensors just the same.
local plot = require "entro.plot"
local log = require "entro.log"

math.randomseed(7)
local function gaussian()   -- Box-Muller
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end

-- 1. A sine, and at 15 points the mean of 8 noisy measurements with its standard error.
local x, y = {}, {}
for i = 1, 200 do x[i] = 2 * math.pi * (i - 1) / 199; y[i] = math.sin(x[i]) end
local xm, mean, se = {}, {}, {}
for i = 1, 15 do
  local t = 2 * math.pi * (i - 0.5) / 15
  local s, s2, n = 0, 0, 8
  for _ = 1, n do
    local v = math.sin(t) + 0.3 * gaussian()
    s, s2 = s + v, s2 + v * v
  end
  xm[i], mean[i] = t, s / n
  se[i] = math.sqrt((s2 / n - mean[i] ^ 2) * n / (n - 1) / n)
end

-- 2. 20 000 Gaussian samples, and the density they should follow.
local samples = {}
for i = 1, 20000 do samples[i] = gaussian() end
local gx, gy = {}, {}
for i = 1, 101 do
  gx[i] = -4 + 8 * (i - 1) / 100
  gy[i] = math.exp(-gx[i] ^ 2 / 2) / math.sqrt(2 * math.pi)
end

-- 3. Correlations between six features that share a common factor, more so further down.
local nf, ns = 6, 500
local feats = {}
for i = 1, nf do feats[i] = {} end
for s = 1, ns do
  local common = gaussian()
  for i = 1, nf do feats[i][s] = (i / nf) * common + gaussian() end
end
local function corr(a, b)
  local ma, mb, sab, saa, sbb = 0, 0, 0, 0, 0
  for s = 1, ns do ma, mb = ma + a[s] / ns, mb + b[s] / ns end
  for s = 1, ns do
    sab = sab + (a[s] - ma) * (b[s] - mb)
    saa, sbb = saa + (a[s] - ma) ^ 2, sbb + (b[s] - mb) ^ 2
  end
  return sab / math.sqrt(saa * sbb)
end
local C, names = {}, {}
for i = 1, nf do
  names[i] = "f" .. i
  C[i] = {}
  for j = 1, nf do C[i][j] = corr(feats[i], feats[j]) end
end

-- One image, three panels: each panel is a figure value, its methods chain.
local g = plot.grid{rows = 1, cols = 3, size = {1500, 450}, out = "out/examples/plotting.png",
                    title = "plot module: lines, error bars, histograms, heatmaps"}
g:panel(1, 1){title = "sin x and noisy means (+- s.e.)", xlabel = "x", key = "bottom left"}
  :line(x, y, {label = "sin x"})
  :errorbars(xm, mean, se, {label = "mean of 8"})
  :hline(0, {style = "dotted", color = "gray"})
g:panel(1, 2){title = "20 000 Gaussian samples", xlabel = "value", ylabel = "density"}
  :hist(samples, {bins = 60, range = {-4, 4}, density = true, label = "samples"})
  :line(gx, gy, {label = "N(0, 1)", color = "black"})
g:panel(1, 3){title = "feature correlations"}
  :heatmap(C, {xlabels = names, ylabels = names, palette = "coolwarm", zrange = {-1, 1}})
g:save()
print("wrote out/examples/plotting.png")

-- A training-style log, written as it goes and plotted back from the file.
do
  local w <close> = log.csv("out/examples/plotting.csv")
  local ema
  for step = 1, 300 do
    local loss = (2 * 0.985 ^ step + 0.05) * math.exp(0.2 * gaussian())
    ema = ema and 0.9 * ema + 0.1 * loss or loss
    w:write{step = step, loss = loss, ["loss.ema"] = ema}
  end
end
plot.csv("out/examples/plotting.csv", {y = {"loss", "loss.ema"}, logy = true,
                                       title = "a CSV log", out = "out/examples/plotting-log.png"})
print("wrote out/examples/plotting-log.png")
