# gnuplot script written by entro's plot module; redraw with: gnuplot <this file>
$d1 << EOD
0.25 0.24740395925452294
0.5 0.47942553860420301
0.75 0.68163876002333412
1 0.8414709848078965
1.25 0.9489846193555862
1.5 0.99749498660405445
1.75 0.98398594687393692
2 0.90929742682568171
EOD
$d2 << EOD
0.25 0.25
0.5 0.5
0.75 0.75
1 1
1.25 1.25
1.5 1.5
1.75 1.75
2 2
EOD
$d3 << EOD
1 2
3 4
EOD
set terminal pngcairo size 1000,800 noenhanced background rgb 'white'
set output 'grid.png'
set multiplot layout 2,2 rowsfirst title 'four panels'
# panel 1,1
set title 'a'
set xlabel 'x'
set grid
unset key
plot $d1 using 1:2 with lines lw 1.5 notitle
reset
# panel 1,2
set title 'b'
set grid
set logscale y
unset key
plot $d2 using 1:2 with points pt 7 ps 0.5 notitle
reset
set multiplot next
# panel 2,2
set title 'd'
unset key
set xrange [0.5:2.5]
set yrange [2.5:0.5]
set tics out
set palette defined (0 '#440154', 1 '#472c7a', 2 '#3b518b', 3 '#2c718e', 4 '#21908d', 5 '#27ad81', 6 '#5cc863', 7 '#aadc32', 8 '#fde725')
set xtics 1
set ytics 1
plot $d3 matrix using ($1+1):($2+1):3 with image notitle
reset
unset multiplot
unset output
