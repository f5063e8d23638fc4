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
1 0.24740395925452294
2 0.47942553860420301
3 0.68163876002333412
4 0.8414709848078965
5 0.9489846193555862
6 0.99749498660405445
7 0.98398594687393692
8 0.90929742682568171
EOD
set terminal pngcairo size 640,480 noenhanced background rgb 'white'
set output 'fig.png'
set title 'sine'
set xlabel 'x'
set ylabel 'sin x'
set grid
set xrange [0:2]
set yrange [*:1.5]
plot $d1 using 1:2 with lines lw 2 title 'sin', $d2 using 1:2 with lines lw 1.5 dt 2 lc rgb '#1f77b4' title 'against index'
unset output
