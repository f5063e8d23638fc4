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
set terminal svg size 800,600 noenhanced background rgb 'white'
set output 'fig.svg'
set title 'points'
set grid
set logscale x
plot $d1 using 1:2 with points pt 5 ps 1 lc rgb 'red' title 'pts'
unset output
