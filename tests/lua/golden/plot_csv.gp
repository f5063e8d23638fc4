# gnuplot script written by entro's plot module; redraw with: gnuplot <this file>
$d1 << EOD
1 1.5
2 0.75
3 0.5
EOD
$d2 << EOD
1 0.10000000000000001
2 NaN
3 0.29999999999999999
EOD
set terminal pngcairo size 800,600 noenhanced background rgb 'white'
set output 'run.png'
set title 'run.csv'
set xlabel 'step'
set grid
set logscale y
plot $d1 using 1:2 with lines lw 1.5 title 'loss', $d2 using 1:2 with lines lw 1.5 title 'acc'
unset output
