# gnuplot script written by entro's plot module; redraw with: gnuplot <this file>
$d1 << EOD
0.10792079207920793 20 0.19603960396039605
0.30396039603960401 20 0.19603960396039605
0.5 20 0.19603960396039599
0.69603960396039599 20 0.1960396039603961
0.89207920792079209 20 0.19603960396039599
EOD
$d2 << EOD
0.25 1 0.5
0.75 1 0.5
EOD
set terminal pngcairo size 800,600 noenhanced background rgb 'white'
set output 'fig.png'
set title 'histogram'
set grid
set yrange [0:*]
plot $d1 using 1:2:3 with boxes fs solid 0.5 title 'u', $d2 using 1:2:3 with boxes fs solid 0.5 lc rgb 'gray' notitle
unset output
