-- make_report.lua -- writes out/paper/REPORT.md from the claims the paper scripts recorded.
local report = require "entro.report"
local npass, total = report.write_markdown()
print(string.format("REPORT.md: %d of %d claims pass (%s/REPORT.md)", npass, total, report.dir()))
