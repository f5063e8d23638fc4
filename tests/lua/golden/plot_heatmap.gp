# gnuplot script written by entro's plot module; redraw with: gnuplot <this file>
$d1 << EOD
1 0.5 0
0.5 1 0.25
EOD
set terminal pngcairo size 800,600 noenhanced background rgb 'white'
set output 'fig.png'
set title 'similarity'
unset key
set xrange [0.5:3.5]
set yrange [2.5:0.5]
set tics out
set palette defined (0 '#3b4cc0', 1 '#dddddd', 2 '#b40426')
set cbrange [-1:1]
set xtics ('a' 1, 'b' 2, 'c' 3)
set ytics ('layer 1' 1, 'layer 2' 2)
plot $d1 matrix using ($1+1):($2+1):3 with image notitle
unset output
