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
set terminal pngcairo size 800,600 noenhanced background rgb 'white'
set output 'fig.png'
set title 'sharpness'
set xlabel 'step'
set grid
set arrow from first 1, graph 0 to first 1, graph 1 nohead lw 1.5 dt 3 lc rgb 'gray'
plot $d1 using 1:2 with lines lw 1.5 title 'top eigenvalue', 200 with lines lw 1.5 dt 2 lc rgb 'black' title '2/eta', keyentry with lines lw 1.5 dt 3 lc rgb 'gray' title 'warmup end', 0 with lines lw 1.5 dt 2 lc rgb 'black' notitle
unset output
